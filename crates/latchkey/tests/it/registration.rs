//! Dynamic client registration (RFC 7591) and its management (RFC 7592) over HTTP.
use latchkey_store::testing::TestDatabase;
use latchkey_store::{ClientStore, RegistrationStore};
use serde_json::{Value, json};

use crate::browser::{Browser, pkce};
use crate::harness::{TestServer, basic, eventually, server_test};

const OPEN: &str = "[registration]\npolicy = \"open\"\nrate_limit = 50\n[scopes.read]\n[scopes.write]\n[scopes.internal]\npublic = false";

impl TestServer {
    async fn register(&self, body: Value, bearer: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/register", self.issuer))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send().await.unwrap()
    }
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

server_test!(
    a_registered_public_client_completes_the_authorization_code_flow,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let doc = server.metadata().await;
        assert_eq!(
            doc["registration_endpoint"],
            format!("{}/register", server.issuer)
        );
        let response = server
            .register(
                json!({
                    "client_name": "MCP Inspector",
                    "redirect_uris": ["http://127.0.0.1:6274/oauth/callback"],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "logo_uri": "https://example.com/logo.png",
                    "x_unknown": "ignored"
                }),
                None,
            )
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let registered: Value = response.json().await.unwrap();
        assert!(
            registered.get("client_secret").is_none(),
            "a public client gets no secret"
        );
        assert!(registered.get("logo_uri").is_none() && registered.get("x_unknown").is_none());
        assert_eq!(
            registered["scope"], "read write",
            "the public scopes by default"
        );
        assert!(registered["client_id_issued_at"].as_i64().is_some());
        let id = registered["client_id"].as_str().unwrap();
        assert_eq!(
            registered["registration_client_uri"],
            format!("{}/register/{id}", server.issuer)
        );
        assert!(
            registered["registration_access_token"]
                .as_str()
                .is_some_and(|t| t.len() >= 43)
        );

        // The full flow, with a user and a browser.
        server.create_user("dana", "dana's passphrase").await;
        let (verifier, challenge) = pkce();
        let callback = "http://127.0.0.1:51000/oauth/callback";
        let mut browser = Browser::new();
        let login = browser
            .get(&server.authorize_url(&[
                ("response_type", "code"),
                ("client_id", id),
                ("redirect_uri", callback),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "read"),
            ]))
            .await;
        assert!(login.body.contains("MCP Inspector"));
        let consent = browser
            .sign_in(&server, &login, "dana", "dana's passphrase")
            .await;
        let done = browser.decide(&server, &consent, "approve").await;
        let code = done.redirect_params()["code"].clone();
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", callback),
                    ("code_verifier", &verifier),
                    ("client_id", id),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        assert!(tokens["refresh_token"].is_string());
        server.stop().await;
    }
);

/// Open registration with machine clients allowed, for the default audience and one listed resource.
const MACHINES: &str = "[registration]\npolicy = \"open\"\nrate_limit = 50\nallow_client_credentials = true\nclient_credentials_resources = [\"https://billing.example/\"]\n[scopes.read]\n[scopes.write]\n[scopes.internal]\npublic = false\n[resources.\"https://billing.example/\"]\n[resources.\"https://payroll.example/\"]";

server_test!(
    a_registered_confidential_client_gets_a_secret_and_tokens,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(MACHINES).start(&db).await;
        let registered: Value = server
            .register(
                json!({"grant_types": ["client_credentials"], "scope": "read"}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            registered["token_endpoint_auth_method"],
            "client_secret_basic"
        );
        assert_eq!(registered["client_secret_expires_at"], 0);
        assert_eq!(registered["response_types"], json!([]));
        let (id, secret) = (
            registered["client_id"].as_str().unwrap(),
            registered["client_secret"].as_str().unwrap(),
        );
        let response = server
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(id, secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "read");
        server.stop().await;
    }
);

