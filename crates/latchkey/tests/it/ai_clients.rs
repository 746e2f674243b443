//! Widely used AI clients, from the client metadata they publish (`tests/fixtures/ai_clients/`, each
//! file naming where its member set came from, with URLs moved under the fixture server's origin):
//! each is admitted as a metadata-document client and through dynamic registration, keeps what the
//! server grants and drops the rest (RFC 7591 §3.2.1), and completes an authorization code flow.
use std::collections::BTreeMap;

use latchkey_core::keys::{KeyAlg, SigningKey};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::browser::{Browser, pkce};
use crate::documents::https_server;
use crate::harness::{TestServer, server_test};

/// One fixture: its file name and contents.
fn fixtures() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ai_clients");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// `value` with every `{origin}` in its strings replaced.
fn placed(value: &Value, origin: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{origin}", origin)),
        Value::Array(items) => items.iter().map(|v| placed(v, origin)).collect(),
        Value::Object(members) => members
            .iter()
            .map(|(k, v)| (k.clone(), placed(v, origin)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

const PASSWORD: &str = "erin's passphrase";

/// Signs in, approves and redeems the code as the client would; returns the token response.
async fn complete_flow(
    server: &TestServer,
    client_id: &str,
    callback: &str,
    key: Option<&SigningKey>,
) -> Value {
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let login = browser
        .get(&server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", callback),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st1"),
        ]))
        .await;
    assert_eq!(login.status, 200, "{client_id}: {}", login.body);
    let consent = browser.sign_in(server, &login, "erin", PASSWORD).await;
    assert_eq!(consent.status, 200, "{client_id}: {}", consent.body);
    let done = browser.decide(server, &consent, "approve").await;
    assert!(
        done.location().starts_with(callback.trim_end_matches('/')),
        "{client_id}: {}",
        done.location()
    );
    let params = done.redirect_params();
    assert_eq!(params["state"], "st1");
    let assertion = key.map(|key| {
        let now = latchkey_server::clock::Clock::system().now().0;
        crate::assertions::assertion(
            key,
            "RS256",
            crate::assertions::claims(client_id, &server.issuer, now),
        )
    });
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", callback),
        ("code_verifier", &verifier),
        ("client_id", client_id),
    ];
    if let Some(assertion) = &assertion {
        form.push((
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
        form.push(("client_assertion", assertion));
    }
    let response = server.token_request(&form, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{client_id}: {body}");
    assert!(body["access_token"].is_string(), "{client_id}: {body}");
    body
}

server_test!(
    published_ai_client_metadata_is_admitted_as_documents_and_by_registration_and_completes_the_flow,
    |db: TestDatabase| async move {
        let fixtures = fixtures();
        assert!(fixtures.len() >= 6, "the fixtures are found");
        // ChatGPT signs its assertions with RS256 against its jwks_uri.
        let (key, _) = SigningKey::generate(KeyAlg::RS256).unwrap();
        let public = key.public_jwk().clone();
        let served = fixtures.clone();
        let https = https_server(move |origin| {
            let mut paths: BTreeMap<String, Value> = served
                .iter()
                .map(|(_, f)| {
                    (
                        f["path"].as_str().unwrap().to_owned(),
                        placed(&f["document"], origin),
                    )
                })
                .collect();
            paths.insert("/oauth/jwks.json".to_owned(), json!({ "keys": [public] }));
            paths
        })
        .await;
        let server = TestServer::builder()
            .toml(&format!(
                "[client_id_metadata_documents]\nenabled = true\n[registration]\npolicy = \"open\"\nrate_limit = 50\n\
                 [fetch]\nallow_loopback = true\nextra_roots_file = \"{}\"\n[scopes.mcp]\n[openid]\nenabled = true",
                https.ca_file.display()
            ))
            .start(&db)
            .await;
        server.create_user("erin", PASSWORD).await;
        for (name, fixture) in &fixtures {
            let document = placed(&fixture["document"], &https.origin);
            let callback = placed(&fixture["callback"], &https.origin);
            let callback = callback.as_str().unwrap();
            let key = (document["token_endpoint_auth_method"] == "private_key_jwt").then_some(&key);
            let dropped: Vec<Value> = fixture["dropped_grant_types"].as_array().unwrap().clone();
            let kept = |grant_types: &Value| {
                let listed = document["grant_types"]
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![json!("authorization_code")]);
                let expected: Vec<_> = listed.iter().filter(|g| !dropped.contains(g)).collect();
                let got: Vec<_> = grant_types.as_array().unwrap().iter().collect();
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "{name}: {grant_types} kept of {listed:?}"
                );
                assert!(expected.iter().all(|g| got.contains(g)), "{name}");
            };

            // As a metadata document: its URL is the client_id.
            let client_id = document["client_id"].as_str().unwrap();
            complete_flow(&server, client_id, callback, key).await;
            let stored = latchkey_store::ClientStore::find_client(
                &server.store,
                &latchkey_core::types::ClientId::parse(client_id).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
            let stored_grants: Vec<_> = stored.grant_types.iter().map(|g| g.as_str()).collect();
            kept(&json!(stored_grants));

            // Through dynamic registration: the same members, less the client_id.
            let mut body = document.clone();
            body.as_object_mut().unwrap().remove("client_id");
            let response = server
                .http
                .post(format!("{}/register", server.issuer))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let registered: Value = response.json().await.unwrap();
            assert_eq!(status, 201, "{name}: {registered}");
            kept(&registered["grant_types"]);
            match dropped.is_empty() {
                true => assert!(registered.get("dropped_metadata").is_none(), "{name}"),
                false => assert_eq!(
                    registered["dropped_metadata"]["grant_types"],
                    json!(dropped),
                    "{name}"
                ),
            }
            if let Some(uri) = document.get("jwks_uri") {
                assert_eq!(&registered["jwks_uri"], uri, "{name}: echoed");
            }
            let registered_id = registered["client_id"].as_str().unwrap();
            complete_flow(&server, registered_id, callback, key).await;
        }
        server.stop().await;
    }
);
