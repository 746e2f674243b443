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
