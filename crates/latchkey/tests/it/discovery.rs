//! RFC 8414 metadata at every well-known URL, and the caching and CORS headers discovery documents carry.
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{TestServer, server_test};

server_test!(
    metadata_for_a_root_issuer_is_served_at_the_well_known_url,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[scopes.\"read:orders\"]\ndescription = \"Read orders\"\n[scopes.internal]\npublic = false")
            .start(&db)
            .await;
        let response = server
            .http
            .get(server.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
        assert!(response.headers().contains_key("etag"));
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["issuer"], server.issuer);
        assert_eq!(doc["token_endpoint"], format!("{}/token", server.issuer));
        assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.issuer));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/authorize", server.issuer)
        );
        assert_eq!(
            doc["grant_types_supported"],
            json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{}/introspect", server.issuer)
        );
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(
            doc["revocation_endpoint"],
            format!("{}/revoke", server.issuer)
        );
        assert_eq!(
            doc["revocation_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        assert_eq!(doc["resource_parameter_supported"], true);
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "PS256", "RS256"])
        );
        // Only public scopes are listed.
        assert_eq!(doc["scopes_supported"], json!(["read:orders"]));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["ui_locales_supported"], json!(["en", "es"]));
        // Nothing that does not exist yet is advertised.
        for absent in [
            "registration_endpoint",
            "client_id_metadata_document_supported",
            "service_documentation",
        ] {
            assert!(doc.get(absent).is_none(), "{absent} is advertised");
        }
        server.stop().await;
    }
);

server_test!(
    metadata_for_an_issuer_with_a_path_is_served_at_both_well_known_urls,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .issuer_path("/v3/oauth")
            .start(&db)
            .await;
        assert!(server.issuer.ends_with("/v3/oauth"));
        for path in [
            "/.well-known/oauth-authorization-server/v3/oauth",
            "/v3/oauth/.well-known/oauth-authorization-server",
        ] {
            let response = server.http.get(server.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let doc: Value = response.json().await.unwrap();
            // RFC 8414 §3.3: the issuer in the document is exactly the configured one.
            assert_eq!(doc["issuer"], server.issuer, "{path}");
            assert_eq!(doc["token_endpoint"], format!("{}/token", server.issuer));
        }
        // The root well-known URL describes an issuer without a path, which this server is not.
        let root = server
            .http
            .get(server.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        assert_eq!(root.status(), 404);
        server.stop().await;
    }
);

server_test!(
    every_advertised_endpoint_answers,
    |db: TestDatabase| async move {
        let server = TestServer::builder().issuer_path("/auth").start(&db).await;
        let doc = server.metadata().await;
        let mut checked = 0;
        for (name, value) in doc.as_object().unwrap() {
            if !(name.ends_with("_endpoint") || name == "jwks_uri") {
                continue;
            }
            let url = value.as_str().unwrap();
            if name == "authorization_endpoint" {
                // A person's browser arrives here: a request without parameters gets an error page.
                let response = server.http.get(url).send().await.unwrap();
                assert_eq!(response.status(), 400);
                assert!(response.text().await.unwrap().contains("invalid_request"));
                checked += 1;
                continue;
            }
            let response = match name.as_str() {
                "jwks_uri" => server.http.get(url).send().await.unwrap(),
                _ => server
                    .http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("")
                    .send()
                    .await
                    .unwrap(),
            };
            let status = response.status();
            assert_ne!(status, 404, "{name} at {url} is not routed");
            assert!(status.as_u16() < 500, "{name} at {url} answered {status}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body.get("keys").is_some() || body.get("error").is_some(),
                "{name}: {body}"
            );
            checked += 1;
        }
        assert_eq!(
            checked, 5,
            "authorization, token, introspection and revocation endpoints and jwks_uri"
        );
        server.stop().await;
    }
);

server_test!(
    conditional_requests_get_304_and_preflight_is_allowed,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        for path in ["/.well-known/oauth-authorization-server", "/jwks"] {
            let first = server.http.get(server.url(path)).send().await.unwrap();
            let etag = first.headers()["etag"].clone();
            let again = server
                .http
                .get(server.url(path))
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{path}");
            let preflight = server
                .http
                .request(reqwest::Method::OPTIONS, server.url(path))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "GET")
                .send()
                .await
                .unwrap();
            assert!(preflight.status().is_success(), "{path}");
            assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        }
        server.stop().await;
    }
);

server_test!(
    configured_documents_and_extra_members_are_published,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[metadata]\nservice_documentation = \"https://docs.example.com/oauth\"\n\
                 op_policy_uri = \"https://example.com/privacy\"\nop_tos_uri = \"https://example.com/terms\"\n\
                 ui_locales_supported = [\"en\", \"es\"]\n\
                 [metadata.extra]\nx_support_contact = \"oauth@example.com\"",
            )
            .start(&db)
            .await;
        let doc = server.metadata().await;
        assert_eq!(
            doc["service_documentation"],
            "https://docs.example.com/oauth"
        );
        assert_eq!(doc["op_policy_uri"], "https://example.com/privacy");
        assert_eq!(doc["op_tos_uri"], "https://example.com/terms");
        assert_eq!(doc["ui_locales_supported"], json!(["en", "es"]));
        assert_eq!(doc["x_support_contact"], "oauth@example.com");
        server.stop().await;
    }
);

server_test!(
    endpoints_can_be_published_on_another_base_url,
    |db: TestDatabase| async move {
        // A reverse proxy serves the token endpoint from the web app's host; the path is what reaches us.
        let server = TestServer::builder()
            .toml("[endpoints]\ntoken_endpoint = \"https://app.example.com/oauth/token\"")
            .start(&db)
            .await;
        let doc = server.metadata().await;
        assert_eq!(doc["token_endpoint"], "https://app.example.com/oauth/token");
        let response = server
            .http
            .post(server.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        server.stop().await;
    }
);
