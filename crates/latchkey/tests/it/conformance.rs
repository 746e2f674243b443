//! OpenID Connect points the OpenID Foundation's basic, config and dynamic plans check, driven by hand
//! over HTTP: request objects refused before PKCE (Core §6.1, §6.2), code requests with neither PKCE
//! nor nonce where the operator or the client allows them (Core §3.1.2.1), `acr` (Core §2, §5.5.1.1),
//! and pairwise subjects (Core §8.1) for native and pairwise-only registrations.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::browser::{Browser, Page, pkce};
use crate::harness::{TestServer, basic, server_test};

const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://rp.example/cb";

async fn provider(db: &TestDatabase, toml: &str) -> TestServer {
    let server = TestServer::builder()
        .toml(&format!(
            "[registration]\npolicy = \"open\"\nrate_limit = 50\n[openid]\nenabled = true\n{toml}"
        ))
        .start(db)
        .await;
    server.create_user("maria", PASSWORD).await;
    server
}

/// Signs María in for `params` and approves; the page that redirects back.
async fn approved(server: &TestServer, params: &[(&str, &str)]) -> Page {
    let mut browser = Browser::new();
    let login = browser.get(&server.authorize_url(params)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser.sign_in(server, &login, "maria", PASSWORD).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    browser.decide(server, &consent, "approve").await
}

/// The claims of a JWT, unverified (the tests that need the signature check it elsewhere).
fn payload(jwt: &str) -> Value {
    let body = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

async fn register(server: &TestServer, body: Value) -> reqwest::Response {
    server
        .http
        .post(format!("{}/register", server.issuer))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

server_test!(
    oidcc_request_objects_are_refused_before_pkce_is_asked_for,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        // All a request object leaves outside it: client_id, response_type and scope (Core §6.1).
        for (name, value, error) in [
            (
                "request",
                "eyJhbGciOiJub25lIn0.e30.",
                "request_not_supported",
            ),
            (
                "request_uri",
                "https://rp.example/request.jwt",
                "request_uri_not_supported",
            ),
        ] {
            let page = Browser::new()
                .get(&server.authorize_url(&[
                    ("client_id", &client.id),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    (name, value),
                ]))
                .await;
            assert_eq!(page.status, 303, "{}", page.body);
            assert_eq!(page.redirect_params()["error"], error);
        }
        server.stop().await;
    }
);

/// The code flow of a confidential client with neither PKCE nor nonce; the token response, or the
/// error the authorization request was redirected with.
async fn without_pkce_or_nonce(
    server: &TestServer,
    client_id: &str,
    secret: &str,
) -> Result<Value, String> {
    let params = [
        ("client_id", client_id),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("state", "s1"),
    ];
    let first = Browser::new().get(&server.authorize_url(&params)).await;
    if first.status == 303 {
        return Err(first.redirect_params()["error"].clone());
    }
    let done = approved(server, &params).await;
    let code = done.redirect_params()["code"].clone();
    let response = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
            Some(basic(client_id, secret)),
        )
        .await;
    assert_eq!(response.status(), 200);
    Ok(response.json().await.unwrap())
}

server_test!(
    oidcc_a_confidential_client_may_omit_pkce_and_nonce_where_require_pkce_is_off,
    |db: TestDatabase| async move {
        // The default: PKCE or a nonce (OAuth 2.1 §7.5.1).
        let strict = provider(&db, "").await;
        let client = strict
            .create_app(
                AuthMethod::ClientSecretBasic,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        assert_eq!(
            without_pkce_or_nonce(&strict, &client.id, &client.secret).await,
            Err("invalid_request".to_owned())
        );
        // The client's own registration may turn it off (and a public client's may not).
        let registered: Value = register(
            &strict,
            json!({"redirect_uris": [REDIRECT], "scope": "openid", "require_pkce": false}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(registered["require_pkce"], false);
        let tokens = without_pkce_or_nonce(
            &strict,
            registered["client_id"].as_str().unwrap(),
            registered["client_secret"].as_str().unwrap(),
        )
        .await
        .unwrap();
        assert!(payload(tokens["id_token"].as_str().unwrap())["nonce"].is_null());
        strict.stop().await;

        // The operator may turn it off for every confidential client (Core §3.1.2.1).
        let lax = TestServer::builder()
            .toml("[openid]\nenabled = true\nrequire_pkce_for_confidential_clients = false")
            .start(&db)
            .await;
        let client = lax
            .create_app(
                AuthMethod::ClientSecretBasic,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        let tokens = without_pkce_or_nonce(&lax, &client.id, &client.secret)
            .await
            .unwrap();
        assert!(tokens["id_token"].is_string());
        // Public clients always need PKCE.
        let public = lax
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        let page = Browser::new()
            .get(&lax.authorize_url(&[
                ("client_id", &public.id),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", REDIRECT),
            ]))
            .await;
        assert_eq!(page.redirect_params()["error"], "invalid_request");
        lax.stop().await;
    }
);

server_test!(
    n_l8_acr_is_published_returned_when_asked_and_an_unmet_essential_acr_fails,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let doc = server.metadata().await;
        assert_eq!(
            doc["acr_values_supported"],
            json!([latchkey_core::oidc::ACR_PASSWORD])
        );
        let client = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        let (verifier, challenge) = pkce();
        let flow = |extra: Vec<(&'static str, String)>| {
            let mut params: Vec<(&str, String)> = vec![
                ("client_id", client.id.clone()),
                ("response_type", "code".into()),
                ("scope", "openid".into()),
                ("redirect_uri", REDIRECT.into()),
                ("code_challenge", challenge.clone()),
                ("code_challenge_method", "S256".into()),
                // The consent of the first round would be remembered.
                ("prompt", "consent".into()),
            ];
            params.extend(extra);
            params
        };
        // Asked for by acr_values, and as a claim: the password context comes back.
        for extra in [
            vec![("acr_values", "urn:example:mfa urn:latchkey:acr:password".to_owned())],
            vec![(
                "claims",
                json!({"id_token": {"acr": {"essential": true, "values": [latchkey_core::oidc::ACR_PASSWORD]}}})
                    .to_string(),
            )],
        ] {
            let params = flow(extra);
            let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let done = approved(&server, &borrowed).await;
            let code = done.redirect_params()["code"].clone();
            let tokens: Value = server
                .token_request(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", &verifier),
                        ("client_id", &client.id),
                    ],
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            let claims = payload(tokens["id_token"].as_str().unwrap());
            assert_eq!(claims["acr"], latchkey_core::oidc::ACR_PASSWORD, "{claims}");
        }
        // Core §5.5.1.1: an essential acr that cannot be met is a failed authentication.
        let params = flow(vec![(
            "claims",
            json!({"id_token": {"acr": {"essential": true, "values": ["urn:example:mfa"]}}})
                .to_string(),
        )]);
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = Browser::new().get(&server.authorize_url(&borrowed)).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.redirect_params()["error"], "access_denied");
        server.stop().await;
    }
);

/// Registers a pairwise native client with this loopback redirect URI and returns the `sub` María
/// gets in its ID token.
async fn native_sub(server: &TestServer, redirect: &str, extra: Value) -> Result<String, Value> {
    let mut body = json!({
        "redirect_uris": [redirect],
        "token_endpoint_auth_method": "none",
        "scope": "openid",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let response = register(server, body).await;
    let registered: Value = response.json().await.unwrap();
    let Some(id) = registered["client_id"].as_str() else {
        return Err(registered);
    };
    assert_eq!(registered["subject_type"], "pairwise", "{registered}");
    let (verifier, challenge) = pkce();
    let done = approved(
        server,
        &[
            ("client_id", id),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", redirect),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = done.redirect_params()["code"].clone();
    let tokens: Value = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
                ("client_id", id),
            ],
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    Ok(payload(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned())
}

server_test!(
    n_l6_unrelated_native_clients_never_share_a_pairwise_sub,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let pairwise = json!({"subject_type": "pairwise"});
        let notes = native_sub(&server, "http://127.0.0.1:1111/cb", pairwise.clone())
            .await
            .unwrap();
        let tracker = native_sub(&server, "http://127.0.0.1:2222/cb", pairwise.clone())
            .await
            .unwrap();
        assert_ne!(notes, tracker, "two loopback clients, two sectors");
        let app = native_sub(&server, "com.example.notes:/cb", pairwise.clone())
            .await
            .unwrap();
        let other = native_sub(&server, "com.example.notes:/cb", pairwise)
            .await
            .unwrap();
        assert_ne!(app, other, "the same private-use scheme, two sectors");
        server.stop().await;
    }
);

server_test!(
    a_pairwise_only_server_registers_pairwise_by_default_and_refuses_public,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[registration]\npolicy = \"open\"\nrate_limit = 50\n[openid]\nenabled = true\nsubject_types = [\"pairwise\"]")
            .start(&db)
            .await;
        server.create_user("maria", PASSWORD).await;
        let sub = native_sub(&server, "http://127.0.0.1:3333/cb", json!({}))
            .await
            .unwrap();
        assert_ne!(sub, "maria");
        let refused = native_sub(
            &server,
            "http://127.0.0.1:3333/cb",
            json!({"subject_type": "public"}),
        )
        .await
        .unwrap_err();
        assert_eq!(refused["error"], "invalid_client_metadata", "{refused}");
        assert!(
            refused["error_description"]
                .as_str()
                .unwrap()
                .contains("subject_type"),
            "{refused}"
        );
        server.stop().await;
    }
);
