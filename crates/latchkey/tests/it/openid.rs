//! OpenID Connect Provider tests, driven by an independent relying-party library (`openidconnect`)
//! over HTTP. Each test is named after the OpenID Foundation conformance-suite module it mirrors
//! (`oidcc-server` → `oidcc_server`), so the Basic and Config plans' coverage reads off this list.
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::UserStore;
use latchkey_store::testing::TestDatabase;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use serde_json::Value;

use crate::browser::{Browser, Page};
use crate::harness::{TestClient, TestServer, server_test};

/// The relying party as `from_provider_metadata` builds it.
type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

const REDIRECT: &str = "https://rp.example/cb";
const PASSWORD: &str = "correct horse battery";

/// The relying party's HTTP: the workspace's reqwest, no redirects followed.
async fn http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut builder = client
        .request(request.method().clone(), request.uri().to_string())
        .body(request.body().clone());
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    let response = builder.send().await?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    Ok(out
        .body(response.bytes().await?.to_vec())
        .expect("status and headers came from a response"))
}

/// A server with OpenID on, and extra configuration.
async fn provider(db: &TestDatabase, toml: &str) -> TestServer {
    TestServer::builder()
        .toml(&format!("[openid]\nenabled = true\n{toml}"))
        .start(db)
        .await
}

/// A confidential client for the code flow with OpenID scopes.
async fn rp_client(server: &TestServer) -> TestClient {
    server
        .create_app(
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "openid profile email address phone",
            &[REDIRECT],
        )
        .await
}

/// Discovery through the library, and the client it configures.
async fn discover(server: &TestServer, client: &TestClient) -> Rp {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("the library accepts the OpenID configuration");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        Some(ClientSecret::new(client.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

/// Adds María with claims for every scope; returns her user id.
async fn maria(server: &TestServer) -> String {
    let id = server.create_user("maria", PASSWORD).await;
    let mut user = server.store.find_user(&id).await.unwrap().unwrap();
    for (claim, value) in [
        ("name", "María García"),
        ("given_name", "María"),
        ("family_name", "García"),
        ("email", "maria@example.com"),
        ("email_verified", "true"),
        ("locale", "es-ES"),
        ("phone_number", "+34600000000"),
        ("locality", "Madrid"),
        ("country", "España"),
    ] {
        user.set_claim(claim, Some(value)).unwrap();
    }
    assert!(server.store.update_user(&user).await.unwrap());
    id
}

/// One authorization request from the library: its URL and what the RP keeps.
struct Started {
    url: String,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

fn start(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Started {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    Started {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// Signs in on the login page and approves on the consent page (if shown); returns the redirect.
async fn sign_in_and_approve(
    server: &TestServer,
    browser: &mut Browser,
    url: &str,
    username: &str,
) -> Page {
    let login = browser.get(url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let next = browser.sign_in(server, &login, username, PASSWORD).await;
    approve_if_asked(server, browser, next).await
}

async fn approve_if_asked(server: &TestServer, browser: &mut Browser, page: Page) -> Page {
    if page.status == 200 && page.body.contains("/consent\"") {
        browser.decide(server, &page, "approve").await
    } else {
        page
    }
}

/// The code from a successful redirect, after checking `state` and `iss`.
fn code_of(page: &Page, started: &Started, server: &TestServer) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    let params = page.redirect_params();
    assert_eq!(
        params.get("state").map(String::as_str),
        Some(started.state.secret().as_str())
    );
    assert_eq!(params.get("iss"), Some(&server.issuer));
    params
        .get("code")
        .unwrap_or_else(|| panic!("no code: {params:?}"))
        .clone()
}

/// Redeems the code and has the library validate the ID token: signature from the JWKS, `iss`,
/// `aud`, `exp`, `nonce`, and `at_hash` over the access token.
async fn redeem(
    rp: &Rp,
    code: String,
    started: Started,
) -> (
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreIdTokenClaims,
) {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(started.verifier)
        .request_async(&http)
        .await
        .expect("the token response parses");
    let id_token = tokens.id_token().expect("an ID token for the openid scope");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &started.nonce)
        .expect("the ID token validates")
        .clone();
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    (tokens, claims)
}

/// The whole flow for `username` with these scopes and parameters.
async fn sign_in_flow(
    server: &TestServer,
    rp: &Rp,
    browser: &mut Browser,
    username: &str,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> (
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreIdTokenClaims,
) {
    let started = start(rp, scopes, extra);
    let page = sign_in_and_approve(server, browser, &started.url, username).await;
    let code = code_of(&page, &started, server);
    redeem(rp, code, started).await
}

server_test!(oidcc_server, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    let user_id = maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (tokens, claims) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    assert_eq!(claims.issuer().as_str(), server.issuer);
    assert_eq!(claims.subject().as_str(), user_id, "public subject");
    assert_eq!(claims.audiences()[0].as_str(), client.id);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    // Scope claims go to UserInfo, not into the ID token (Core §5.4).
    assert!(claims.email().is_none());
    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo answers for the same sub");
    assert_eq!(info.subject().as_str(), user_id);
    assert!(info.email().is_none(), "only openid was asked for");
    server.stop().await;
});

server_test!(oidcc_scope_all, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (tokens, claims) = sign_in_flow(
        &server,
        &rp,
        &mut browser,
        "maria",
        &["profile", "email", "address", "phone"],
        &[],
    )
    .await;
    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().unwrap().as_str(), "maria@example.com");
    assert_eq!(info.email_verified(), Some(true));
    assert_eq!(
        info.given_name().unwrap().get(None).unwrap().as_str(),
        "María"
    );
    assert_eq!(info.preferred_username().unwrap().as_str(), "maria");
    assert_eq!(info.phone_number().unwrap().as_str(), "+34600000000");
    assert_eq!(info.phone_number_verified(), Some(false));
    let address = info.address().unwrap();
    assert_eq!(address.locality.as_ref().unwrap().as_str(), "Madrid");
    assert!(info.updated_at().is_some());
    server.stop().await;
});

/// The authorization URL with one parameter removed (the library always sends a nonce).
fn without(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    parsed.into()
}

/// A parameter added to a URL.
fn with(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs_mut().append_pair(name, value);
    parsed.into()
}

/// A UserInfo call by hand: the response's status, `WWW-Authenticate` and body.
async fn userinfo_call(
    server: &TestServer,
    request: reqwest::RequestBuilder,
) -> (u16, Option<String>, Value) {
    let _ = server;
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

fn userinfo_url(server: &TestServer) -> String {
    format!("{}/userinfo", server.issuer)
}

server_test!(
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let started = start(&rp, &[], &[]);
        let mut browser = Browser::new();
        let url = without(&started.url, "nonce");
        let page = sign_in_and_approve(&server, &mut browser, &url, "maria").await;
        let code = code_of(&page, &started, &server);
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(started.verifier)
            .request_async(&http)
            .await
            .unwrap();
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(
                &rp.id_token_verifier(),
                |nonce: Option<&Nonce>| match nonce {
                    None => Ok(()),
                    Some(_) => Err("a nonce was not sent, so none may come back".to_owned()),
                },
            )
            .unwrap();
        assert!(claims.nonce().is_none());
        server.stop().await;
    }
);

server_test!(oidcc_userinfo_post_body, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    let user_id = maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (tokens, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &["email"], &[]).await;
    let token = tokens.access_token().secret().clone();
    let url = userinfo_url(&server);
    // oidcc-userinfo-post-body: the token in a form body.
    let (status, _, body) = userinfo_call(
        &server,
        server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={token}")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], user_id);
    assert_eq!(body["email"], "maria@example.com");
    // oidcc-userinfo-post-header: POST with the Bearer header.
    let (status, _, body) =
        userinfo_call(&server, server.http.post(&url).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["sub"], user_id);
    // oidcc-userinfo-get, with CORS for browser apps.
    let response = server
        .http
        .get(&url)
        .bearer_auth(&token)
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(response.headers()["cache-control"], "no-store");
    // Both at once is ambiguous (RFC 6750 §2).
    let (status, _, body) = userinfo_call(
        &server,
        server
            .http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={token}")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    server.stop().await;
});

server_test!(
    userinfo_refuses_bad_tokens_with_bearer_challenges,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let url = userinfo_url(&server);
        let (status, challenge, _) = userinfo_call(&server, server.http.get(&url)).await;
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
        let (status, challenge, body) =
            userinfo_call(&server, server.http.get(&url).bearer_auth("not-a-token")).await;
        assert_eq!(status, 401);
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
        assert_eq!(body["error"], "invalid_token");
        // An access token without `openid` (client_credentials here) is insufficient_scope, 403.
        let machine = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "openid",
            )
            .await;
        let token = server.client_credentials(&machine).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, challenge, _) =
            userinfo_call(&server, server.http.get(&url).bearer_auth(&token)).await;
        // client_credentials may carry the openid scope string, but no user's grant stands behind it.
        assert_eq!(status, 401, "{challenge:?}");
        let plain = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "read",
            )
            .await;
        let token = server.client_credentials(&plain).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, challenge, body) =
            userinfo_call(&server, server.http.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 403);
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer error=\"insufficient_scope\", scope=\"openid\"")
        );
        assert_eq!(body["error"], "insufficient_scope");
        server.stop().await;
    }
);

