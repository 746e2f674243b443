//! The authorization code flow over HTTP: the authorization endpoint, the login and consent pages, and
//! the authorization_code and refresh_token grants, with every refusal.
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::browser::{Browser, Page, pkce};
use crate::harness::{TestClient, TestServer, basic, server_test, verify};

const CALLBACK: &str = "https://app.example/callback";

struct Flow {
    server: TestServer,
    client: TestClient,
    user_id: String,
    verifier: String,
    challenge: String,
}

async fn setup(db: &TestDatabase, toml: &str, method: AuthMethod) -> Flow {
    let server = TestServer::builder()
        .toml("[scopes.\"read:orders\"]\ndescription = \"Read your orders\"\ntranslations = { es = \"Leer tus pedidos\" }")
        .toml("[resources.\"https://api.example/orders\"]\nscopes = [\"read:orders\", \"write:orders\"]")
        .toml(toml)
        .start(db)
        .await;
    let client = server
        .create_app(
            method,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "read:orders write:orders offline_access",
            &[CALLBACK, "http://127.0.0.1/native"],
        )
        .await;
    let user_id = server.create_user("alice", "correct horse battery").await;
    let (verifier, challenge) = pkce();
    Flow {
        server,
        client,
        user_id,
        verifier,
        challenge,
    }
}

impl Flow {
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("state", "st4te"),
            ("scope", "read:orders"),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            params.push((k, v));
        }
        params.retain(|(_, v)| !v.is_empty());
        self.server.authorize_url(&params)
    }

    /// Signs in and approves; returns the redirect to the client.
    async fn approve(&self, browser: &mut Browser, extra: &[(&str, &str)]) -> Page {
        let login = browser.get(&self.authorize_url(extra)).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let consent = browser
            .sign_in(&self.server, &login, "alice", "correct horse battery")
            .await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        browser.decide(&self.server, &consent, "approve").await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> reqwest::Response {
        let auth = match self.client.secret.as_str() {
            "" => None,
            secret => Some(basic(&self.client.id, secret)),
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ];
        if auth.is_none() {
            form.push(("client_id", self.client.id.as_str()));
        }
        self.server.token_request(&form, auth).await
    }

    /// A code by a plain GET, once consent is remembered.
    async fn remembered_code(&self, browser: &mut Browser) -> String {
        let page = browser.get(&self.authorize_url(&[])).await;
        assert_eq!(page.status, 303, "{}", page.body);
        page.redirect_params()["code"].clone()
    }

    async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.client.id.as_str()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.server.token_request(&form, None).await
    }
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

server_test!(
    a_public_client_signs_a_user_in_gets_tokens_and_refreshes,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let server = &flow.server;
        let mut browser = Browser::new();

        let login = browser.get(&flow.authorize_url(&[])).await;
        assert_eq!(login.status, 200);
        assert_eq!(login.headers["x-frame-options"], "DENY");
        assert_eq!(login.headers["cache-control"], "no-store");
        let csp = login.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("form-action 'self' https://app.example"),
            "{csp}"
        );
        assert!(
            login.body.contains("<label for=\"username\">"),
            "labelled inputs"
        );
        assert!(login.body.contains("Test App"));
        let (action, fields) = login.form("/login");
        assert!(action.ends_with("/authorize/login"));
        assert!(
            fields
                .iter()
                .any(|(k, v)| k == "csrf_token" && !v.is_empty())
        );
        assert!(fields.iter().any(|(k, v)| k == "state" && v == "st4te"));

        let consent = browser
            .sign_in(server, &login, "alice", "correct horse battery")
            .await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let session_cookie = consent
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("latchkey_session="))
            .expect("a session cookie");
        assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
        assert!(
            !session_cookie.contains("Secure"),
            "http issuer on loopback"
        );
        assert!(
            consent.body.contains("Read your orders"),
            "scope description from configuration"
        );
        assert!(
            consent.body.contains("app.example"),
            "the redirect host is shown"
        );

        let redirect = browser.decide(server, &consent, "approve").await;
        assert_eq!(redirect.status, 303);
        assert!(redirect.location().starts_with(CALLBACK));
        let params = redirect.redirect_params();
        assert_eq!(params["state"], "st4te");
        assert_eq!(params["iss"], server.issuer, "RFC 9207");
        let code = params["code"].clone();

        let response = flow.redeem(&code, &flow.verifier).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let tokens: Value = response.json().await.unwrap();
        assert_eq!(tokens["scope"], "read:orders");
        let (_, claims) = verify(
            tokens["access_token"].as_str().unwrap(),
            &server.jwks().await,
        );
        assert_eq!(claims["sub"], flow.user_id);
        assert_eq!(claims["client_id"], flow.client.id);
        assert!(claims["auth_time"].as_i64().is_some());
        let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        // Rotation: each use returns a new refresh token; a narrower scope is allowed.
        let response = flow.refresh(&first_refresh, Some("read:orders")).await;
        assert_eq!(response.status(), 200);
        let refreshed: Value = response.json().await.unwrap();
        let second_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(second_refresh, first_refresh);
        let (_, claims) = verify(
            refreshed["access_token"].as_str().unwrap(),
            &server.jwks().await,
        );
        assert_eq!(claims["sub"], flow.user_id);

        // Broader scope than granted.
        let (status, error) =
            error_of(flow.refresh(&second_refresh, Some("write:orders")).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_scope"));
    }
);

