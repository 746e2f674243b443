//! `[policy]`: what the metadata publishes is what every endpoint does, and what is off is refused.
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{TestServer, basic, form_encode, server_test};

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

impl TestServer {
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }
}

server_test!(
    a_grant_type_turned_off_is_unsupported_even_for_a_client_registered_with_it,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[policy]\ngrant_types = [\"authorization_code\", \"refresh_token\"]")
            .start(&db)
            .await;
        assert_eq!(
            server.metadata().await["grant_types_supported"],
            json!(["authorization_code", "refresh_token"])
        );
        // Registered before the policy changed (the harness writes to the store directly).
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let response = server
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(&client.id, &client.secret)),
            )
            .await;
        assert_eq!(
            error_of(response).await,
            (400, "unsupported_grant_type".into())
        );
        server.stop().await;
    }
);

server_test!(
    each_endpoint_accepts_only_its_configured_auth_methods,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[policy]\ntoken_endpoint_auth_methods = [\"client_secret_post\", \"client_secret_basic\"]\n\
                 introspection_endpoint_auth_methods = [\"client_secret_post\"]\n\
                 revocation_endpoint_auth_methods = [\"client_secret_basic\"]",
            )
            .start(&db)
            .await;
        let doc = server.metadata().await;
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_post", "client_secret_basic"])
        );
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!(["client_secret_post"])
        );
        assert_eq!(
            doc["revocation_endpoint_auth_methods_supported"],
            json!(["client_secret_basic"])
        );
        assert!(
            doc.get("token_endpoint_auth_signing_alg_values_supported")
                .is_none()
        );
        let basic_client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let post_client = server
            .create_client(
                AuthMethod::ClientSecretPost,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let token = server.client_credentials(&basic_client).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let introspection = doc["introspection_endpoint"].as_str().unwrap();
        let revocation = doc["revocation_endpoint"].as_str().unwrap();
        // Basic is not accepted at introspection, even from a client registered for it.
        let response = server
            .post_form(
                introspection,
                &[("token", &token)],
                Some(basic(&basic_client.id, &basic_client.secret)),
            )
            .await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()));
        let response = server
            .post_form(
                introspection,
                &[
                    ("token", &token),
                    ("client_id", &post_client.id),
                    ("client_secret", &post_client.secret),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        // And post is not accepted at revocation.
        let response = server
            .post_form(
                revocation,
                &[
                    ("token", &token),
                    ("client_id", &post_client.id),
                    ("client_secret", &post_client.secret),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()));
        let response = server
            .post_form(
                revocation,
                &[("token", &token)],
                Some(basic(&basic_client.id, &basic_client.secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        // A public client (none is off) cannot even identify itself at the token endpoint.
        let public = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &public.id),
                    ("code", "x"),
                    ("code_verifier", &"v".repeat(43)),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(response).await, (401, "invalid_client".into()));
        server.stop().await;
    }
);

server_test!(
    endpoints_that_are_off_are_neither_routed_nor_advertised,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[policy]\ngrant_types = [\"client_credentials\"]\nintrospection = false\nrevocation = false",
            )
            .start(&db)
            .await;
        let doc = server.metadata().await;
        for absent in [
            "authorization_endpoint",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "code_challenge_methods_supported",
            "response_modes_supported",
        ] {
            assert!(doc.get(absent).is_none(), "{absent} is advertised");
        }
        assert_eq!(doc["response_types_supported"], json!([]));
        for path in ["/introspect", "/revoke"] {
            let response = server
                .post_form(&server.url(path), &[("token", "x")], None)
                .await;
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(response.headers()["content-type"], "application/json");
        }
        let response = server
            .http
            .get(server.url("/authorize?response_type=code&client_id=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        server.stop().await;
    }
);

server_test!(
    registration_refuses_what_the_policy_turned_off,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[registration]\npolicy = \"open\"\n\
                 [policy]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n\
                 token_endpoint_auth_methods = [\"client_secret_basic\", \"client_secret_post\"]",
            )
            .start(&db)
            .await;
        let register = |body: Value| {
            let server = &server;
            async move {
                server
                    .http
                    .post(server.url("/register"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
            }
        };
        for (body, named) in [
            (
                json!({"grant_types": ["client_credentials"], "response_types": []}),
                "client_credentials",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}),
                "none",
            ),
        ] {
            let response = register(body.clone()).await;
            assert_eq!(response.status(), 400, "{body}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"], "invalid_client_metadata", "{body}");
            assert!(
                error["error_description"].as_str().unwrap().contains(named),
                "{error}"
            );
        }
        let response = register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
        assert_eq!(response.status(), 201);
        server.stop().await;
    }
);

server_test!(
    serve_names_each_existing_client_that_the_policy_now_refuses,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[policy]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n\
                 token_endpoint_auth_methods = [\"client_secret_basic\", \"none\"]",
            )
            .start(&db)
            .await;
        let service = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let post = server
            .create_app(
                AuthMethod::ClientSecretPost,
                &[GrantType::AuthorizationCode],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let fine = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let warnings = latchkey::cli::serve::policy_warnings(&server.store, &server.config)
            .await
            .unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().all(|w| !w.contains('\n')));
        let line = |id: &str| warnings.iter().find(|w| w.contains(id)).unwrap().clone();
        assert!(line(&service.id).contains("client_credentials"));
        assert!(line(&post.id).contains("client_secret_post"));
        assert!(!warnings.iter().any(|w| w.contains(&fine.id)));
        // Their requests are refused, never silently served: the client whose method is off cannot
        // even start a sign-in (the error goes back to its registered redirect URI), while the
        // public client still gets the login page.
        let (_, challenge) = crate::browser::pkce();
        let authorize = |id: &str| {
            server.authorize_url(&[
                ("response_type", "code"),
                ("client_id", id),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "s1"),
            ])
        };
        let refused = crate::browser::Browser::new()
            .get(&authorize(&post.id))
            .await;
        let params = refused.redirect_params();
        assert_eq!(params["error"], "unauthorized_client", "{params:?}");
        assert_eq!(params["state"], "s1");
        assert!(params["error_description"].contains("client_secret_post"));
        let login = crate::browser::Browser::new()
            .get(&authorize(&fine.id))
            .await;
        assert_eq!(login.status, 200);
        assert!(login.body.contains("<form"), "{}", login.body);
        // And the token endpoint refuses the method itself.
        let token = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "anything"),
                    ("client_id", post.id.as_str()),
                    ("client_secret", post.secret.as_str()),
                ],
                None,
            )
            .await;
        assert_eq!(token.status(), 401);
        server.stop().await;
    }
);