server_test!(
    oidcc_prompt_none_not_logged_in,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        let rp = discover(&server, &client).await;
        let started = start(&rp, &[], &[("prompt", "none")]);
        let page = Browser::new().get(&started.url).await;
        assert_eq!(page.status, 303);
        let params = page.redirect_params();
        assert_eq!(params["error"], "login_required");
        assert_eq!(&params["state"], started.state.secret());
        server.stop().await;
    }
);

server_test!(oidcc_prompt_none_logged_in, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (_, first) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    let started = start(&rp, &[], &[("prompt", "none")]);
    let page = browser.get(&started.url).await;
    let code = code_of(&page, &started, &server);
    let (_, second) = redeem(&rp, code, started).await;
    assert_eq!(second.subject(), first.subject());
    assert_eq!(second.auth_time(), first.auth_time(), "the same sign-in");
    server.stop().await;
});

server_test!(oidcc_prompt_login, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    let started = start(&rp, &[], &[("prompt", "login")]);
    let page = browser.get(&started.url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/login\""), "the login page again");
    server.stop().await;
});

server_test!(oidcc_max_age_1, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (_, first) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    // The session must be more than a second old for max_age=1 to ask again.
    server.clock.advance(std::time::Duration::from_millis(2100));
    let started = start(&rp, &[], &[("max_age", "1")]);
    let login = browser.get(&started.url).await;
    assert!(
        login.body.contains("/login\""),
        "a fresh sign-in is required"
    );
    let next = browser.sign_in(&server, &login, "maria", PASSWORD).await;
    let page = approve_if_asked(&server, &mut browser, next).await;
    let code = code_of(&page, &started, &server);
    let (_, second) = redeem(&rp, code, started).await;
    assert!(second.auth_time().unwrap() > first.auth_time().unwrap());
    // With a fresh session, max_age=10000 does not ask (oidcc-max-age-10000).
    let started = start(&rp, &[], &[("max_age", "10000"), ("prompt", "none")]);
    let page = browser.get(&started.url).await;
    code_of(&page, &started, &server);
    server.stop().await;
});

server_test!(oidcc_id_token_hint, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    server.create_user("jose", PASSWORD).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (tokens, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    let hint = tokens.id_token().unwrap().to_string();
    // The hinted user is the signed-in one: a code at once.
    let started = start(&rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let page = browser.get(&started.url).await;
    code_of(&page, &started, &server);
    // Another person's hint while María is signed in: login_required.
    let mut other = Browser::new();
    let (jose_tokens, _) = sign_in_flow(&server, &rp, &mut other, "jose", &[], &[]).await;
    let jose_hint = jose_tokens.id_token().unwrap().to_string();
    let started = start(
        &rp,
        &[],
        &[("prompt", "none"), ("id_token_hint", &jose_hint)],
    );
    let page = browser.get(&started.url).await;
    assert_eq!(page.redirect_params()["error"], "login_required");
    // Something that is not our ID token: invalid_request.
    let started = start(
        &rp,
        &[],
        &[("prompt", "none"), ("id_token_hint", "e30.e30.sig")],
    );
    let page = browser.get(&started.url).await;
    assert_eq!(page.redirect_params()["error"], "invalid_request");
    server.stop().await;
});

server_test!(oidcc_login_hint, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    let rp = discover(&server, &client).await;
    let started = start(&rp, &[], &[("login_hint", "maria")]);
    let page = Browser::new().get(&started.url).await;
    assert!(page.body.contains("value=\"maria\""), "{}", page.body);
    server.stop().await;
});

server_test!(
    oidcc_ensure_registered_redirect_uri,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        let rp = discover(&server, &client).await;
        let started = start(&rp, &[], &[]);
        let url = with(
            &without(&started.url, "redirect_uri"),
            "redirect_uri",
            "https://evil.example/cb",
        );
        let page = Browser::new().get(&url).await;
        assert_eq!(page.status, 400);
        assert!(!page.headers.contains_key("location"), "never redirected");
        server.stop().await;
    }
);

server_test!(oidcc_refresh_token, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (tokens, first) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    let refreshed = rp
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let id_token = refreshed.id_token().expect("a new ID token on refresh");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, |nonce: Option<&Nonce>| match nonce {
            None => Ok(()),
            Some(_) => Err("no nonce on refresh (Core §12.2)".to_owned()),
        })
        .unwrap();
    assert_eq!(claims.subject(), first.subject());
    assert_eq!(
        claims.auth_time(),
        first.auth_time(),
        "the original sign-in"
    );
    assert_ne!(id_token.to_string(), tokens.id_token().unwrap().to_string());
    let expected = AccessTokenHash::from_token(
        refreshed.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    server.stop().await;
});