server_test!(
    h1_open_registration_cannot_obtain_unpublished_scopes,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(MACHINES).start(&db).await;
        let response = server
            .register(
                json!({"grant_types": ["client_credentials"], "scope": "read internal"}),
                None,
            )
            .await;
        // RFC 7591 §3.2.1: `internal` is configured but not in scopes_supported, so it is dropped,
        // and the response says so; the client is kept with the rest.
        assert_eq!(response.status(), 201);
        let registered: Value = response.json().await.unwrap();
        assert_eq!(registered["scope"], "read");
        assert_eq!(registered["dropped_metadata"], json!({"scope": "internal"}));
        let auth = basic(
            registered["client_id"].as_str().unwrap(),
            registered["client_secret"].as_str().unwrap(),
        );
        let response = server
            .token_request(
                &[("grant_type", "client_credentials"), ("scope", "internal")],
                Some(auth.clone()),
            )
            .await;
        assert_eq!(
            error_of(response).await,
            (400, "invalid_scope".into()),
            "nothing unpublished is ever granted"
        );
        let body: Value = server
            .token_request(&[("grant_type", "client_credentials")], Some(auth))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["scope"], "read");
        server.stop().await;
        // With no scopes configured at all, a self-registered client gets none.
        let bare = TestServer::builder()
            .toml("[registration]\npolicy = \"open\"")
            .start(&db)
            .await;
        let registered: Value = bare
            .register(
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin billing:write"}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(registered["scope"], "");
        assert_eq!(
            registered["dropped_metadata"]["scope"],
            "admin billing:write"
        );
        let registered: Value = bare
            .register(json!({"redirect_uris": ["https://a.example/cb"]}), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(registered["scope"], "");
        assert!(registered.get("dropped_metadata").is_none());
        bare.stop().await;
    }
);

server_test!(
    claude_s_grant_types_are_kept_without_the_jwt_bearer_grant_and_the_response_says_so,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let response = server
            .register(
                json!({
                    "client_name": "Claude",
                    "redirect_uris": ["https://claude.example/api/mcp/auth_callback"],
                    "grant_types": ["authorization_code", "refresh_token",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                    "scope": "read write internal"
                }),
                None,
            )
            .await;
        assert_eq!(response.status(), 201);
        let registered: Value = response.json().await.unwrap();
        assert_eq!(
            registered["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(
            registered["dropped_metadata"],
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"], "scope": "internal"})
        );
        assert_eq!(registered["scope"], "read write");
        // RFC 7592 read, and the operator's view, show what was kept.
        let read: Value = server
            .http
            .get(registered["registration_client_uri"].as_str().unwrap())
            .header(
                "authorization",
                format!(
                    "Bearer {}",
                    registered["registration_access_token"].as_str().unwrap()
                ),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read["grant_types"], registered["grant_types"]);
        let shown = crate::command::json_of(&crate::command::latchkey(
            &db,
            &[
                "client",
                "show",
                registered["client_id"].as_str().unwrap(),
                "--json",
            ],
        ));
        assert_eq!(shown["grant_types"], registered["grant_types"]);
        server.stop().await;
    }
);

server_test!(
    n_l7_control_characters_are_refused_at_registration_and_escaped_by_the_cli,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let forged =
            "Acme\u{1b}[1A\u{1b}[2K\n2026-12-07T22:59:59.000Z  key.revoked  success  operator";
        for body in [
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": forged}),
            json!({"redirect_uris": ["https://a.example/c\nb"]}),
        ] {
            let (status, error) = error_of(server.register(body.clone(), None).await).await;
            assert_eq!(status, 400, "{body}");
            assert!(error.starts_with("invalid_"), "{body}: {error}");
        }
        // A row written before the check (or by any other path) is still printed escaped.
        let client = crate::harness::insert_client(
            &server.store,
            latchkey_core::types::AuthMethod::None,
            &[latchkey_core::types::GrantType::AuthorizationCode],
            "read",
            &["https://a.example/cb"],
            Default::default(),
        )
        .await;
        let mut row = server
            .store
            .find_client(&latchkey_core::types::ClientId::parse(&client.id).unwrap())
            .await
            .unwrap()
            .unwrap();
        row.name = forged.to_owned();
        server.store.update_client_metadata(&row).await.unwrap();
        for args in [
            vec!["client", "list"],
            vec!["client", "show", client.id.as_str()],
        ] {
            let out = crate::command::stdout_of(&crate::command::latchkey(&db, &args));
            assert!(!out.contains('\u{1b}'), "{args:?}: {out}");
            assert!(out.contains("Acme\\u{1b}[1A"), "{args:?}: {out}");
            assert!(!out.lines().any(|l| l.starts_with("2026-12-07")), "{out}");
        }
        server.stop().await;
    }
);

