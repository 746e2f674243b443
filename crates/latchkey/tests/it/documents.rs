//! Client ID Metadata Documents and the outbound fetcher: an https client_id resolved by fetching its
//! document from a local https server with a test certificate, its checks, and a canary proving that no
//! request reaches a loopback address unless the configuration allows it.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::browser::{Browser, pkce};
use crate::harness::{TestServer, server_test};

/// An https server on 127.0.0.1 with a fresh self-signed certificate; records request lines.
pub(crate) struct HttpsServer {
    pub(crate) origin: String,
    pub(crate) ca_file: std::path::PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
    /// What it serves, by path; a test may change it (a client rotating its keys).
    documents: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        std::fs::remove_file(&self.ca_file).ok();
    }
}

pub(crate) async fn https_server(
    documents: impl FnOnce(&str) -> BTreeMap<String, Value>,
) -> HttpsServer {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let ca_file = std::env::temp_dir().join(format!(
        "latchkey-test-ca-{}.pem",
        latchkey_core::secret::random_base64url(6)
    ));
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let documents = Arc::new(Mutex::new(documents(&origin)));
    let served = documents.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record, documents) =
                (acceptor.clone(), record.clone(), documents.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buffer = vec![0u8; 8192];
                let n = tls.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let line = request.lines().next().unwrap_or("").to_owned();
                record.lock().unwrap().push(line.clone());
                let path = line.split(' ').nth(1).unwrap_or("");
                // Test documents may ask for a misbehaving answer: a redirect, another content type,
                // or padding beyond the fetcher's size limit.
                let doc = documents.lock().unwrap().get(path).cloned();
                let doc = doc.as_ref();
                let field = |name: &str| {
                    doc.and_then(|d| d.get(name))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                };
                let (status, body) = match doc {
                    Some(_) if field("__redirect").is_some() => ("302 Found", "{}".to_owned()),
                    Some(d) => ("200 OK", d.to_string()),
                    None => ("404 Not Found", "{}".to_owned()),
                };
                let content_type =
                    field("__content_type").unwrap_or_else(|| "application/json".into());
                let location = field("__redirect")
                    .map(|l| format!("location: {l}\r\n"))
                    .unwrap_or_default();
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{location}cache-control: max-age=600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(response.as_bytes()).await.ok();
                tls.shutdown().await.ok();
            });
        }
    });
    HttpsServer {
        origin,
        ca_file,
        seen,
        documents: served,
    }
}