server_test!(oidcc_claims_essential, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null}}"#;
    let started = start(&rp, &[], &[("claims", claims)]);
    let mut browser = Browser::new();
    let login = browser.get(&started.url).await;
    let consent = browser.sign_in(&server, &login, "maria", PASSWORD).await;
    // The consent page lists what will be shared, with the values and the essential mark.
    assert_eq!(consent.status, 200, "{:?}", consent.headers.get("location"));
    assert!(
        consent.body.contains("maria@example.com"),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("(needed)"));
    assert!(consent.body.contains("María García"));
    let page = browser.decide(&server, &consent, "approve").await;
    let code = code_of(&page, &started, &server);
    let (tokens, id) = redeem(&rp, code, started).await;
    assert_eq!(id.email().unwrap().as_str(), "maria@example.com");
    assert!(id.name().is_none(), "name was asked for UserInfo only");
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), Some(id.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        info.name().unwrap().get(None).unwrap().as_str(),
        "María García"
    );
    // Consent is remembered for the scopes; claims beyond them bring the page back, and prompt=none
    // then cannot answer with a code.
    let started = start(&rp, &[], &[("claims", claims), ("prompt", "none")]);
    let page = browser.get(&started.url).await;
    assert_eq!(page.redirect_params()["error"], "consent_required");
    let started = start(&rp, &[], &[("prompt", "none")]);
    code_of(&browser.get(&started.url).await, &started, &server);
    server.stop().await;
});

server_test!(
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        let rp = discover(&server, &client).await;
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
            let started = start(&rp, &[], &[(name, value)]);
            let page = Browser::new().get(&started.url).await;
            assert_eq!(page.redirect_params()["error"], error);
        }
        // The metadata says so.
        let doc = server.metadata().await;
        assert_eq!(doc["request_parameter_supported"], false);
        assert_eq!(doc["request_uri_parameter_supported"], false);
        server.stop().await;
    }
);

server_test!(
    oidcc_ensure_request_with_unknown_parameter_succeeds,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        // Unknown parameters, display (page, popup), ui_locales, claims_locales and acr_values are
        // accepted; the scope order does not matter.
        let mut browser = Browser::new();
        let extra = [
            ("x_unknown", "1"),
            ("display", "popup"),
            ("ui_locales", "es"),
            ("claims_locales", "es"),
            ("acr_values", "1 2"),
        ];
        let started = start(&rp, &["email", "profile"], &extra);
        let login = browser.get(&started.url).await;
        assert!(
            login.body.contains("lang=\"es\""),
            "ui_locales picks Spanish"
        );
        let next = browser.sign_in(&server, &login, "maria", PASSWORD).await;
        let page = approve_if_asked(&server, &mut browser, next).await;
        let code = code_of(&page, &started, &server);
        let (_, claims) = redeem(&rp, code, started).await;
        // acr_values asks for acr as a voluntary claim: the context that was met comes back.
        assert_eq!(
            claims.auth_context_ref().map(|a| a.as_str()),
            Some(latchkey_core::oidc::ACR_PASSWORD)
        );
        let started = start(&rp, &["profile", "email"], &[("display", "page")]);
        let page = browser.get(&started.url).await;
        code_of(&page, &started, &server);
        server.stop().await;
    }
);