server_test!(
    reusing_a_rotated_refresh_token_revokes_the_family,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        let code = flow.approve(&mut browser, &[]).await.redirect_params()["code"].clone();
        let tokens: Value = flow
            .redeem(&code, &flow.verifier)
            .await
            .json()
            .await
            .unwrap();
        let old = tokens["refresh_token"].as_str().unwrap().to_owned();
        let next: Value = flow.refresh(&old, None).await.json().await.unwrap();
        let current = next["refresh_token"].as_str().unwrap().to_owned();
        let (_, error) = error_of(flow.refresh(&old, None).await).await;
        assert_eq!(error, "invalid_grant");
        // The legitimate holder's current token died with the family.
        let (_, error) = error_of(flow.refresh(&current, None).await).await;
        assert_eq!(error, "invalid_grant");
    }
);

server_test!(
    a_second_redemption_fails_and_revokes_what_the_code_issued,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        let code = flow.approve(&mut browser, &[]).await.redirect_params()["code"].clone();
        let tokens: Value = flow
            .redeem(&code, &flow.verifier)
            .await
            .json()
            .await
            .unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        // A resource server sees the access token as active before the reuse.
        let rs = flow
            .server
            .create_app_with(
                AuthMethod::ClientSecretBasic,
                &[],
                "",
                &[],
                latchkey_core::client::ClientPolicy {
                    introspect_any: true,
                    ..Default::default()
                },
            )
            .await;
        let introspect = |token: String| {
            let server = &flow.server;
            let rs = &rs;
            async move {
                let response = server
                    .http
                    .post(format!("{}/introspect", server.issuer))
                    .header("authorization", basic(&rs.id, &rs.secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(crate::harness::form_encode(&[("token", &token)]))
                    .send()
                    .await
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                body["active"].as_bool().unwrap()
            }
        };
        assert!(introspect(access.clone()).await);

        let (status, error) = error_of(flow.redeem(&code, &flow.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        let (_, error) = error_of(flow.refresh(&refresh, None).await).await;
        assert_eq!(
            error, "invalid_grant",
            "tokens from a reused code are revoked"
        );
        assert!(
            !introspect(access).await,
            "the access token issued from the reused code is revoked too"
        );
    }
);

server_test!(
    token_requests_that_break_a_binding_are_refused,
    |db: TestDatabase| async move {
        let flow = setup(&db, "[tokens]\ncode_ttl = \"1s\"", AuthMethod::None).await;
        let server = &flow.server;
        let mut browser = Browser::new();
        flow.approve(&mut browser, &[]).await;

        // Wrong verifier.
        let code = flow.remembered_code(&mut browser).await;
        let (_, error) = error_of(flow.redeem(&code, &pkce().0).await).await;
        assert_eq!(error, "invalid_grant");
        // Wrong redirect_uri.
        let code = flow.remembered_code(&mut browser).await;
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://app.example/other"),
                    ("code_verifier", &flow.verifier),
                    ("client_id", &flow.client.id),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_grant");
        // Another client.
        let other = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "read:orders",
                &[CALLBACK],
            )
            .await;
        let code = flow.remembered_code(&mut browser).await;
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &flow.verifier),
                    ("client_id", &other.id),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_grant");
        // Expired (code_ttl is 1s here).
        let code = flow.remembered_code(&mut browser).await;
        server.clock.advance(std::time::Duration::from_millis(2100));
        assert_eq!(
            error_of(flow.redeem(&code, &flow.verifier).await).await.1,
            "invalid_grant"
        );
        // A code that never existed.
        assert_eq!(
            error_of(flow.redeem("made-up", &flow.verifier).await)
                .await
                .1,
            "invalid_grant"
        );
        // A public client may not pretend to hold a secret.
        let code = flow.remembered_code(&mut browser).await;
        let response = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &flow.verifier),
                ],
                Some(basic(&flow.client.id, "guess")),
            )
            .await;
        assert_eq!(error_of(response).await, (401, "invalid_client".to_owned()));
    }
);

