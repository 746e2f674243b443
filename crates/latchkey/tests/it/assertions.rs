//! `private_key_jwt` (RFC 7523 §2.2) over HTTP: a client registered with its public keys authenticates
//! with signed assertions at the token and introspection endpoints; every broken assertion is refused.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::keys::{KeyAlg, SigningKey};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{TestServer, server_test};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn assertion(key: &SigningKey, alg: &str, claims: Value) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": key.kid(), "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let sig = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).unwrap());
    format!("{signed}.{sig}")
}

pub(crate) fn claims(client_id: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 120,
        "jti": latchkey_core::secret::random_base64url(12),
    })
}

pub(crate) async fn token_with(server: &TestServer, jwt: &str) -> reqwest::Response {
    server
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", jwt),
            ],
            None,
        )
        .await
}

server_test!(
    a_registered_key_authenticates_and_every_broken_assertion_is_refused,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[registration]\npolicy = \"open\"\nallow_client_credentials = true")
            .start(&db)
            .await;
        let doc = server.metadata().await;
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("private_key_jwt")));
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "PS256", "RS256"])
        );

        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let registered: Value = server
            .http
            .post(format!("{}/register", server.issuer))
            .header("content-type", "application/json")
            .body(
                json!({
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [key.public_jwk()]},
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            registered.get("client_secret").is_none(),
            "keys, not a secret"
        );
        let id = registered["client_id"].as_str().unwrap().to_owned();
        // M7: the issuer identifier is the audience; the token endpoint's URL is refused below.
        let token_url = server.issuer.clone();
        let endpoint_url = format!("{}/token", server.issuer);
        let now = latchkey_server::clock::Clock::system().now().0;

        let good = assertion(&key, "ES256", claims(&id, &token_url, now));
        let response = token_with(&server, &good).await;
        assert_eq!(response.status(), 200);
        // The same jti again: a replay.
        let replay = token_with(&server, &good).await;
        assert_eq!(replay.status(), 401);
        let body: Value = replay.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("replayed"),
            "{body}"
        );
        // A one-element array holding the issuer means the same.
        let mut listed = claims(&id, &server.issuer, now);
        listed["aud"] = json!([server.issuer]);
        let by_issuer = assertion(&key, "ES256", listed);
        assert_eq!(token_with(&server, &by_issuer).await.status(), 200);

        let (stranger, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let mut expired = claims(&id, &token_url, now);
        expired["exp"] = json!(now - 1);
        let mut far = claims(&id, &token_url, now);
        far["exp"] = json!(now + 3600);
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims(&id, &token_url, now).to_string())
        );
        for (why, jwt) in [
            (
                "m7: an endpoint URL as audience (audience injection)",
                assertion(&key, "ES256", claims(&id, &endpoint_url, now)),
            ),
            (
                "wrong audience",
                assertion(
                    &key,
                    "ES256",
                    claims(&id, "https://evil.example/token", now),
                ),
            ),
            ("expired", assertion(&key, "ES256", expired)),
            ("exp too far ahead", assertion(&key, "ES256", far)),
            (
                "unknown key",
                assertion(&stranger, "ES256", claims(&id, &token_url, now)),
            ),
            ("alg none", none),
            (
                "another client's id",
                assertion(&key, "ES256", claims("someone-else", &token_url, now)),
            ),
        ] {
            let response = token_with(&server, &jwt).await;
            assert_eq!(response.status(), 401, "{why}");
            // RFC 6749 §5.2: no Authorization header, so no challenge (oauth4webapi reads one as
            // an HTTP-auth prompt and hides the error).
            assert!(
                response.headers().get("www-authenticate").is_none(),
                "{why}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client", "{why}");
        }

        // The same module authenticates at introspection.
        let issued: Value = token_with(
            &server,
            &assertion(&key, "ES256", claims(&id, &token_url, now)),
        )
        .await
        .json()
        .await
        .unwrap();
        let introspect_url = format!("{}/introspect", server.issuer);
        let seen: Value = server
            .http
            .post(&introspect_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::harness::form_encode(&[
                ("token", issued["access_token"].as_str().unwrap()),
                ("client_assertion_type", JWT_BEARER),
                (
                    "client_assertion",
                    &assertion(&key, "ES256", claims(&id, &server.issuer, now)),
                ),
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen["active"], true);
        server.stop().await;
    }
);

server_test!(
    the_cli_registers_a_private_key_jwt_client_from_a_jwks_file,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let (key, _) = SigningKey::generate(KeyAlg::EdDSA).unwrap();
        let dir = std::path::Path::new(db.url().trim_start_matches("sqlite://"))
            .parent()
            .map(|p| p.to_owned())
            .filter(|p| p.exists())
            .unwrap_or_else(std::env::temp_dir);
        let file = dir.join(format!(
            "jwks-{}.json",
            latchkey_core::secret::random_base64url(6)
        ));
        std::fs::write(&file, json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
        let output = crate::command::latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "signer",
                "--auth-method",
                "private_key_jwt",
                "--jwks",
                file.to_str().unwrap(),
                "--json",
            ],
        );
        std::fs::remove_file(&file).ok();
        let created = crate::command::json_of(&output);
        assert!(created.get("client_secret").is_none());
        let id = created["client_id"].as_str().unwrap();
        let now = latchkey_server::clock::Clock::system().now().0;
        let jwt = assertion(&key, "EdDSA", claims(id, &server.issuer, now));
        assert_eq!(token_with(&server, &jwt).await.status(), 200);
        server.stop().await;
    }
);