server_test!(oidcc_codereuse, |db: TestDatabase| async move {
    let server = provider(&db, "").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let started = start(&rp, &[], &[]);
    let page = sign_in_and_approve(&server, &mut browser, &started.url, "maria").await;
    let code = code_of(&page, &started, &server);
    let (tokens, _) = redeem(
        &rp,
        code.clone(),
        Started {
            url: String::new(),
            state: started.state.clone(),
            nonce: started.nonce.clone(),
            verifier: PkceCodeVerifier::new(started.verifier.secret().clone()),
        },
    )
    .await;
    let again = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(started.verifier)
        .request_async(&http)
        .await;
    assert!(again.is_err(), "a code is single use");
    // oidcc-codereuse-30seconds: the first redemption's access token is revoked too.
    let (status, _, _) = userinfo_call(
        &server,
        server
            .http
            .get(userinfo_url(&server))
            .bearer_auth(tokens.access_token().secret()),
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
});

/// A client with OpenID metadata set directly, as `client create` or registration would store it.
async fn rp_client_with(
    server: &TestServer,
    redirect: &str,
    openid: latchkey_core::oidc::client::OpenIdClient,
) -> TestClient {
    server
        .create_app_with(
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "openid profile email",
            &[redirect],
            latchkey_core::client::ClientPolicy {
                openid,
                ..Default::default()
            },
        )
        .await
}

fn rp_for(rp: Rp, redirect: &str) -> Rp {
    rp.set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
}

async fn introspect(server: &TestServer, caller: &TestClient, token: &str) -> Value {
    server
        .http
        .post(format!("{}/introspect", server.issuer))
        .basic_auth(&caller.id, Some(&caller.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::harness::form_encode(&[("token", token)]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

server_test!(
    pairwise_subjects_differ_by_sector_and_agree_with_userinfo_and_introspection,
    |db: TestDatabase| async move {
        use latchkey_core::oidc::client::OpenIdClient;
        use latchkey_core::oidc::subject::SubjectType;
        let server = provider(&db, "").await;
        let user_id = maria(&server).await;
        let pairwise = |sector: &str| OpenIdClient {
            subject_type: SubjectType::Pairwise {
                sector: sector.into(),
            },
            ..OpenIdClient::default()
        };
        let a = rp_client_with(&server, "https://a.example/cb", pairwise("a.example")).await;
        let a2 = rp_client_with(&server, "https://a.example/cb2", pairwise("a.example")).await;
        let b = rp_client_with(&server, "https://b.example/cb", pairwise("b.example")).await;
        let mut browser = Browser::new();
        let mut subs = Vec::new();
        for (client, redirect) in [
            (&a, "https://a.example/cb"),
            (&a2, "https://a.example/cb2"),
            (&b, "https://b.example/cb"),
        ] {
            let rp = rp_for(discover(&server, client).await, redirect);
            let started = start(&rp, &["email"], &[]);
            let first = browser.get(&started.url).await;
            let page = if first.body.contains("/login\"") {
                let next = browser.sign_in(&server, &first, "maria", PASSWORD).await;
                approve_if_asked(&server, &mut browser, next).await
            } else {
                approve_if_asked(&server, &mut browser, first).await
            };
            let code = page.redirect_params()["code"].clone();
            let (tokens, claims) = redeem(&rp, code, started).await;
            let sub = claims.subject().as_str().to_owned();
            assert_ne!(sub, user_id, "the user id never reaches a pairwise client");
            // UserInfo agrees with the ID token (the library checks the expected subject).
            let info: CoreUserInfoClaims = rp
                .user_info(
                    tokens.access_token().clone(),
                    Some(claims.subject().clone()),
                )
                .unwrap()
                .request_async(&http)
                .await
                .unwrap();
            assert_eq!(info.email().unwrap().as_str(), "maria@example.com");
            // So do the access token and introspection, of both kinds of token, without username.
            let access = introspect(&server, client, tokens.access_token().secret()).await;
            assert_eq!(access["sub"], sub);
            assert!(access.get("username").is_none());
            let refresh =
                introspect(&server, client, tokens.refresh_token().unwrap().secret()).await;
            assert_eq!(refresh["sub"], sub);
            assert!(refresh.get("username").is_none());
            subs.push(sub);
        }
        assert_eq!(subs[0], subs[1], "one sector, one sub");
        assert_ne!(subs[0], subs[2], "another sector, another sub");
        server.stop().await;
    }
);

server_test!(
    rp_initiated_logout_with_a_hint_ends_the_session_and_returns_state,
    |db: TestDatabase| async move {
        use latchkey_core::oidc::client::OpenIdClient;
        use latchkey_core::types::RedirectUri;
        let server = provider(&db, "").await;
        maria(&server).await;
        let client = rp_client_with(
            &server,
            REDIRECT,
            OpenIdClient {
                post_logout_redirect_uris: vec![
                    RedirectUri::parse("https://rp.example/bye").unwrap(),
                ],
                ..OpenIdClient::default()
            },
        )
        .await;
        let metadata = openidconnect::ProviderMetadataWithLogout::discover_async(
            IssuerUrl::new(server.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .unwrap();
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()
            .expect("end_session_endpoint is published");
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        let (tokens, claims) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        assert!(claims.auth_time().is_some());
        let logout = openidconnect::LogoutRequest::from(end_session)
            .set_id_token_hint(tokens.id_token().unwrap())
            .set_post_logout_redirect_uri(
                openidconnect::PostLogoutRedirectUrl::new("https://rp.example/bye".into()).unwrap(),
            )
            .set_state(CsrfToken::new("bye-state".into()))
            .http_get_url();
        let page = browser.get(logout.as_str()).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), "https://rp.example/bye?state=bye-state");
        // The session is gone from the database, so every instance sees it ended.
        let started = start(&rp, &[], &[("prompt", "none")]);
        let after = browser.get(&started.url).await;
        assert_eq!(after.redirect_params()["error"], "login_required");
        // A redirect URI that was not registered is refused on a page, never followed.
        let stray = openidconnect::LogoutRequest::from(
            metadata
                .additional_metadata()
                .end_session_endpoint
                .clone()
                .unwrap(),
        )
        .set_client_id(ClientId::new(client.id.clone()))
        .set_post_logout_redirect_uri(
            openidconnect::PostLogoutRedirectUrl::new("https://evil.example/".into()).unwrap(),
        )
        .http_get_url();
        let refused = browser.get(stray.as_str()).await;
        assert_eq!(refused.status, 400);
        assert!(!refused.headers.contains_key("location"));
        server.stop().await;
    }
);

server_test!(
    rp_initiated_logout_without_a_hint_asks_first,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        let confirm = browser
            .get(&format!("{}/authorize/logout", server.issuer))
            .await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("Sign out?"), "{}", confirm.body);
        // Still signed in until the person confirms.
        let started = start(&rp, &[], &[("prompt", "none")]);
        code_of(&browser.get(&started.url).await, &started, &server);
        let (action, mut fields) = confirm.form("/authorize/logout");
        fields.push(("decision".into(), "logout".into()));
        let done = browser.post(&server.url(&action), &fields).await;
        assert_eq!(done.status, 200);
        assert!(done.body.contains("You are signed out"));
        let started = start(&rp, &[], &[("prompt", "none")]);
        let after = browser.get(&started.url).await;
        assert_eq!(after.redirect_params()["error"], "login_required");
        server.stop().await;
    }
);

server_test!(
    oidcc_discovery_endpoint_verification,
    |db: TestDatabase| async move {
        // An issuer with a path: the OpenID configuration is appended to it (Discovery §4) and
        // inserted before it (RFC 8414 §3), and the library accepts it.
        let server = TestServer::builder()
            .issuer_path("/tenant/a")
            .toml("[openid]\nenabled = true")
            .start(&db)
            .await;
        for path in [
            "/tenant/a/.well-known/openid-configuration",
            "/.well-known/openid-configuration/tenant/a",
            "/.well-known/oauth-authorization-server/tenant/a",
        ] {
            let doc: Value = server
                .http
                .get(format!("{}{path}", server.origin))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(doc["issuer"], server.issuer, "{path}");
            assert_eq!(
                doc["userinfo_endpoint"],
                format!("{}/userinfo", server.issuer)
            );
            assert_eq!(
                doc["subject_types_supported"],
                serde_json::json!(["public", "pairwise"])
            );
            let algs = doc["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap();
            assert!(algs.contains(&"RS256".into()));
            assert!(!algs.contains(&"none".into()));
            let scopes = doc["scopes_supported"].as_array().unwrap();
            assert!(scopes.contains(&"openid".into()));
            assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
            assert_eq!(doc["claims_parameter_supported"], true);
        }
        let client = rp_client(&server).await;
        discover(&server, &client).await;
        // Every advertised OpenID endpoint answers.
        let doc = server.metadata().await;
        for member in ["userinfo_endpoint", "end_session_endpoint", "jwks_uri"] {
            let status = server
                .http
                .get(doc[member].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .status();
            assert_ne!(status.as_u16(), 404, "{member}");
        }
        server.stop().await;
    }
);

server_test!(
    openid_off_publishes_nothing_of_it,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let doc = server.metadata().await;
        for member in [
            "userinfo_endpoint",
            "end_session_endpoint",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert!(doc.get(member).is_none(), "{member}");
        }
        for path in ["/.well-known/openid-configuration", "/userinfo", "/logout"] {
            let status = server
                .http
                .get(server.url(path))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 404, "{path}");
        }
        // With OpenID off, `openid` is an ordinary scope: no ID token comes back.
        let client = server
            .create_app(
                AuthMethod::ClientSecretBasic,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        server.create_user("maria", PASSWORD).await;
        let (verifier, challenge) = crate::browser::pkce();
        let url = server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", "n"),
        ]);
        let mut browser = Browser::new();
        let page = sign_in_and_approve(&server, &mut browser, &url, "maria").await;
        let code = page.redirect_params()["code"].clone();
        let body: Value = server
            .http
            .post(format!("{}/token", server.issuer))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::harness::form_encode(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body["access_token"].is_string());
        assert!(body.get("id_token").is_none());
        server.stop().await;
    }
);

server_test!(
    id_tokens_and_userinfo_are_signed_with_the_registered_algorithm,
    |db: TestDatabase| async move {
        use latchkey_core::keys::KeyAlg;
        use latchkey_core::oidc::client::OpenIdClient;
        let server = provider(&db, "").await;
        maria(&server).await;
        let mut browser = Browser::new();
        for alg in [KeyAlg::ES256, KeyAlg::EdDSA, KeyAlg::PS256] {
            let client = rp_client_with(
                &server,
                REDIRECT,
                OpenIdClient {
                    id_token_signed_response_alg: alg,
                    userinfo_signed_response_alg: Some(alg),
                    ..OpenIdClient::default()
                },
            )
            .await;
            let rp = discover(&server, &client).await;
            let started = start(&rp, &["email"], &[]);
            let first = browser.get(&started.url).await;
            let page = if first.body.contains("/login\"") {
                let next = browser.sign_in(&server, &first, "maria", PASSWORD).await;
                approve_if_asked(&server, &mut browser, next).await
            } else {
                approve_if_asked(&server, &mut browser, first).await
            };
            let code = code_of(&page, &started, &server);
            let tokens = rp
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(started.verifier)
                .request_async(&http)
                .await
                .unwrap();
            let id_token = tokens.id_token().unwrap().to_string();
            // The JWKS now holds a key of this algorithm, and the token verifies with it.
            let keys = server.jwks().await;
            let (header, claims) = crate::harness::verify(&id_token, &keys);
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["typ"], "JWT");
            assert_eq!(claims["nonce"], started.nonce.secret().as_str());
            // oidcc-userinfo-rs256 and friends: a signed UserInfo response.
            let response = server
                .http
                .get(userinfo_url(&server))
                .bearer_auth(tokens.access_token().secret())
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-type"], "application/jwt");
            let jwt = response.text().await.unwrap();
            let (header, info) = crate::harness::verify(&jwt, &keys);
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(info["sub"], claims["sub"]);
            assert_eq!(info["aud"], client.id);
            assert_eq!(info["iss"], server.issuer);
            assert_eq!(info["email"], "maria@example.com");
            // Each JWK names one algorithm and is published once.
            let algs: Vec<&str> = keys.iter().map(|k| k.alg.as_str()).collect();
            assert_eq!(algs.iter().filter(|a| **a == alg.as_str()).count(), 1);
        }
        server.stop().await;
    }
);

server_test!(oidcc_server_rotate_keys, |db: TestDatabase| async move {
    use latchkey_core::keys::KeyAlg;
    let server = provider(&db, "[keys]\nrefresh_interval = \"100ms\"").await;
    let client = rp_client(&server).await;
    maria(&server).await;
    let rp = discover(&server, &client).await;
    let mut browser = Browser::new();
    let (before, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
    let old_kid = crate::harness::header_of(&before.id_token().unwrap().to_string())["kid"].clone();
    // `keys rotate`: every current key, the RS256 one included, is replaced.
    let master = server.config.master_key().unwrap();
    let window = server.config.settings.keys.publish_window;
    let now = latchkey_server::clock::Clock::system().now();
    latchkey_server::keyring::rotate(&server.store, &master, KeyAlg::ES256, now, window)
        .await
        .unwrap();
    let current: Vec<_> = latchkey_store::KeyStore::list_keys(&server.store)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.alg)
        .collect();
    assert_eq!(current, [KeyAlg::ES256, KeyAlg::RS256]);
    crate::harness::eventually("the server loads the new keys", || async {
        server.jwks().await.len() == 4
    })
    .await;
    // A relying party that discovers again validates new ID tokens signed by the new key.
    let rp = discover(&server, &client).await;
    let started = start(&rp, &[], &[("prompt", "none")]);
    let code = code_of(&browser.get(&started.url).await, &started, &server);
    let (after, _) = redeem(&rp, code, started).await;
    let new_kid = crate::harness::header_of(&after.id_token().unwrap().to_string())["kid"].clone();
    assert_ne!(new_kid, old_kid);
    server.stop().await;
});

server_test!(
    registration_accepts_echoes_and_uses_the_openid_members,
    |db: TestDatabase| async move {
        let server = provider(&db, "[registration]\npolicy = \"open\"\nrate_limit = 50").await;
        maria(&server).await;
        let register = |body: Value| {
            server
                .http
                .post(format!("{}/register", server.issuer))
                .json(&body)
                .send()
        };
        let response = register(serde_json::json!({
            "client_name": "Recetas",
            "redirect_uris": [REDIRECT],
            "scope": "openid profile email",
            "id_token_signed_response_alg": "ES256",
            "subject_type": "pairwise",
            "default_max_age": 600,
            "require_auth_time": true,
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "logo_uri": "https://rp.example/logo.png",
            "policy_uri": "https://rp.example/privacy",
            "tos_uri": "https://rp.example/terms",
            "contacts": ["ops@rp.example"],
        }))
        .await
        .unwrap();
        assert_eq!(response.status(), 201);
        let registered: Value = response.json().await.unwrap();
        assert_eq!(registered["id_token_signed_response_alg"], "ES256");
        assert_eq!(registered["subject_type"], "pairwise");
        assert_eq!(registered["default_max_age"], 600);
        assert_eq!(
            registered["post_logout_redirect_uris"][0],
            "https://rp.example/bye"
        );
        assert_eq!(registered["logo_uri"], "https://rp.example/logo.png");
        assert_eq!(registered["contacts"][0], "ops@rp.example");
        let client = TestClient {
            id: registered["client_id"].as_str().unwrap().to_owned(),
            secret: registered["client_secret"].as_str().unwrap().to_owned(),
        };
        // The consent page shows the registered logo and links.
        let rp = discover(&server, &client).await;
        let started = start(&rp, &["email"], &[]);
        let mut browser = Browser::new();
        let login = browser.get(&started.url).await;
        let consent = browser.sign_in(&server, &login, "maria", PASSWORD).await;
        assert!(consent.body.contains("src=\"https://rp.example/logo.png\""));
        assert!(consent.body.contains("href=\"https://rp.example/privacy\""));
        assert!(consent.body.contains("href=\"https://rp.example/terms\""));
        let page = browser.decide(&server, &consent, "approve").await;
        let code = code_of(&page, &started, &server);
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(started.verifier)
            .request_async(&http)
            .await
            .unwrap();
        let (header, claims) = crate::harness::verify(
            &tokens.id_token().unwrap().to_string(),
            &server.jwks().await,
        );
        assert_eq!(header["alg"], "ES256");
        assert_ne!(claims["sub"], "maria");
        // Refused: what the server does not offer, and a sector document it cannot fetch.
        for (body, member) in [
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "none"}),
                "id_token_signed_response_alg",
            ),
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "subject_type": "ephemeral"}),
                "subject_type",
            ),
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "logo_uri": "http://rp.example/logo.png"}),
                "logo_uri",
            ),
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": "https://127.0.0.1:9/uris.json"}),
                "sector_identifier_uri",
            ),
        ] {
            let response = register(body).await.unwrap();
            assert_eq!(response.status(), 400);
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"], "invalid_client_metadata");
            assert!(
                error["error_description"]
                    .as_str()
                    .unwrap()
                    .contains(member),
                "{error}"
            );
        }
        server.stop().await;
    }
);