server_test!(
    a_confidential_client_must_authenticate_to_redeem,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::ClientSecretBasic).await;
        let mut browser = Browser::new();
        let code = flow.approve(&mut browser, &[]).await.redirect_params()["code"].clone();
        let unauthenticated = flow
            .server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &flow.verifier),
                    ("client_id", &flow.client.id),
                ],
                None,
            )
            .await;
        assert_eq!(
            error_of(unauthenticated).await,
            (401, "invalid_client".to_owned())
        );
        // Authentication failed before the code was looked at, so the code is still good.
        let response = flow.redeem(&code, &flow.verifier).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        assert!(tokens["refresh_token"].is_string());
    }
);

server_test!(
    consent_is_remembered_for_the_same_or_fewer_scopes,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        flow.approve(&mut browser, &[]).await;
        // Same scopes: straight back to the client.
        let again = browser.get(&flow.authorize_url(&[])).await;
        assert_eq!(again.status, 303);
        assert!(again.redirect_params().contains_key("code"));
        // More scopes: the consent page again.
        let more = browser
            .get(&flow.authorize_url(&[("scope", "read:orders write:orders")]))
            .await;
        assert_eq!(more.status, 200);
        assert!(more.body.contains("/consent\""));
        let approved = browser.decide(&flow.server, &more, "approve").await;
        assert_eq!(approved.status, 303);
        // Fewer than everything approved so far: remembered.
        let fewer = browser
            .get(&flow.authorize_url(&[("scope", "write:orders")]))
            .await;
        assert_eq!(fewer.status, 303);
        // prompt=consent asks anyway.
        let forced = browser
            .get(&flow.authorize_url(&[("prompt", "consent")]))
            .await;
        assert_eq!(forced.status, 200);
        assert!(forced.body.contains("/consent\""));
        // Another resource is another consent.
        let other = browser
            .get(&flow.authorize_url(&[("resource", "https://api.example/orders")]))
            .await;
        assert_eq!(other.status, 200);
        assert!(
            other.body.contains("https://api.example/orders"),
            "the resource is shown"
        );
    }
);

server_test!(
    denying_returns_access_denied_to_the_client,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        let login = browser.get(&flow.authorize_url(&[])).await;
        let consent = browser
            .sign_in(&flow.server, &login, "alice", "correct horse battery")
            .await;
        let denied = browser.decide(&flow.server, &consent, "deny").await;
        assert_eq!(denied.status, 303);
        let params = denied.redirect_params();
        assert_eq!(params["error"], "access_denied");
        assert_eq!(params["state"], "st4te");
        assert_eq!(params["iss"], flow.server.issuer);
        assert!(!params.contains_key("code"));
        // Nothing was remembered.
        let again = browser.get(&flow.authorize_url(&[])).await;
        assert_eq!(again.status, 200);
    }
);

server_test!(prompt_values_are_honoured, |db: TestDatabase| async move {
    let flow = setup(&db, "", AuthMethod::None).await;
    let mut browser = Browser::new();
    let none = browser
        .get(&flow.authorize_url(&[("prompt", "none")]))
        .await;
    assert_eq!(none.status, 303);
    assert_eq!(none.redirect_params()["error"], "login_required");
    // Signed in but not yet approved.
    let login = browser.get(&flow.authorize_url(&[])).await;
    browser
        .sign_in(&flow.server, &login, "alice", "correct horse battery")
        .await;
    let none = browser
        .get(&flow.authorize_url(&[("prompt", "none")]))
        .await;
    assert_eq!(none.redirect_params()["error"], "consent_required");
    // Approved: prompt=none answers at once with a code.
    let consent = browser.get(&flow.authorize_url(&[])).await;
    browser.decide(&flow.server, &consent, "approve").await;
    let none = browser
        .get(&flow.authorize_url(&[("prompt", "none")]))
        .await;
    assert!(none.redirect_params().contains_key("code"));
    // prompt=login shows the login page despite the session, and a new login then succeeds.
    let login = browser
        .get(&flow.authorize_url(&[("prompt", "login")]))
        .await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("/login\""));
    let done = browser
        .sign_in(&flow.server, &login, "alice", "correct horse battery")
        .await;
    assert_eq!(done.status, 303, "consent is remembered: {}", done.body);
    assert!(done.redirect_params().contains_key("code"));
});

