//! Token services over HTTP: introspection (RFC 7662), revocation (RFC 7009), resource indicators
//! (RFC 8707), opaque access tokens and token exchange (RFC 8693), for JWT and opaque tokens.
use std::time::Duration;

use latchkey_core::client::{ClientPolicy, TokenFormat};
use latchkey_core::types::{AuthMethod, GrantType, ResourceUri};
use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::browser::{Browser, pkce};
use crate::harness::{TestClient, TestServer, basic, server_test, verify};

const RESOURCES: &str = "\
[resources.\"https://a.example/\"]
scopes = [\"orders:read\", \"orders:write\"]
[resources.\"https://b.example/\"]
scopes = [\"orders:read\"]
[resources.\"https://opaque.example/\"]
format = \"opaque\"
[resources.\"https://short.example/\"]
ttl = \"1s\"
";

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

async fn start(db: &TestDatabase) -> TestServer {
    TestServer::builder().toml(RESOURCES).start(db).await
}

impl TestServer {
    async fn service(&self, scope: &str, policy: ClientPolicy, grants: &[GrantType]) -> TestClient {
        self.create_app_with(AuthMethod::ClientSecretBasic, grants, scope, &[], policy)
            .await
    }

    async fn token_for(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut full = vec![("grant_type", "client_credentials")];
        full.extend_from_slice(form);
        self.token_request(&full, Some(basic(&client.id, &client.secret)))
            .await
    }

    async fn access_token(&self, client: &TestClient, form: &[(&str, &str)]) -> String {
        let response = self.token_for(client, form).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn introspect(&self, caller: &TestClient, token: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/introspect", self.issuer))
            .header("authorization", basic(&caller.id, &caller.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::harness::form_encode(&[("token", token)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    async fn revoke(&self, caller: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/revoke", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded");
        let mut form = form.to_vec();
        if caller.secret.is_empty() {
            form.push(("client_id", caller.id.as_str()));
        } else {
            request = request.header("authorization", basic(&caller.id, &caller.secret));
        }
        request
            .body(crate::harness::form_encode(&form))
            .send()
            .await
            .unwrap()
    }
}

fn resource_server() -> ClientPolicy {
    ClientPolicy {
        introspect_any: true,
        ..ClientPolicy::default()
    }
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

server_test!(
    introspection_reports_jwt_and_opaque_tokens_by_policy,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let grant = [GrantType::ClientCredentials];
        let app = server
            .service("orders:read", ClientPolicy::default(), &grant)
            .await;
        let other = server.service("", ClientPolicy::default(), &grant).await;
        let rs = server.service("", resource_server(), &grant).await;

        let jwt = server
            .access_token(&app, &[("resource", "https://a.example/")])
            .await;
        let own = server.introspect(&app, &jwt).await;
        assert_eq!(own["active"], true);
        for member in [
            "scope",
            "client_id",
            "sub",
            "token_type",
            "exp",
            "iat",
            "nbf",
            "aud",
            "iss",
            "jti",
        ] {
            assert!(own.get(member).is_some(), "{member}: {own}");
        }
        assert_eq!(own["aud"], "https://a.example/");
        assert_eq!(own["client_id"], app.id);
        assert_eq!(own["token_type"], "Bearer");
        // Another client may not see it; a resource server may.
        assert_eq!(
            server.introspect(&other, &jwt).await,
            serde_json::json!({"active": false})
        );
        assert_eq!(server.introspect(&rs, &jwt).await["active"], true);

        // Opaque, chosen by the resource: no dots, not a JWT, and active only through introspection.
        let opaque = server
            .access_token(&app, &[("resource", "https://opaque.example/")])
            .await;
        assert!(!opaque.contains('.'));
        let seen = server.introspect(&rs, &opaque).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["aud"], "https://opaque.example/");

        // Malformed, unknown, forged and expired tokens: only {"active": false}.
        let (key, _) =
            latchkey_core::keys::SigningKey::generate(latchkey_core::keys::KeyAlg::ES256).unwrap();
        let (_, claims) = verify(&jwt, &server.jwks().await);
        let forged = latchkey_core::token::jwt::sign(&claims, &key).unwrap();
        let short = server
            .access_token(&app, &[("resource", "https://short.example/")])
            .await;
        server.clock.advance(Duration::from_millis(2100));
        for token in ["", "garbage", "a.b.c", forged.as_str(), short.as_str()] {
            if token.is_empty() {
                continue;
            }
            assert_eq!(
                server.introspect(&rs, token).await,
                serde_json::json!({"active": false}),
                "{token}"
            );
        }
        // Refusals.
        let missing = server
            .http
            .post(format!("{}/introspect", server.issuer))
            .header("authorization", basic(&rs.id, &rs.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(missing).await, (400, "invalid_request".into()));
        let anonymous = server
            .http
            .post(format!("{}/introspect", server.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::harness::form_encode(&[("token", &jwt)]))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(anonymous).await, (401, "invalid_client".into()));
        server.stop().await;
    }
);

/// A user's grant through the authorization code flow: (public client, access token, refresh token).
async fn user_tokens(server: &TestServer, resource: Option<&str>) -> (TestClient, String, String) {
    let callback = "https://app.example/cb";
    let client = server
        .create_app(
            AuthMethod::None,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "orders:read orders:write profile",
            &[callback],
        )
        .await;
    server.create_user("carol", "carol's passphrase").await;
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(resource) = resource {
        params.push(("resource", resource));
    }
    let mut browser = Browser::new();
    let login = browser.get(&server.authorize_url(&params)).await;
    let consent = browser
        .sign_in(server, &login, "carol", "carol's passphrase")
        .await;
    let done = browser.decide(server, &consent, "approve").await;
    let code = done.redirect_params()["code"].clone();
    let response = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    (
        client,
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

server_test!(
    refresh_tokens_introspect_and_revocation_cascades_to_access_tokens,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let rs = server
            .service("", resource_server(), &[GrantType::ClientCredentials])
            .await;
        let (app, access, refresh) = user_tokens(&server, None).await;
        let seen = server.introspect(&rs, &refresh).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["token_type"], "refresh_token");
        assert_eq!(seen["username"], "carol");
        let seen = server.introspect(&rs, &access).await;
        assert_eq!(seen["username"], "carol");
        // A public client cannot introspect, not even its own tokens.
        let public = server
            .http
            .post(format!("{}/introspect", server.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::harness::form_encode(&[
                ("token", &access),
                ("client_id", &app.id),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(public).await.0, 401);

        // Another client cannot revoke it.
        let response = server.revoke(&rs, &[("token", &refresh)]).await;
        assert_eq!(
            error_of(response).await,
            (400, "unauthorized_client".into())
        );
        assert_eq!(server.introspect(&rs, &refresh).await["active"], true);

        // The public client revokes its refresh token: the family and its access tokens go.
        let response = server
            .revoke(
                &app,
                &[("token", &refresh), ("token_type_hint", "refresh_token")],
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(server.introspect(&rs, &refresh).await["active"], false);
        assert_eq!(
            server.introspect(&rs, &access).await["active"],
            false,
            "cascade to access tokens"
        );
        let again = server
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &app.id),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(again).await.1, "invalid_grant");
        // Revoking twice, or an unknown token, is still 200.
        assert_eq!(
            server.revoke(&app, &[("token", &refresh)]).await.status(),
            200
        );
        assert_eq!(
            server
                .revoke(&app, &[("token", "never-issued")])
                .await
                .status(),
            200
        );
        server.stop().await;
    }
);

server_test!(
    revoked_access_tokens_are_inactive_jwt_and_opaque,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let grant = [GrantType::ClientCredentials];
        let app = server.service("", ClientPolicy::default(), &grant).await;
        let rs = server.service("", resource_server(), &grant).await;
        for resource in ["https://a.example/", "https://opaque.example/"] {
            let token = server.access_token(&app, &[("resource", resource)]).await;
            assert_eq!(server.introspect(&rs, &token).await["active"], true);
            // Only its own client may revoke it.
            let refused = server
                .revoke(
                    &rs,
                    &[("token", &token), ("token_type_hint", "access_token")],
                )
                .await;
            assert_eq!(error_of(refused).await.1, "unauthorized_client");
            let response = server
                .revoke(&app, &[("token", &token), ("token_type_hint", "bogus")])
                .await;
            assert_eq!(response.status(), 200);
            assert_eq!(
                server.introspect(&rs, &token).await["active"],
                false,
                "{resource}"
            );
        }
        // Missing token.
        assert_eq!(
            error_of(server.revoke(&app, &[]).await).await,
            (400, "invalid_request".into())
        );
        server.stop().await;
    }
);

server_test!(
    resource_indicators_select_one_audience,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let grant = [GrantType::ClientCredentials];
        let app = server
            .service(
                "orders:read orders:write admin",
                ClientPolicy::default(),
                &grant,
            )
            .await;
        let jwks = server.jwks().await;

        let token = server
            .access_token(&app, &[("resource", "https://b.example/")])
            .await;
        let (_, claims) = verify(&token, &jwks);
        assert_eq!(claims["aud"], "https://b.example/");
        assert_eq!(claims["scope"], "orders:read", "narrowed to what b offers");
        let token = server.access_token(&app, &[]).await;
        assert_eq!(
            verify(&token, &jwks).1["aud"],
            server.issuer,
            "no resource: the default audience"
        );

        for (resource, error) in [
            ("https://unknown.example/", "invalid_target"),
            ("/relative", "invalid_target"),
            ("https://a.example/#frag", "invalid_target"),
        ] {
            let response = server.token_for(&app, &[("resource", resource)]).await;
            assert_eq!(error_of(response).await, (400, error.into()), "{resource}");
        }
        let response = server
            .token_for(
                &app,
                &[
                    ("resource", "https://b.example/"),
                    ("scope", "orders:write"),
                ],
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_scope");
        // Two resources in one request: a single-value policy.
        let body = "grant_type=client_credentials&resource=https%3A%2F%2Fa.example%2F&resource=https%3A%2F%2Fb.example%2F";
        let response = server
            .http
            .post(format!("{}/token", server.issuer))
            .header("authorization", basic(&app.id, &app.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await.1, "invalid_request");

        // A client limited to some resources.
        let limited = server
            .service(
                "",
                ClientPolicy {
                    resources: vec![ResourceUri::parse("https://a.example/").unwrap()],
                    ..ClientPolicy::default()
                },
                &grant,
            )
            .await;
        assert_eq!(
            server
                .token_for(&limited, &[("resource", "https://a.example/")])
                .await
                .status(),
            200
        );
        let response = server
            .token_for(&limited, &[("resource", "https://b.example/")])
            .await;
        assert_eq!(error_of(response).await.1, "invalid_target");

        // A client whose tokens are opaque.
        let opaque_client = server
            .service(
                "",
                ClientPolicy {
                    access_token_format: Some(TokenFormat::Opaque),
                    ..ClientPolicy::default()
                },
                &grant,
            )
            .await;
        let token = server.access_token(&opaque_client, &[]).await;
        assert!(!token.contains('.'));
        assert_eq!(
            server.introspect(&opaque_client, &token).await["active"],
            true
        );
        server.stop().await;
    }
);

server_test!(
    a_refresh_token_gets_tokens_for_the_grants_resource_down_scoped,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let (app, access, refresh) = user_tokens(&server, Some("https://b.example/")).await;
        let (_, claims) = verify(&access, &server.jwks().await);
        assert_eq!(claims["aud"], "https://b.example/");
        assert_eq!(claims["scope"], "orders:read", "b offers only orders:read");
        let refreshed = server
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &app.id),
                    ("resource", "https://b.example/"),
                ],
                None,
            )
            .await;
        assert_eq!(refreshed.status(), 200);
        let body: Value = refreshed.json().await.unwrap();
        let (_, claims) = verify(body["access_token"].as_str().unwrap(), &server.jwks().await);
        assert_eq!(claims["aud"], "https://b.example/");
        let other = server
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", body["refresh_token"].as_str().unwrap()),
                    ("client_id", &app.id),
                    ("resource", "https://a.example/"),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(other).await.1, "invalid_target");
        server.stop().await;
    }
);

server_test!(
    a_resource_server_introspects_then_exchanges_for_another_resource,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        // The caller gets a token for resource A.
        let (_app, user_token, _) = user_tokens(&server, Some("https://a.example/")).await;
        // Resource A's service: introspects anything, exchanges into B.
        let svc_a = server
            .service(
                "orders:read orders:write",
                ClientPolicy {
                    introspect_any: true,
                    resources: vec![ResourceUri::parse("https://b.example/").unwrap()],
                    ..ClientPolicy::default()
                },
                &[GrantType::TokenExchange, GrantType::ClientCredentials],
            )
            .await;
        let seen = server.introspect(&svc_a, &user_token).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["aud"], "https://a.example/");
        let actor = server.access_token(&svc_a, &[]).await;
        let exchange = |subject: String, extra: Vec<(&'static str, String)>| {
            let server = &server;
            let svc_a = &svc_a;
            async move {
                let mut form: Vec<(&str, String)> = vec![
                    ("grant_type", EXCHANGE.into()),
                    ("subject_token", subject),
                    ("subject_token_type", ACCESS_TOKEN_TYPE.into()),
                ];
                form.extend(extra);
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                server
                    .token_request(&pairs, Some(basic(&svc_a.id, &svc_a.secret)))
                    .await
            }
        };
        let response = exchange(
            user_token.clone(),
            vec![
                ("resource", "https://b.example/".into()),
                ("actor_token", actor.clone()),
                ("actor_token_type", ACCESS_TOKEN_TYPE.into()),
            ],
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
        let exchanged = body["access_token"].as_str().unwrap();
        let (_, claims) = verify(exchanged, &server.jwks().await);
        let (_, original) = verify(&user_token, &server.jwks().await);
        assert_eq!(claims["aud"], "https://b.example/");
        assert_eq!(claims["sub"], original["sub"], "still the user");
        assert_eq!(claims["client_id"], svc_a.id);
        assert_eq!(claims["act"]["sub"], svc_a.id, "RFC 8693 §4.1");
        assert_eq!(claims["scope"], "orders:read");
        let seen = server.introspect(&svc_a, exchanged).await;
        assert_eq!(seen["act"]["sub"], svc_a.id);

        // Refusals, each with its RFC error.
        let b = || ("resource", "https://b.example/".to_owned());
        let (status, error) = error_of(exchange("not-a-token".into(), vec![b()]).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"));
        let (_, error) = error_of(
            exchange(
                user_token.clone(),
                vec![("resource", "https://a.example/".into())],
            )
            .await,
        )
        .await;
        assert_eq!(
            error, "invalid_target",
            "A is not among svc-a's exchange targets"
        );
        let (_, error) = error_of(
            exchange(
                user_token.clone(),
                vec![b(), ("scope", "orders:write".into())],
            )
            .await,
        )
        .await;
        assert_eq!(error, "invalid_scope");
        let (_, error) = error_of(exchange(user_token.clone(), vec![]).await).await;
        assert_eq!(error, "invalid_target");
        let (_, error) = error_of(
            exchange(
                user_token.clone(),
                vec![
                    b(),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:refresh_token".into(),
                    ),
                ],
            )
            .await,
        )
        .await;
        assert_eq!(error, "invalid_request");
        let plain = server
            .service("", ClientPolicy::default(), &[GrantType::ClientCredentials])
            .await;
        let response = server
            .token_request(
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", &user_token),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                    ("resource", "https://b.example/"),
                ],
                Some(basic(&plain.id, &plain.secret)),
            )
            .await;
        assert_eq!(error_of(response).await.1, "unauthorized_client");
        // A revoked subject token cannot be exchanged.
        assert_eq!(
            server
                .revoke(&_app, &[("token", &user_token)])
                .await
                .status(),
            200
        );
        let (_, error) = error_of(exchange(user_token.clone(), vec![b()]).await).await;
        assert_eq!(error, "invalid_request");
        server.stop().await;
    }
);

server_test!(
    a_revocation_made_elsewhere_reaches_a_cached_token,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let grant = [GrantType::ClientCredentials];
        let app = server.service("", ClientPolicy::default(), &grant).await;
        let token = server
            .access_token(&app, &[("resource", "https://a.example/")])
            .await;
        // Introspected once: its signature and "not revoked" are now remembered.
        assert_eq!(server.introspect(&app, &token).await["active"], true);
        assert_eq!(server.introspect(&app, &token).await["active"], true);
        // Another instance (here: the store directly) revokes it.
        let (_, claims) = verify(&token, &server.jwks().await);
        let jti = claims["jti"].as_str().unwrap();
        let exp = latchkey_core::types::Timestamp(claims["exp"].as_i64().unwrap());
        latchkey_store::TokenStore::revoke_jti(&server.store, jti, exp)
            .await
            .unwrap();
        crate::harness::eventually("the revocation reaches the cache", || async {
            server.introspect(&app, &token).await["active"] == false
        })
        .await;
        server.stop().await;
    }
);

server_test!(
    m2_exchanged_tokens_follow_their_subjects_grant_and_never_outlive_it,
    |db: TestDatabase| async move {
        let server = start(&db).await;
        let (app, user_token, refresh) = user_tokens(&server, Some("https://a.example/")).await;
        let svc_a = server
            .service(
                "orders:read",
                ClientPolicy {
                    introspect_any: true,
                    resources: vec![ResourceUri::parse("https://b.example/").unwrap()],
                    ..ClientPolicy::default()
                },
                &[GrantType::TokenExchange, GrantType::ClientCredentials],
            )
            .await;
        let gateway = server
            .service("", ClientPolicy::default(), &[GrantType::ClientCredentials])
            .await;
        let exchange = |subject: String, actor: Option<String>| {
            let (server, svc_a) = (&server, &svc_a);
            async move {
                let mut form = vec![
                    ("grant_type", EXCHANGE),
                    ("subject_token", subject.as_str()),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                    ("resource", "https://b.example/"),
                ];
                if let Some(actor) = &actor {
                    form.push(("actor_token", actor));
                    form.push(("actor_token_type", ACCESS_TOKEN_TYPE));
                }
                server
                    .token_request(&form, Some(basic(&svc_a.id, &svc_a.secret)))
                    .await
            }
        };
        // Another client's token is no actor for svc-a.
        let gateway_token = server.access_token(&gateway, &[]).await;
        let (_, error) = error_of(exchange(user_token.clone(), Some(gateway_token)).await).await;
        assert_eq!(error, "invalid_request");
        let response = exchange(user_token.clone(), None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let exchanged = body["access_token"].as_str().unwrap().to_owned();
        let keys = server.jwks().await;
        let (_, claims) = verify(&exchanged, &keys);
        let (_, original) = verify(&user_token, &keys);
        assert!(claims["exp"].as_i64() <= original["exp"].as_i64());
        assert_eq!(claims["scope"], "orders:read", "svc-a's registered scope");
        // Exchanging the exchanged token into B again: refused.
        let (_, error) = error_of(exchange(exchanged.clone(), None).await).await;
        assert_eq!(error, "invalid_target");
        // The user revokes the app's refresh token: the grant goes, and the exchanged token with it.
        assert_eq!(
            server.revoke(&app, &[("token", &refresh)]).await.status(),
            200
        );
        let seen = server.introspect(&svc_a, &exchanged).await;
        assert_eq!(seen["active"], false);
        server.stop().await;
    }
);