server_test!(
    a_registration_the_policy_refuses_fetches_no_sector_document,
    |db: TestDatabase| async move {
        let server = provider(
            &db,
            "[registration]\npolicy = \"open\"\n\
             [policy]\ntoken_endpoint_auth_methods = [\"client_secret_basic\"]",
        )
        .await;
        let response = server
            .http
            .post(format!("{}/register", server.issuer))
            .json(&serde_json::json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "client_secret_post",
                "subject_type": "pairwise",
                "sector_identifier_uri": "https://127.0.0.1:9/uris.json",
                "id_token_signed_response_alg": "ES256",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        // The cheap check answers: the sector document was never asked for.
        assert_eq!(
            error["error_description"],
            "token_endpoint_auth_method client_secret_post is not enabled on this server",
            "{error}"
        );
        server.stop().await;
    }
);

server_test!(
    oidcc_ensure_post_request_succeeds,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let started = start(&rp, &[], &[]);
        // Core §3.1.2.1: the same request, form-encoded in a POST body.
        let url = url::Url::parse(&started.url).unwrap();
        let fields: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut browser = Browser::new();
        // Cross-site, so it comes back once from this origin to see the session (N-M1).
        let bounce = browser
            .post(&format!("{}/authorize", server.issuer), &fields)
            .await;
        assert_eq!(bounce.status, 200, "{}", bounce.body);
        let (action, fields) = bounce.form("/authorize");
        let login = browser.post(&server.url(&action), &fields).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let next = browser.sign_in(&server, &login, "maria", PASSWORD).await;
        let page = approve_if_asked(&server, &mut browser, next).await;
        let code = code_of(&page, &started, &server);
        redeem(&rp, code, started).await;
        server.stop().await;
    }
);