server_test!(
    untrusted_requests_get_an_error_page_and_others_redirect_with_the_error,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        for (extra, why) in [
            (vec![("client_id", "unknown")], "unknown client"),
            (
                vec![("redirect_uri", "https://evil.example/callback")],
                "unregistered redirect",
            ),
            (
                vec![("redirect_uri", "https://app.example/callback/")],
                "not an exact match",
            ),
            (vec![("client_id", "")], "no client"),
        ] {
            let page = browser.get(&flow.authorize_url(&extra)).await;
            assert_eq!(page.status, 400, "{why}");
            assert!(
                page.headers.get("location").is_none(),
                "{why}: nothing is redirected"
            );
            assert!(page.body.contains("invalid_request"), "{why}");
            assert_eq!(page.headers["x-frame-options"], "DENY");
        }
        for (extra, expected) in [
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("code_challenge_method", "")], "invalid_request"),
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (vec![("scope", "admin")], "invalid_scope"),
            (vec![("resource", "/relative")], "invalid_target"),
            (vec![("prompt", "none login")], "invalid_request"),
        ] {
            let page = browser.get(&flow.authorize_url(&extra)).await;
            assert_eq!(page.status, 303, "{extra:?}");
            let params = page.redirect_params();
            assert_eq!(params["error"], expected, "{extra:?}");
            assert_eq!(params["state"], "st4te");
            assert_eq!(params["iss"], flow.server.issuer);
        }
        // RFC 8252 §7.3: a native client's loopback redirect may use any port.
        let native = browser
            .get(&flow.authorize_url(&[("redirect_uri", "http://127.0.0.1:53123/native")]))
            .await;
        assert_eq!(native.status, 200);
        let csp = native.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("http://127.0.0.1:53123"), "{csp}");
    }
);

server_test!(
    forms_without_a_valid_csrf_token_are_refused,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        let login = browser.get(&flow.authorize_url(&[])).await;
        let (action, fields) = login.form("/login");
        let mut forged: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| k != "csrf_token")
            .cloned()
            .collect();
        forged.push(("username".into(), "alice".into()));
        forged.push(("password".into(), "correct horse battery".into()));
        let page = browser.post(&flow.server.url(&action), &forged).await;
        assert_eq!(page.status, 403);
        // A token from another browser.
        let mut other = Browser::new();
        let page = other
            .post(&flow.server.url(&action), &{
                let mut f = fields.clone();
                f.push(("username".into(), "alice".into()));
                f.push(("password".into(), "correct horse battery".into()));
                f
            })
            .await;
        assert_eq!(page.status, 403);
        assert!(!other.cookies.contains_key("latchkey_session"));
    }
);

server_test!(
    failed_logins_say_the_same_for_unknown_users_and_then_lock,
    |db: TestDatabase| async move {
        let flow = setup(
            &db,
            "[login]\ndelay_after = 2\nlock_after = 3",
            AuthMethod::None,
        )
        .await;
        let mut browser = Browser::new();
        let login = browser.get(&flow.authorize_url(&[])).await;
        let wrong = browser
            .sign_in(&flow.server, &login, "alice", "wrong password")
            .await;
        assert_eq!(wrong.status, 401);
        let unknown = browser
            .sign_in(&flow.server, &login, "mallory", "wrong password")
            .await;
        assert_eq!(unknown.status, 401);
        let message = "The username or password is incorrect.";
        assert!(wrong.body.contains(message) && unknown.body.contains(message));
        assert!(wrong.body.contains("role=\"alert\""));
        for _ in 0..2 {
            browser
                .sign_in(&flow.server, &login, "alice", "wrong password")
                .await;
        }
        // Locked: even the right password is refused for now, and the page says why.
        let locked = browser
            .sign_in(&flow.server, &login, "alice", "correct horse battery")
            .await;
        assert_eq!(locked.status, 429);
        assert!(locked.body.contains("Too many failed attempts"));
        assert!(!browser.cookies.contains_key("latchkey_session"));
        // An unknown username locks the same way, so locking reveals nothing.
        for _ in 0..2 {
            browser.sign_in(&flow.server, &login, "mallory", "x").await;
        }
        let locked = browser.sign_in(&flow.server, &login, "mallory", "x").await;
        assert_eq!(locked.status, 429);
    }
);