server_test!(
    registration_responses_echo_the_keys_and_the_default_application_type,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(&format!("{OPEN}\n[openid]\nenabled = true"))
            .start(&db)
            .await;
        let (key, _) =
            latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
        let jwks = json!({"keys": [key.public_jwk()]});
        let registered: Value = server
            .register(
                json!({
                    "redirect_uris": ["https://a.example/cb"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": jwks,
                }),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        let read: Value = server
            .http
            .get(registered["registration_client_uri"].as_str().unwrap())
            .header(
                "authorization",
                format!(
                    "Bearer {}",
                    registered["registration_access_token"].as_str().unwrap()
                ),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for described in [&registered, &read] {
            assert_eq!(described["jwks"], jwks, "{described}");
            assert_eq!(described["application_type"], "web", "{described}");
        }
        let uri: Value = server
            .register(
                json!({
                    "redirect_uris": ["http://127.0.0.1/cb"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": "https://keys.example/jwks.json",
                    "application_type": "native",
                }),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(uri["jwks_uri"], "https://keys.example/jwks.json");
        assert_eq!(uri["application_type"], "native");
        server.stop().await;
    }
);

server_test!(
    h1_client_credentials_is_self_registrable_only_when_allowed_and_only_for_listed_resources,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let response = server
            .register(json!({"grant_types": ["client_credentials"]}), None)
            .await;
        assert_eq!(
            error_of(response).await,
            (400, "invalid_client_metadata".into())
        );
        server.stop().await;

        let server = TestServer::builder().toml(MACHINES).start(&db).await;
        let registered: Value = server
            .register(json!({"grant_types": ["client_credentials"]}), None)
            .await
            .json()
            .await
            .unwrap();
        let auth = basic(
            registered["client_id"].as_str().unwrap(),
            registered["client_secret"].as_str().unwrap(),
        );
        let token = |resource: Option<&'static str>| {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend(resource.map(|r| ("resource", r)));
            let (server, auth) = (&server, auth.clone());
            async move { server.token_request(&form, Some(auth)).await }
        };
        assert_eq!(token(None).await.status(), 200, "the default audience");
        assert_eq!(token(Some("https://billing.example/")).await.status(), 200);
        assert_eq!(
            error_of(token(Some("https://payroll.example/")).await).await,
            (400, "invalid_target".into()),
            "a configured resource the operator did not list"
        );
        server.stop().await;

        // Turning the switch off stops the machine clients registered while it was on.
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let response = server
            .token_request(&[("grant_type", "client_credentials")], Some(auth))
            .await;
        assert_eq!(
            error_of(response).await,
            (400, "unauthorized_client".into())
        );
        server.stop().await;
    }
);

server_test!(
    interop_error_descriptions_stay_within_the_rfc_6749_character_set,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        for body in [
            r#"{"redirect_uris": "https://x"}"#,
            r#"{"client_name": "unterminated"#,
            "{\"client_name\": \"\u{e9}\u{7}\", \"redirect_uris\": [\"https://a.example/\\\\cb\"]}",
        ] {
            let response = server
                .http
                .post(format!("{}/register", server.issuer))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{body}");
            let error: Value = response.json().await.unwrap();
            let description = error["error_description"].as_str().unwrap();
            assert!(
                description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
                "{body}: {description}"
            );
        }
        server.stop().await;
    }
);

server_test!(
    invalid_metadata_is_refused_with_rfc_7591_errors,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        for (body, error) in [
            (
                json!({"redirect_uris": ["https://app.example/cb#x"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["data:text/html,hi"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["http://app.example/cb"]}),
                "invalid_redirect_uri",
            ),
            (json!({"redirect_uris": ["cb"]}), "invalid_redirect_uri"),
            (json!({}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": "https://app.example/cb"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "jwks": {"keys": []}, "jwks_uri": "https://a.example/jwks"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
                "invalid_client_metadata",
            ),
        ] {
            let (status, got) = error_of(server.register(body.clone(), None).await).await;
            assert_eq!((status, got.as_str()), (400, error), "{body}");
        }
        let response = server
            .http
            .post(format!("{}/register", server.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("client_name=x")
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await, (400, "invalid_request".into()));
        assert!(
            latchkey_store::ClientStore::list_clients(&server.store)
                .await
                .unwrap()
                .is_empty()
        );
        server.stop().await;
    }
);

server_test!(
    registrations_are_managed_only_with_their_registration_token,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        let registered: Value = server
            .register(
                json!({"client_name": "App", "redirect_uris": ["https://app.example/cb"]}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        let other: Value = server
            .register(json!({"redirect_uris": ["https://other.example/cb"]}), None)
            .await
            .json()
            .await
            .unwrap();
        let uri = registered["registration_client_uri"].as_str().unwrap();
        let token = registered["registration_access_token"].as_str().unwrap();
        let id = registered["client_id"].as_str().unwrap();
        let secret = registered["client_secret"].as_str().unwrap();
        let get = |bearer: Option<String>| {
            let mut request = server.http.get(uri);
            if let Some(b) = bearer {
                request = request.header("authorization", format!("Bearer {b}"));
            }
            request.send()
        };
        let read = get(Some(token.to_owned())).await.unwrap();
        assert_eq!(read.status(), 200);
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["client_name"], "App");
        assert!(body.get("client_secret").is_none());
        for bearer in [
            None,
            Some("wrong".to_owned()),
            Some(
                other["registration_access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
        ] {
            let sent = bearer.is_some();
            let response = get(bearer).await.unwrap();
            assert_eq!(response.status(), 401);
            // RFC 6749 §5.2 / RFC 6750 §3: a challenge only to a request that authenticated.
            assert_eq!(
                response
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                sent.then_some("Bearer error=\"invalid_token\"")
            );
        }
        // Update: replace the metadata.
        let put = |body: Value| {
            server
                .http
                .put(uri)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
        };
        // OpenID members set while OpenID Connect was on are kept by an update made while it is off.
        let client_id = latchkey_core::types::ClientId::parse(id).unwrap();
        let mut stored = server.store.find_client(&client_id).await.unwrap().unwrap();
        stored.policy.openid.default_max_age = Some(600);
        stored.policy.openid.require_auth_time = true;
        server.store.update_client_metadata(&stored).await.unwrap();
        let updated = put(json!({"client_id": id, "client_name": "App v2", "redirect_uris": ["https://app.example/cb2"]})).await.unwrap();
        assert_eq!(updated.status(), 200);
        let kept = server.store.find_client(&client_id).await.unwrap().unwrap();
        assert_eq!(kept.policy.openid.default_max_age, Some(600));
        assert!(kept.policy.openid.require_auth_time);
        let body: Value = updated.json().await.unwrap();
        assert_eq!(body["client_name"], "App v2");
        assert_eq!(body["redirect_uris"], json!(["https://app.example/cb2"]));
        let (status, error) = error_of(
            put(json!({"client_id": id, "redirect_uris": ["javascript:x"]}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error.as_str()), (400, "invalid_redirect_uri"));
        let (_, error) = error_of(
            put(json!({"client_id": "someone-else", "redirect_uris": ["https://a.example/cb"]}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(error, "invalid_request");
        let (_, error) = error_of(put(json!({"client_id": id, "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"})).await.unwrap()).await;
        assert_eq!(error, "invalid_client_metadata");
        // Delete: gone, and its secret stops working.
        let deleted = server
            .http
            .delete(uri)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(get(Some(token.to_owned())).await.unwrap().status(), 401);
        eventually("a deleted registration stops authenticating", || async {
            let response = server
                .token_request(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", "x"),
                        ("code_verifier", &"v".repeat(43)),
                    ],
                    Some(basic(id, secret)),
                )
                .await;
            response.status() == 401
        })
        .await;
        server.stop().await;
    }
);

server_test!(
    closed_registration_needs_an_initial_access_token_and_is_rate_limited,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[registration]\npolicy = \"token\"\nrate_limit = 3")
            .start(&db)
            .await;
        let body = json!({"redirect_uris": ["https://app.example/cb"]});
        let (status, error) = error_of(server.register(body.clone(), None).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_token"));
        let (status, _) = error_of(server.register(body.clone(), Some("made-up")).await).await;
        assert_eq!(status, 401);
        // The operator's CLI creates one.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args([
                "registration",
                "token",
                "create",
                "--ttl",
                "1h",
                "--json",
                "--database",
                db.url(),
            ])
            .env_clear()
            .env("LATCHKEY_MASTER_KEY", crate::harness::MASTER_KEY)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: Value = serde_json::from_slice(&output.stdout).unwrap();
        let initial = created["initial_access_token"].as_str().unwrap();
        // Rate limit: 3 per minute from this address, counted before the token check.
        let ok = server.register(body.clone(), Some(initial)).await;
        assert_eq!(ok.status(), 201);
        let (status, error) = error_of(server.register(body.clone(), Some(initial)).await).await;
        assert_eq!((status, error.as_str()), (503, "temporarily_unavailable"));
        server.stop().await;
    }
);

server_test!(
    m1_consent_approves_only_what_the_page_showed,
    |db: TestDatabase| async move {
        let server = TestServer::builder().toml(OPEN).start(&db).await;
        server.create_user("erin", "erin's passphrase").await;
        let callback = "https://app.example/cb";
        let registered: Value = server
            .register(
                json!({"redirect_uris": [callback], "token_endpoint_auth_method": "none", "scope": "read", "client_name": "Bait"}),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        let id = registered["client_id"].as_str().unwrap();
        let token = registered["registration_access_token"].as_str().unwrap();
        let (_, challenge) = pkce();
        let mut browser = Browser::new();
        // No scope in the request: the page shows the client's registered `read`.
        let login = browser
            .get(&server.authorize_url(&[
                ("response_type", "code"),
                ("client_id", id),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ]))
            .await;
        let consent = browser
            .sign_in(&server, &login, "erin", "erin's passphrase")
            .await;
        assert_eq!(consent.status, 200);
        assert!(consent.body.contains("<code>read</code>") && !consent.body.contains("write"));
        // Before the person clicks, the client swaps in a broader scope (RFC 7592 PUT).
        let put = server
            .http
            .put(format!("{}/register/{id}", server.issuer))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(
                json!({"client_id": id, "redirect_uris": [callback], "token_endpoint_auth_method": "none", "scope": "read write", "client_name": "Bait"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let again = browser.decide(&server, &consent, "approve").await;
        assert_eq!(again.status, 200, "no code for what was not shown");
        assert!(again.body.contains("<code>write</code>"), "{}", again.body);
        // Approving the page that shows the new scope works.
        let done = browser.decide(&server, &again, "approve").await;
        assert_eq!(done.status, 303);
        assert!(done.redirect_params().contains_key("code"));
        // A forged binding is not an approval either.
        let (action, mut fields) = again.form("/consent");
        for (name, value) in fields.iter_mut() {
            if name == "consent_binding" {
                *value = "AAAA".into();
            }
        }
        fields.push(("decision".into(), "approve".into()));
        let forged = browser.post(&server.url(&action), &fields).await;
        assert_eq!(forged.status, 200);
        assert!(forged.body.contains("consent_binding"));
        server.stop().await;
    }
);

/// Registers through a trusted proxy that says the client is `client`.
async fn register_via_proxy(server: &TestServer, client: &str) -> u16 {
    server
        .http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body(json!({"redirect_uris": ["https://app.example/cb"]}).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

server_test!(
    issue_15_the_registration_limit_is_one_window_for_every_instance_and_per_forwarded_client,
    |db: TestDatabase| async move {
        // Two instances on one database, behind one proxy (review M5: the proxy's own address is not
        // the client's).
        let toml = "[registration]\npolicy = \"open\"\nrate_limit = 4\n\
                    [http]\ntrusted_proxies = [\"127.0.0.1\"]";
        let clock = latchkey_server::clock::Clock::shifted();
        let a = TestServer::builder()
            .clock(&clock)
            .toml(toml)
            .start(&db)
            .await;
        let b = TestServer::builder()
            .clock(&clock)
            .toml(toml)
            .start(&db)
            .await;
        // The window is a clock minute: start well inside one, by moving the clock to the next
        // minute's fifth second rather than waiting for it.
        let second = clock.now_ms().rem_euclid(60_000);
        clock.advance(std::time::Duration::from_millis((65_000 - second) as u64));
        let mut statuses = Vec::new();
        for i in 0..6 {
            let server = if i % 2 == 0 { &a } else { &b };
            statuses.push(register_via_proxy(server, "203.0.113.7").await);
        }
        // Each instance saw three; together they allowed four.
        assert_eq!(statuses, [201, 201, 201, 201, 503, 503]);
        assert_eq!(
            register_via_proxy(&b, "203.0.113.8").await,
            201,
            "another client behind the same proxy has its own window"
        );
        assert_eq!(
            register_via_proxy(&a, "2001:db8:1:2::1").await,
            201,
            "an IPv6 client"
        );
        let v6 = [
            register_via_proxy(&a, "2001:db8:1:2::2").await,
            register_via_proxy(&b, "2001:db8:1:2::3").await,
            register_via_proxy(&a, "2001:db8:1:2:ffff::4").await,
            register_via_proxy(&b, "2001:db8:1:2:ffff::5").await,
        ];
        assert_eq!(
            v6,
            [201, 201, 201, 503],
            "addresses of one /64 share a window"
        );
        a.stop().await;
        b.stop().await;
    }
);