server_test!(
    latchkey_discover_finds_nothing_wrong_with_the_openid_configuration,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .issuer_path("/v3/oauth")
            .toml("[registration]\npolicy = \"open\"\n[openid]\nenabled = true")
            .start(&db)
            .await;
        let (ok, report) = crate::discover::discover(&server.issuer).await;
        assert_eq!(report["problems"], serde_json::json!([]), "{report}");
        assert!(ok);
        server.stop().await;
    }
);

server_test!(
    a_confidential_client_may_use_the_nonce_instead_of_pkce_as_the_suite_does,
    |db: TestDatabase| async move {
        let server = provider(
            &db,
            "[resources.\"https://api.example/\"]\nscopes = [\"profile\"]",
        )
        .await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        // The conformance suite's static client: a nonce, no PKCE (OAuth 2.1 §7.5.1).
        let (url, state, nonce) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .url();
        let mut browser = Browser::new();
        let page = sign_in_and_approve(&server, &mut browser, url.as_str(), "maria").await;
        assert_eq!(page.redirect_params().get("state"), Some(state.secret()));
        let code = page.redirect_params()["code"].clone();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .request_async(&http)
            .await
            .expect("no code_verifier is needed for a nonce-bound code");
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(&rp.id_token_verifier(), &nonce)
            .unwrap();
        assert_eq!(claims.nonce().map(|n| n.secret()), Some(nonce.secret()));
        // A verifier for such a code is a downgrade attempt (RFC 9700 §2.1.1).
        let (url, _, _) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .url();
        let page = browser.get(url.as_str()).await;
        let code = page.redirect_params()["code"].clone();
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        let refused = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await;
        assert!(refused.is_err());
        // Neither nonce nor PKCE, or a public client: PKCE is required.
        let bare = without(url.as_str(), "nonce");
        let page = browser.get(&bare).await;
        assert_eq!(page.redirect_params()["error"], "invalid_request");
        let public = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "openid",
                &[REDIRECT],
            )
            .await;
        let public_url = with(
            &without(&without(url.as_str(), "client_id"), "scope"),
            "client_id",
            &public.id,
        );
        let page = browser.get(&with(&public_url, "scope", "openid")).await;
        assert_eq!(page.redirect_params()["error"], "invalid_request");
        // A resource whose scopes leave openid out turns the request into plain OAuth: the nonce no
        // longer replaces PKCE.
        let trimmed = with(
            &without(url.as_str(), "scope"),
            "resource",
            "https://api.example/",
        );
        let page = browser.get(&trimmed).await;
        let params = page.redirect_params();
        assert_eq!(params["error"], "invalid_request", "{params:?}");
        assert!(params["error_description"].contains("code_challenge"));
        server.stop().await;
    }
);

server_test!(
    logout_can_revoke_the_clients_grants_of_that_session,
    |db: TestDatabase| async move {
        use latchkey_core::oidc::client::OpenIdClient;
        use latchkey_core::types::RedirectUri;
        let server = provider(&db, "logout_revokes_grants = true").await;
        maria(&server).await;
        let client = rp_client_with(
            &server,
            REDIRECT,
            OpenIdClient {
                post_logout_redirect_uris: vec![
                    RedirectUri::parse("https://rp.example/bye").unwrap(),
                ],
                ..OpenIdClient::default()
            },
        )
        .await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        let (tokens, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        let hint = tokens.id_token().unwrap().to_string();
        // Without a hint the person is asked first; the page's form may lead back to the client's
        // registered logout URI, so its CSP form-action allows that origin (a browser applies
        // form-action to the redirect that answers the post).
        let ask = format!(
            "{}/authorize/logout?{}",
            server.issuer,
            crate::harness::form_encode(&[
                ("client_id", client.id.as_str()),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
            ])
        );
        let asked = browser.get(&ask).await;
        assert_eq!(asked.status, 200);
        let csp = asked.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' https://rp.example;"),
            "{csp}"
        );
        let logout = format!(
            "{}/authorize/logout?{}",
            server.issuer,
            crate::harness::form_encode(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
            ])
        );
        assert_eq!(browser.get(&logout).await.status, 303);
        let refreshed = rp
            .exchange_refresh_token(tokens.refresh_token().unwrap())
            .unwrap()
            .request_async(&http)
            .await;
        assert!(
            refreshed.is_err(),
            "the refresh token ended with the session"
        );
        let (status, _, _) = userinfo_call(
            &server,
            server
                .http
                .get(userinfo_url(&server))
                .bearer_auth(tokens.access_token().secret()),
        )
        .await;
        assert_eq!(status, 401, "and so did the access token");
        server.stop().await;
    }
);