server_test!(
    pages_speak_spanish_when_asked,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        browser.accept_language = Some("es-ES,es;q=0.9,en;q=0.5".into());
        let login = browser.get(&flow.authorize_url(&[])).await;
        assert!(login.body.contains("<html lang=\"es\">"));
        assert!(login.body.contains("Iniciar sesión"));
        let consent = browser
            .sign_in(&flow.server, &login, "alice", "correct horse battery")
            .await;
        assert!(
            consent.body.contains("Leer tus pedidos"),
            "translated scope description"
        );
        assert!(consent.body.contains("Permitir"));
        // ui_locales beats Accept-Language.
        let mut english = Browser::new();
        english.accept_language = Some("es".into());
        let page = english
            .get(&flow.authorize_url(&[("ui_locales", "en")]))
            .await;
        assert!(page.body.contains("<html lang=\"en\">"));
        assert!(page.body.contains("Sign in"));
    }
);

server_test!(
    interop_a_state_that_is_not_utf8_is_refused_never_decoded_lossily,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        // Client and redirect trusted: the error goes back, without the undecodable state.
        let url = flow.authorize_url(&[("state", "")]) + "&state=%FF%FE";
        let page = browser.get(&url).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let sent = page.redirect_params();
        assert_eq!(sent["error"], "invalid_request");
        assert!(!sent.contains_key("state"));
        assert!(sent["error_description"].contains("state"));
        // The redirect URI itself broken: an error page, nothing redirected.
        let url = flow.authorize_url(&[("redirect_uri", "")])
            + "&redirect_uri=https%3A%2F%2Fapp.example%2F%FF";
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("invalid_request"));
        // Forms too: the token endpoint refuses, as JSON.
        let response = flow
            .server
            .http
            .post(format!("{}/token", flow.server.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=authorization_code&code=%FF%FE&client_id={}",
                flow.client.id
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await,
            (400, "invalid_request".to_owned())
        );
        flow.server.stop().await;
    }
);

server_test!(
    l5_a_form_token_from_before_sign_in_is_refused_after_it,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let mut browser = Browser::new();
        let login = browser.get(&flow.authorize_url(&[])).await;
        // A dev issuer (http loopback): plain cookie names, Path=/, no Secure.
        let set = login.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.starts_with("latchkey_browser=") && set.contains("Path=/;"),
            "{set}"
        );
        let (_, before) = login.form("/login");
        let consent = browser
            .sign_in(&flow.server, &login, "alice", "correct horse battery")
            .await;
        let (action, mut after) = consent.form("/consent");
        let token = |fields: &[(String, String)]| {
            fields
                .iter()
                .find(|(n, _)| n == "csrf_token")
                .unwrap()
                .1
                .clone()
        };
        assert_ne!(token(&before), token(&after), "bound to the new session");
        // The browser-only token (what a planted browser cookie would give an attacker) is refused.
        for (name, value) in after.iter_mut() {
            if name == "csrf_token" {
                *value = token(&before);
            }
        }
        after.push(("decision".into(), "approve".into()));
        let refused = browser.post(&flow.server.url(&action), &after).await;
        assert_eq!(refused.status, 403);
        let done = browser.decide(&flow.server, &consent, "approve").await;
        assert_eq!(done.status, 303);
        flow.server.stop().await;
    }
);

server_test!(
    l2_a_refused_code_or_refresh_request_spends_nothing,
    |db: TestDatabase| async move {
        let flow = setup(&db, "", AuthMethod::None).await;
        let other = flow
            .server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                "read:orders",
                &[CALLBACK],
            )
            .await;
        let mut browser = Browser::new();
        let done = flow.approve(&mut browser, &[]).await;
        let code = done.redirect_params()["code"].clone();
        // A wrong verifier, then another client: refused, and the code is still good.
        let (wrong, _) = pkce();
        assert_eq!(
            error_of(flow.redeem(&code, &wrong).await).await,
            (400, "invalid_grant".to_owned())
        );
        let stolen = flow
            .server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &flow.verifier),
                    ("client_id", &other.id),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(stolen).await, (400, "invalid_grant".to_owned()));
        let response = flow.redeem(&code, &flow.verifier).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // A broader scope, then another client presenting it: refused, and the token still rotates
        // for its owner without tripping reuse detection.
        assert_eq!(
            error_of(flow.refresh(&refresh, Some("read:orders admin")).await).await,
            (400, "invalid_scope".to_owned())
        );
        let stolen = flow
            .server
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &other.id),
                ],
                None,
            )
            .await;
        assert_eq!(error_of(stolen).await, (400, "invalid_grant".to_owned()));
        let rotated = flow.refresh(&refresh, None).await;
        assert_eq!(rotated.status(), 200);
        flow.server.stop().await;
    }
);