fn document(client_id: &str, callback: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Docs Agent",
        "redirect_uris": [callback],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

const CALLBACK: &str = "http://127.0.0.1:61000/callback";

/// A site serving `/client.json` that names itself (or `client_id`, when given).
async fn site(client_id: Option<&str>) -> HttpsServer {
    let client_id = client_id.map(str::to_owned);
    https_server(move |origin| {
        let id = client_id.unwrap_or_else(|| format!("{origin}/client.json"));
        BTreeMap::from([("/client.json".to_owned(), document(&id, CALLBACK))])
    })
    .await
}

fn config(https: &HttpsServer, allow_loopback: bool) -> String {
    format!(
        "[client_id_metadata_documents]\nenabled = true\n[fetch]\nallow_loopback = {allow_loopback}\nextra_roots_file = \"{}\"",
        https.ca_file.display()
    )
}

fn authorize_url(
    server: &TestServer,
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
) -> String {
    server.authorize_url(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
}

server_test!(
    a_document_client_completes_the_flow_and_is_shown_by_its_host,
    |db: TestDatabase| async move {
        let https = site(None).await;
        let client_id = format!("{}/client.json", https.origin);
        let server = TestServer::builder()
            .toml(&config(&https, true))
            .start(&db)
            .await;
        assert_eq!(
            server.metadata().await["client_id_metadata_document_supported"],
            true
        );
        server.create_user("erin", "erin's passphrase").await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let login = browser
            .get(&authorize_url(&server, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        let consent = browser
            .sign_in(&server, &login, "erin", "erin's passphrase")
            .await;
        assert!(consent.body.contains("Docs Agent"));
        assert!(
            consent.body.contains("(127.0.0.1)"),
            "the host is shown: {}",
            consent.body
        );
        let done = browser.decide(&server, &consent, "approve").await;
        let code = done.redirect_params()["code"].clone();
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                    ("client_id", &client_id),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            https.seen.lock().unwrap().len(),
            1,
            "the document is cached (max-age=600)"
        );
        // A redirect URI the document does not list: an error page, no redirect.
        let page = browser
            .get(&authorize_url(
                &server,
                &client_id,
                "http://127.0.0.1:61000/other",
                &challenge,
            ))
            .await;
        assert_eq!(page.status, 400);
        server.stop().await;
    }
);

server_test!(
    n_i2_userinfo_answers_a_document_clients_token,
    |db: TestDatabase| async move {
        let https = site(None).await;
        let client_id = format!("{}/client.json", https.origin);
        let server = TestServer::builder()
            .toml(&config(&https, true))
            .toml("[openid]\nenabled = true")
            .start(&db)
            .await;
        let user_id = server.create_user("erin", "erin's passphrase").await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let login = browser
            .get(&server.authorize_url(&[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        let consent = browser
            .sign_in(&server, &login, "erin", "erin's passphrase")
            .await;
        let done = browser.decide(&server, &consent, "approve").await;
        let code = done.redirect_params()["code"].clone();
        let tokens: Value = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                    ("client_id", &client_id),
                ],
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let info = server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);
        let info: Value = info.json().await.unwrap();
        assert_eq!(info["sub"], user_id);
        server.stop().await;
    }
);

server_test!(
    a_document_that_names_another_client_id_is_refused,
    |db: TestDatabase| async move {
        let https = site(Some("https://someone-else.example/client.json")).await;
        let client_id = format!("{}/client.json", https.origin);
        let server = TestServer::builder()
            .toml(&config(&https, true))
            .start(&db)
            .await;
        let (_, challenge) = pkce();
        let page = Browser::new()
            .get(&authorize_url(&server, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(page.status, 400);
        assert!(
            page.body.contains("does not equal its URL"),
            "{}",
            page.body
        );
        assert!(page.headers.get("location").is_none());
        // Nor can the token endpoint be fooled.
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("code_verifier", &"v".repeat(43)),
                    ("client_id", &client_id),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 401);
        server.stop().await;
    }
);

server_test!(
    no_request_reaches_a_loopback_address_unless_allowed,
    |db: TestDatabase| async move {
        // The canary: a real https server on loopback that records every request.
        let canary = site(None).await;
        let client_id = format!("{}/client.json", canary.origin);
        let server = TestServer::builder()
            .toml(&config(&canary, false))
            .start(&db)
            .await;
        let (_, challenge) = pkce();
        let page = Browser::new()
            .get(&authorize_url(&server, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(page.status, 400);
        // L1: the caller learns that the fetch failed, never what the network answered.
        assert!(page.body.contains("could not be fetched"), "{}", page.body);
        assert!(!page.body.contains("public address"), "{}", page.body);
        assert!(
            canary.seen.lock().unwrap().is_empty(),
            "the canary saw a request"
        );
        // Plain http is never fetched (and an http client_id is not a document URL at all).
        let page = Browser::new()
            .get(&authorize_url(
                &server,
                "http://127.0.0.1:9/client.json",
                CALLBACK,
                &challenge,
            ))
            .await;
        assert_eq!(page.status, 400);
        server.stop().await;
    }
);

/// A private_key_jwt client registered with a jwks_uri on an https site: (server, site, client_id, key).
async fn jwks_uri_client(
    db: &TestDatabase,
    allow_loopback: bool,
    extra_toml: &str,
) -> (
    TestServer,
    HttpsServer,
    String,
    latchkey_core::keys::SigningKey,
) {
    let (key, _) =
        latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
    let public = key.public_jwk().clone();
    let https = https_server(move |_| {
        BTreeMap::from([("/jwks.json".to_owned(), json!({ "keys": [public] }))])
    })
    .await;
    let server = TestServer::builder()
        .toml(&format!(
            "[registration]\npolicy = \"open\"\nallow_client_credentials = true\n[fetch]\nallow_loopback = {allow_loopback}\nextra_roots_file = \"{}\"\n{extra_toml}",
            https.ca_file.display()
        ))
        .start(db)
        .await;
    let registered: Value = server
        .http
        .post(format!("{}/register", server.issuer))
        .header("content-type", "application/json")
        .body(
            json!({
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": format!("{}/jwks.json", https.origin),
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    (server, https, id, key)
}

server_test!(
    a_private_key_jwt_client_publishes_its_keys_at_a_jwks_uri,
    |db: TestDatabase| async move {
        let (server, https, id, key) = jwks_uri_client(&db, true, "").await;
        let token_url = server.issuer.clone();
        for _ in 0..2 {
            let now = latchkey_server::clock::Clock::system().now().0;
            let jwt = crate::assertions::assertion(
                &key,
                "ES256",
                crate::assertions::claims(&id, &token_url, now),
            );
            assert_eq!(
                crate::assertions::token_with(&server, &jwt).await.status(),
                200
            );
        }
        assert_eq!(https.seen.lock().unwrap().len(), 1, "the key set is cached");
        server.stop().await;
    }
);

server_test!(
    a_jwks_uri_on_a_loopback_address_is_never_fetched_unless_allowed,
    |db: TestDatabase| async move {
        let (server, canary, id, key) = jwks_uri_client(&db, false, "").await;
        let now = latchkey_server::clock::Clock::system().now().0;
        let jwt = crate::assertions::assertion(
            &key,
            "ES256",
            crate::assertions::claims(&id, &server.issuer, now),
        );
        let response = crate::assertions::token_with(&server, &jwt).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains("could not be fetched"), "{body}");
        assert!(!description.contains("127.0.0.1"), "{body}");
        assert!(
            canary.seen.lock().unwrap().is_empty(),
            "the canary saw a request"
        );
        server.stop().await;
    }
);

server_test!(
    l1_misbehaving_document_servers_are_refused_without_saying_how,
    |db: TestDatabase| async move {
        let https = https_server(|origin| {
            let doc = |path: &str| {
                let mut d = document(&format!("{origin}{path}"), CALLBACK);
                d["client_name"] = "x".into();
                d
            };
            let mut redirect = doc("/redirect.json");
            redirect["__redirect"] = format!("{origin}/client.json").into();
            let mut html = doc("/html.json");
            html["__content_type"] = "text/html".into();
            let mut big = doc("/big.json");
            big["padding"] = "x".repeat(70 * 1024).into();
            BTreeMap::from([
                ("/redirect.json".to_owned(), redirect),
                ("/html.json".to_owned(), html),
                ("/big.json".to_owned(), big),
            ])
        })
        .await;
        let server = TestServer::builder()
            .toml(&config(&https, true))
            .start(&db)
            .await;
        let (_, challenge) = pkce();
        for (path, why) in [
            ("/redirect.json", "answered 302"),
            ("/html.json", "not application/json"),
            ("/big.json", "larger than"),
            ("/missing.json", "answered 404"),
        ] {
            let client_id = format!("{}{path}", https.origin);
            let page = Browser::new()
                .get(&authorize_url(&server, &client_id, CALLBACK, &challenge))
                .await;
            assert_eq!(page.status, 400, "{path}");
            assert!(
                page.body.contains("could not be fetched") && !page.body.contains(why),
                "{path}: {}",
                page.body
            );
        }
        server.stop().await;
    }
);

server_test!(
    m6_document_fetches_are_single_flight_negative_cached_and_rate_limited,
    |db: TestDatabase| async move {
        let https = site(None).await;
        let server = TestServer::builder()
            .toml(&config(&https, true))
            .toml("rate_limit = 4")
            .start(&db)
            .await;
        let (_, challenge) = pkce();
        let missing = format!("{}/missing.json", https.origin);
        let url = authorize_url(&server, &missing, CALLBACK, &challenge);
        // Three lookups at once and one after: the failing URL is fetched once.
        let pages = futures_join(&url, 3).await;
        assert!(pages.iter().all(|status| *status == 400), "{pages:?}");
        assert_eq!(Browser::new().get(&url).await.status, 400);
        let fetched = |path: &str| {
            https
                .seen
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(path))
                .count()
        };
        assert_eq!(
            fetched("/missing.json"),
            1,
            "single flight, then the failure cached"
        );
        // Four fetches a minute per address: new URLs beyond that are refused before any fetch.
        for n in 0..3 {
            let other = format!("{}/other-{n}.json", https.origin);
            let page = Browser::new()
                .get(&authorize_url(&server, &other, CALLBACK, &challenge))
                .await;
            assert_eq!(page.status, 400, "{n}");
        }
        let page = Browser::new()
            .get(&authorize_url(
                &server,
                &format!("{}/client.json", https.origin),
                CALLBACK,
                &challenge,
            ))
            .await;
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(page.body.contains("temporarily_unavailable"));
        assert_eq!(fetched("/client.json"), 0);
        server.stop().await;
    }
);

server_test!(
    n_l5_one_address_cannot_spend_a_document_hosts_fetch_budget,
    |db: TestDatabase| async move {
        let https = site(None).await;
        let client_id = format!("{}/client.json", https.origin);
        let server = TestServer::builder()
            .toml("[http]\ntrusted_proxies = [\"127.0.0.1\"]")
            .toml(&config(&https, true))
            .toml("rate_limit = 4")
            .start(&db)
            .await;
        let (_, challenge) = pkce();
        let from = |address: &str| {
            let mut browser = Browser::new();
            browser.forwarded_for = Some(address.to_owned());
            browser
        };
        // One address names made-up documents on the host until its own budget is spent…
        for n in 0..6 {
            let made_up = format!("{}/made-up-{n}.json", https.origin);
            let page = from("203.0.113.1")
                .get(&authorize_url(&server, &made_up, CALLBACK, &challenge))
                .await;
            assert_eq!(page.status, if n < 4 { 400 } else { 503 }, "{n}");
        }
        // …and the host's real client still loads for everyone else.
        let page = from("198.51.100.7")
            .get(&authorize_url(&server, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        server.stop().await;
    }
);

/// `n` GETs of `url` at once; their statuses.
async fn futures_join(url: &str, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { Browser::new().get(&url).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

server_test!(
    m6_document_clients_are_ignored_when_documents_are_off,
    |db: TestDatabase| async move {
        let https = site(None).await;
        let client_id = format!("{}/client.json", https.origin);
        let (_, challenge) = pkce();
        let on = TestServer::builder()
            .toml(&config(&https, true))
            .start(&db)
            .await;
        let page = Browser::new()
            .get(&authorize_url(&on, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        on.stop().await;
        // The row the document left behind is not a registered client.
        let off = TestServer::builder().start(&db).await;
        let page = Browser::new()
            .get(&authorize_url(&off, &client_id, CALLBACK, &challenge))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("not registered"), "{}", page.body);
        let response = off
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("code_verifier", &"v".repeat(43)),
                    ("client_id", &client_id),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 401);
        off.stop().await;
    }
);

server_test!(
    i4_a_rotated_client_key_is_found_by_fetching_the_jwks_uri_again_once_a_minute,
    |db: TestDatabase| async move {
        let (server, https, id, old_key) = jwks_uri_client(&db, true, "").await;
        let token = |key: &latchkey_core::keys::SigningKey| {
            let (server, id) = (&server, id.clone());
            let now = latchkey_server::clock::Clock::system().now().0;
            let jwt = crate::assertions::assertion(
                key,
                "ES256",
                crate::assertions::claims(&id, &server.issuer, now),
            );
            async move { crate::assertions::token_with(server, &jwt).await.status() }
        };
        assert_eq!(token(&old_key).await, 200);
        // The client rotates: its jwks_uri now serves a new key, and it signs with that one.
        let (new_key, _) =
            latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
        https.documents.lock().unwrap().insert(
            "/jwks.json".to_owned(),
            json!({ "keys": [new_key.public_jwk().clone()] }),
        );
        assert_eq!(token(&new_key).await, 200, "found by fetching again");
        let fetched = || https.seen.lock().unwrap().len();
        assert_eq!(fetched(), 2);
        // An unknown key again within the minute: no further fetch.
        let (stranger, _) =
            latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
        assert_eq!(token(&stranger).await, 401);
        assert_eq!(fetched(), 2);
        server.stop().await;
    }
);

server_test!(
    i4_a_refetch_that_fails_keeps_the_working_keys_and_the_assertions_own_error,
    |db: TestDatabase| async move {
        // One fetch a minute per host: the refetch a bad assertion triggers is refused.
        let (server, https, id, key) = jwks_uri_client(&db, true, "rate_limit = 1").await;
        let token = |key: &latchkey_core::keys::SigningKey| {
            let (server, id) = (&server, id.clone());
            let now = latchkey_server::clock::Clock::system().now().0;
            let jwt = crate::assertions::assertion(
                key,
                "ES256",
                crate::assertions::claims(&id, &server.issuer, now),
            );
            async move {
                let response = crate::assertions::token_with(server, &jwt).await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (
                    status,
                    body["error"].as_str().unwrap_or_default().to_owned(),
                )
            }
        };
        assert_eq!(token(&key).await.0, 200);
        let fetched = https.seen.lock().unwrap().len();
        // Anyone can send an assertion signed with a made-up key for this client_id.
        let (stranger, _) =
            latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
        assert_eq!(token(&stranger).await, (401, "invalid_client".to_owned()));
        assert_eq!(
            https.seen.lock().unwrap().len(),
            fetched,
            "the refetch was limited"
        );
        // The client's own key still works from the cache the failed refetch left alone.
        assert_eq!(token(&key).await.0, 200);
        server.stop().await;
    }
);