server_test!(
    consent_is_bound_to_the_claims_the_page_showed,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let started = start(&rp, &[], &[("claims", r#"{"id_token":{"email":null}}"#)]);
        let mut browser = Browser::new();
        let login = browser.get(&started.url).await;
        let consent = browser.sign_in(&server, &login, "maria", PASSWORD).await;
        // The form comes back asking for more than the page showed: the page is shown again.
        let (action, mut fields) = consent.form("/consent");
        for (name, value) in &mut fields {
            if name == "claims" {
                *value = r#"{"id_token":{"email":null,"address":null,"phone_number":null}}"#.into();
            }
        }
        fields.push(("decision".into(), "approve".into()));
        let again = browser.post(&server.url(&action), &fields).await;
        assert_eq!(again.status, 200, "no code for what the person did not see");
        assert!(again.body.contains("/consent\""));
        server.stop().await;
    }
);

server_test!(
    logout_on_one_instance_ends_the_session_on_every_instance,
    |db: TestDatabase| async move {
        // Two servers on one database, as several instances of one deployment run.
        let a = provider(&db, "").await;
        let b = provider(&db, "").await;
        let client = rp_client(&a).await;
        maria(&a).await;
        let rp = discover(&a, &client).await;
        let mut browser = Browser::new();
        sign_in_flow(&a, &rp, &mut browser, "maria", &[], &[]).await;
        // The same browser (its cookies) asks the other instance to sign it out, and confirms.
        let confirm = browser.get(&format!("{}/authorize/logout", b.issuer)).await;
        assert!(confirm.body.contains("Sign out?"), "{}", confirm.body);
        let (action, mut fields) = confirm.form("/authorize/logout");
        fields.push(("decision".into(), "logout".into()));
        let done = browser.post(&b.url(&action), &fields).await;
        assert!(done.body.contains("You are signed out"));
        // The first instance no longer knows the session.
        let started = start(&rp, &[], &[("prompt", "none")]);
        let after = browser.get(&started.url).await;
        assert_eq!(after.redirect_params()["error"], "login_required");
        b.stop().await;
        a.stop().await;
    }
);

server_test!(
    n_l2_userinfo_refuses_a_token_issued_for_another_resource,
    |db: TestDatabase| async move {
        let server = provider(&db, "[resources.\"https://api.example/\"]\n").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        let extra = [("resource", "https://api.example/")];
        let (tokens, _) =
            sign_in_flow(&server, &rp, &mut browser, "maria", &["email"], &extra).await;
        let token = tokens.access_token().secret().clone();
        let url = userinfo_url(&server);
        let (status, challenge, _) =
            userinfo_call(&server, server.http.get(&url).bearer_auth(&token)).await;
        assert_eq!(
            status, 401,
            "a resource server must not read the user's claims"
        );
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));
        // The same person's token for the default audience still works.
        let mut browser = Browser::new();
        let (tokens, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &["email"], &[]).await;
        let token = tokens.access_token().secret().clone();
        let (status, _, body) =
            userinfo_call(&server, server.http.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 200, "{body}");
        server.stop().await;
    }
);

server_test!(
    n_l3_userinfo_is_rate_limited_by_address,
    |db: TestDatabase| async move {
        let server = provider(&db, "[rate_limits]\ntoken = { limit = 2, window = \"1m\" }").await;
        let url = userinfo_url(&server);
        let first = server
            .http
            .get(&url)
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 401);
        assert_eq!(first.headers()["x-ratelimit-limit"], "2");
        server.http.get(&url).send().await.unwrap();
        let third = server
            .http
            .get(&url)
            .bearer_auth("guess")
            .send()
            .await
            .unwrap();
        assert_eq!(
            third.status(),
            429,
            "guessing tokens is limited like any request"
        );
        assert!(third.headers().contains_key("retry-after"));
        server.stop().await;
    }
);

/// A cross-site POST as a browser sends it: the `SameSite=Lax` cookies stay home, while the
/// cookies the response sets are kept (next to the ones that were not sent).
async fn cross_site_post(browser: &mut Browser, url: &str, fields: &[(String, String)]) -> Page {
    let kept = std::mem::take(&mut browser.cookies);
    let page = browser.post(url, fields).await;
    for (name, value) in kept {
        browser.cookies.entry(name).or_insert(value);
    }
    page
}

/// The parameters of a URL's query, as form fields.
fn query_fields(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

server_test!(
    n_m1_a_logout_posted_by_the_relying_party_reaches_the_session,
    |db: TestDatabase| async move {
        use latchkey_core::oidc::client::OpenIdClient;
        use latchkey_core::types::RedirectUri;
        let server = provider(&db, "").await;
        maria(&server).await;
        let client = rp_client_with(
            &server,
            REDIRECT,
            OpenIdClient {
                post_logout_redirect_uris: vec![
                    RedirectUri::parse("https://rp.example/bye").unwrap(),
                ],
                ..OpenIdClient::default()
            },
        )
        .await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        let (tokens, _) = sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        let hint = tokens.id_token().unwrap().to_string();
        let fields: Vec<(String, String)> = [
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "lo1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let endpoint = format!("{}/authorize/logout", server.issuer);
        // The relying party's POST comes without the session: nothing is claimed, the page posts
        // the same request again from this origin, by script or by its button.
        let bounce = cross_site_post(&mut browser, &endpoint, &fields).await;
        assert_eq!(bounce.status, 200, "{}", bounce.body);
        assert!(!bounce.headers.contains_key("location"));
        let csp = bounce.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(
            csp.contains("form-action 'self' https://rp.example"),
            "{csp}"
        );
        assert!(bounce.body.contains("<button type=\"submit\""));
        let (action, again) = bounce.form("/authorize/logout");
        let done = browser.post(&server.url(&action), &again).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "https://rp.example/bye?state=lo1");
        let started = start(&rp, &[], &[("prompt", "none")]);
        let after = browser.get(&started.url).await;
        assert_eq!(after.redirect_params()["error"], "login_required");
        // A logout that finds no session says so and does not send the relying party "done".
        let mut stranger = Browser::new();
        let nobody = stranger
            .get(&format!(
                "{endpoint}?{}",
                crate::harness::form_encode(
                    &fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                )
            ))
            .await;
        assert_eq!(nobody.status, 200, "{}", nobody.body);
        assert!(
            nobody.body.contains("You were not signed in"),
            "{}",
            nobody.body
        );
        assert!(nobody.body.contains("https://rp.example/bye?state=lo1"));
        // A forged bounce marker is not trusted and never submits itself.
        let mut forged = fields.clone();
        forged.push(("latchkey_bounce".into(), "forged".into()));
        let manual = cross_site_post(&mut stranger, &endpoint, &forged).await;
        assert_eq!(manual.status, 200);
        assert!(!manual.body.contains("<script>"), "{}", manual.body);
        server.stop().await;
    }
);

server_test!(
    n_m1_an_authorization_request_posted_by_the_relying_party_sees_the_session,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        let started = start(&rp, &[], &[("prompt", "none")]);
        let endpoint = format!("{}/authorize", server.issuer);
        let bounce = cross_site_post(&mut browser, &endpoint, &query_fields(&started.url)).await;
        assert_eq!(bounce.status, 200, "{}", bounce.body);
        let (action, again) = bounce.form("/authorize");
        let answer = browser.post(&server.url(&action), &again).await;
        code_of(&answer, &started, &server);
        server.stop().await;
    }
);

server_test!(
    n_m3_no_automatic_redirect_to_a_self_registered_client_before_sign_in,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[openid]\nenabled = true\n[registration]\npolicy = \"open\"")
            .start(&db)
            .await;
        let registered: Value = server
            .http
            .post(server.url("/register"))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({
                    "redirect_uris": ["https://evil.example/phish"],
                    "token_endpoint_auth_method": "none",
                    "post_logout_redirect_uris": ["https://evil.example/after-logout"],
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = registered["client_id"].as_str().unwrap();
        let mut browser = Browser::new();
        let error = browser
            .get(&server.authorize_url(&[
                ("client_id", id),
                ("response_type", "token"),
                ("state", "x"),
            ]))
            .await;
        assert_eq!(error.status, 200, "{}", error.body);
        assert!(!error.headers.contains_key("location"));
        assert!(error.body.contains("evil.example"), "names the host");
        assert!(error.body.contains("error=unsupported_response_type"));
        let logout = browser
            .get(&format!(
                "{}/authorize/logout?client_id={id}&post_logout_redirect_uri={}",
                server.issuer, "https%3A%2F%2Fevil.example%2Fafter-logout"
            ))
            .await;
        assert_eq!(logout.status, 200, "{}", logout.body);
        assert!(!logout.headers.contains_key("location"));
        // An operator's client is trusted as before.
        let operator = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "openid",
                &["https://rp.example/cb"],
            )
            .await;
        let trusted = browser
            .get(&server.authorize_url(&[("client_id", &operator.id), ("response_type", "token")]))
            .await;
        assert_eq!(trusted.status, 303);
        assert!(
            trusted
                .location()
                .starts_with("https://rp.example/cb?error=")
        );
        server.stop().await;
    }
);

server_test!(
    n_m4_the_claims_parameter_stays_within_the_clients_scopes,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = server
            .create_app(
                AuthMethod::ClientSecretBasic,
                &[GrantType::AuthorizationCode],
                "openid email",
                &[REDIRECT],
            )
            .await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        let claims = r#"{"userinfo":{"phone_number":null,"address":null,"email":null},
                         "id_token":{"phone_number":{"essential":true},"email":null}}"#;
        let (tokens, id) = sign_in_flow(
            &server,
            &rp,
            &mut browser,
            "maria",
            &[],
            &[("claims", claims)],
        )
        .await;
        assert!(
            id.phone_number().is_none(),
            "phone is outside the client's scope"
        );
        assert_eq!(id.email().unwrap().as_str(), "maria@example.com");
        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), Some(id.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        assert!(info.phone_number().is_none());
        assert!(info.address().is_none());
        assert_eq!(info.email().unwrap().as_str(), "maria@example.com");
        server.stop().await;
    }
);

server_test!(
    n_m5_the_consent_post_rechecks_prompt_login_and_max_age,
    |db: TestDatabase| async move {
        let server = provider(&db, "").await;
        let client = rp_client(&server).await;
        maria(&server).await;
        let rp = discover(&server, &client).await;
        let mut browser = Browser::new();
        sign_in_flow(&server, &rp, &mut browser, "maria", &[], &[]).await;
        // The relying party asks for a step-up: the login page is shown.
        let step_up = start(&rp, &[], &[("prompt", "login"), ("max_age", "1")]);
        let login = browser.get(&step_up.url).await;
        assert!(login.body.contains("/login\""), "{}", login.body);
        // The same client, redirect URI and scope with prompt=consent gives a consent page…
        let other = start(&rp, &[], &[("prompt", "consent")]);
        let consent = browser.get(&other.url).await;
        let (action, fields) = consent.form("/consent");
        let mut forged = query_fields(&step_up.url);
        for (name, value) in fields {
            if name == "csrf_token" || name == "consent_binding" {
                forged.push((name, value));
            }
        }
        forged.push(("decision".into(), "approve".into()));
        // …whose form does not approve the step-up: it signs in again.
        let answer = browser.post(&server.url(&action), &forged).await;
        assert_eq!(
            answer.status,
            200,
            "no code: {:?}",
            answer.headers.get("location")
        );
        assert!(answer.body.contains("/login\""), "{}", answer.body);
        // Signing in again completes the step-up.
        let next = browser.sign_in(&server, &answer, "maria", PASSWORD).await;
        let done = approve_if_asked(&server, &mut browser, next).await;
        code_of(&done, &step_up, &server);
        server.stop().await;
    }
);

server_test!(
    n_l1_a_sector_document_is_fetched_through_the_limited_path_and_fails_generically,
    |db: TestDatabase| async move {
        let server = provider(
            &db,
            "[registration]\npolicy = \"open\"\nrate_limit = 50\n[fetch]\nrate_limit = 2",
        )
        .await;
        let register = |sector: &str| {
            server
                .http
                .post(format!("{}/register", server.issuer))
                .json(&serde_json::json!({
                    "redirect_uris": [REDIRECT],
                    "subject_type": "pairwise",
                    "sector_identifier_uri": sector,
                }))
                .send()
        };
        // The registrant learns that the fetch failed, not what the name resolves to.
        for _ in 0..2 {
            let response = register("https://localhost/s.json").await.unwrap();
            assert_eq!(response.status(), 400);
            let error: Value = response.json().await.unwrap();
            assert_eq!(
                error["error_description"],
                "sector_identifier_uri: the document could not be fetched",
                "{error}"
            );
        }
        // The failure above was remembered (one fetch); the address's budget of two then runs out.
        let second = register("https://127.0.0.1:9/a.json").await.unwrap();
        assert_eq!(second.status(), 400);
        let third = register("https://127.0.0.1:9/b.json").await.unwrap();
        assert_eq!(third.status(), 503);
        let error: Value = third.json().await.unwrap();
        assert_eq!(error["error"], "temporarily_unavailable");
        server.stop().await;
    }
);

server_test!(
    n_i1_a_self_registered_clients_logo_and_links_show_only_on_its_own_hosts,
    |db: TestDatabase| async move {
        let server = provider(&db, "[registration]\npolicy = \"open\"").await;
        maria(&server).await;
        let registered: Value = server
            .http
            .post(server.url("/register"))
            .json(&serde_json::json!({
                "client_name": "Your Bank",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "logo_uri": "https://bank.example/logo.png",
                "tos_uri": "https://bank.example/terms",
                "policy_uri": "https://rp.example/privacy",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (_, challenge) = crate::browser::pkce();
        let mut browser = Browser::new();
        let login = browser
            .get(&server.authorize_url(&[
                ("response_type", "code"),
                ("client_id", registered["client_id"].as_str().unwrap()),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .await;
        let consent = browser.sign_in(&server, &login, "maria", PASSWORD).await;
        assert!(consent.body.contains("/consent\""), "{}", consent.body);
        assert!(!consent.body.contains("bank.example"), "{}", consent.body);
        assert!(consent.body.contains("href=\"https://rp.example/privacy\""));
        server.stop().await;
    }
);
