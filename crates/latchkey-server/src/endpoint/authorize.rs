//! `GET authorization_endpoint`, `POST …/login` and `POST …/consent`: RFC 6749 §4.1.1-4.1.2 with the
//! pages a person uses in between. The rules live in `latchkey_core::authorize`; this file decides
//! which page comes next and does the I/O.
//!
//! The authorization request travels through the forms as hidden fields and is validated again on
//! every step, so there is no server-side interaction state to expire, leak or be swapped.
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use latchkey_core::OAuthError;
use latchkey_core::authorize::{AuthorizationRequest, AuthorizeError, requested_client_id};
use latchkey_core::grant::authorization_code::issue_code;
use latchkey_core::params::Params;
use latchkey_core::password::Password;
use latchkey_core::secret::{SecretHash, random_base64url};
use latchkey_core::types::{Scope, Timestamp};
use latchkey_core::user::{User, Username};
use latchkey_store::{GrantStore, Session, SessionStore, StoreError, UserStore};

use crate::error::InternalCause;
use crate::pages::i18n::Locale;
use crate::pages::{
    self, BROWSER_COOKIE, ConsentPage, ErrorPage, LanguageLink, LoginPage, SESSION_COOKIE,
    ScopeLine,
};
use crate::router::path_of;
use crate::state::AppState;
use crate::throttle::Verdict;
use crate::tokens;

/// Form fields that belong to the pages, not to the authorization request.
const PAGE_FIELDS: [&str; 4] = ["csrf_token", "username", "password", "decision"];

/// What one page request knows about the browser.
struct Visit {
    locale: Locale,
    /// The browser cookie (CSRF tokens are bound to it), created on this visit when missing.
    browser: String,
    /// `Set-Cookie` values for the response.
    cookies: Vec<HeaderValue>,
    /// The signed-in session, by the hash of its cookie, with its user.
    session: Option<(SecretHash, Session, User)>,
}

/// The person signed in on this browser, and since when.
#[derive(Clone)]
struct SignedIn {
    user: User,
    auth_time: Timestamp,
    /// The session's public id (OpenID `sid`).
    sid: Option<String>,
}

/// Why a step stops: an error page, a redirect to the client, or an internal failure.
enum Stop {
    Page(StatusCode, OAuthError),
    Redirect(String),
    Internal(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Internal(e.to_string())
    }
}

impl Visit {
    async fn new(
        app: &AppState,
        headers: &HeaderMap,
        ui_locales: Option<&str>,
    ) -> Result<Self, StoreError> {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let mut cookies = Vec::new();
        let browser = match pages::cookie(headers, BROWSER_COOKIE).filter(|b| b.len() == 43) {
            Some(browser) => browser,
            None => {
                let browser = random_base64url(32);
                cookies.push(pages::set_cookie(app, BROWSER_COOKIE, &browser, None));
                browser
            }
        };
        let session = match pages::cookie(headers, SESSION_COOKIE) {
            Some(value) => {
                let hash = SecretHash::of(value.as_bytes());
                let found = app.store().find_signed_in(&hash, app.clock().now()).await?;
                found.map(|(s, u)| (hash, s, u))
            }
            None => None,
        };
        Ok(Self {
            locale: Locale::choose(ui_locales, accept),
            browser,
            cookies,
            session,
        })
    }
}

pub(crate) async fn authorize(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse_urlencoded(query.unwrap_or_default().as_bytes());
    let ui_locales = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("ui_locales").map(str::to_owned));
    let visit = match Visit::new(&app, &headers, ui_locales.as_deref()).await {
        Ok(visit) => visit,
        Err(e) => return internal(&app, Locale::En, e.to_string()),
    };
    let result = match params {
        Ok(params) => show(&app, &visit, &params).await,
        Err(e) => Err(Stop::Page(StatusCode::BAD_REQUEST, e)),
    };
    finish(&app, &visit, result)
}

async fn show(app: &AppState, visit: &Visit, params: &Params) -> Result<Response, Stop> {
    let request = load_request(app, params).await?;
    // prompt=login: sign in again even with a session.
    let user = match request.prompt.login {
        true => None,
        false => signed_in_user(visit),
    };
    next_step(app, visit, &request, params, user).await
}

pub(crate) async fn login(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (mut visit, form) = match submitted(&app, &headers, &body).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let result = sign_in(&app, &mut visit, &form, peer).await;
    finish(&app, &visit, result)
}

async fn sign_in(
    app: &AppState,
    visit: &mut Visit,
    form: &Params,
    peer: SocketAddr,
) -> Result<Response, Stop> {
    let params = form.without(&PAGE_FIELDS);
    let request = load_request(app, &params).await?;
    let username = form.get("username").unwrap_or("").to_owned();
    let password = Password::new(form.get("password").unwrap_or("").to_owned());
    let now = app.clock().now();
    let address = peer.ip().to_string();
    let t = visit.locale.text();
    let wait = match app.throttle().check(&username, &address, now) {
        Verdict::Locked => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Ok(login_page(
                app,
                visit,
                &request,
                &params,
                Some(t.locked),
                &username,
                status,
            ));
        }
        Verdict::Proceed(wait) => wait,
    };
    tokio::time::sleep(wait).await;
    let user = match Username::parse(&username) {
        Ok(name) => app.store().find_user_by_username(&name).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = app
        .passwords()
        .verify(password, stored)
        .await
        .then_some(user)
        .flatten();
    let Some(user) = verified else {
        app.throttle().record_failure(&username, &address, now);
        let status = StatusCode::UNAUTHORIZED;
        return Ok(login_page(
            app,
            visit,
            &request,
            &params,
            Some(t.bad_credentials),
            &username,
            status,
        ));
    };
    app.throttle().record_success(&username);
    // A new session id at every sign-in, so a session id planted before it (fixation) is worthless.
    if let Some((old, _, _)) = visit.session.take() {
        app.store().delete_session(&old).await?;
    }
    let secret = random_base64url(32);
    let ttl = app.settings().login.session_ttl;
    let sid = random_base64url(16);
    let session = Session {
        user_id: user.user_id.clone(),
        auth_time: now,
        expires_at: now.plus(ttl),
        sid: Some(sid.clone()),
    };
    app.store()
        .insert_session(&SecretHash::of(secret.as_bytes()), &session)
        .await?;
    visit
        .cookies
        .push(pages::set_cookie(app, SESSION_COOKIE, &secret, Some(ttl)));
    let signed_in = SignedIn {
        user,
        auth_time: now,
        sid: Some(sid),
    };
    next_step(app, visit, &request, &params, Some(signed_in)).await
}

pub(crate) async fn consent(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (visit, form) = match submitted(&app, &headers, &body).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let result = decide(&app, &visit, &form).await;
    finish(&app, &visit, result)
}

async fn decide(app: &AppState, visit: &Visit, form: &Params) -> Result<Response, Stop> {
    let params = form.without(&PAGE_FIELDS);
    let request = load_request(app, &params).await?;
    let Some(signed_in) = signed_in_user(visit) else {
        // The session ended between the pages: sign in again, then the consent page comes back.
        return Ok(login_page(
            app,
            visit,
            &request,
            &params,
            None,
            "",
            StatusCode::OK,
        ));
    };
    let issuer = app.settings().features.issuer.as_str();
    match form.get("decision") {
        Some("deny") => Err(Stop::Redirect(
            request
                .error(OAuthError::access_denied("the user denied the request"))
                .location(issuer),
        )),
        Some("approve") => {
            let client_id = &request.client.client_id;
            let resource = request.resource.as_ref();
            let earlier = app
                .store()
                .find_consent(&signed_in.user.user_id, client_id, resource)
                .await?;
            // A re-approval of scopes already granted (prompt=consent) changes nothing to store.
            if !earlier.as_ref().is_some_and(|e| request.scope.is_subset(e)) {
                let approved: Scope = earlier
                    .iter()
                    .flat_map(|s| s.iter().cloned())
                    .chain(request.scope.iter().cloned())
                    .collect();
                app.store()
                    .save_consent(
                        &signed_in.user.user_id,
                        client_id,
                        resource,
                        &approved,
                        app.clock().now(),
                    )
                    .await?;
            }
            issue(app, visit, &request, &signed_in).await
        }
        _ => Err(Stop::Page(
            StatusCode::BAD_REQUEST,
            OAuthError::invalid_request("decision must be approve or deny"),
        )),
    }
}

/// Signed in and approved (now or before)? Then the code; otherwise the page that is missing.
async fn next_step(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    signed_in: Option<SignedIn>,
) -> Result<Response, Stop> {
    let issuer = app.settings().features.issuer.as_str();
    let Some(signed_in) = signed_in else {
        if request.prompt.none {
            let error = OAuthError::login_required("the user is not signed in");
            return Err(Stop::Redirect(request.error(error).location(issuer)));
        }
        return Ok(login_page(
            app,
            visit,
            request,
            params,
            None,
            "",
            StatusCode::OK,
        ));
    };
    // prompt=consent asks whatever is remembered, so there is nothing to look up.
    let remembered = match request.prompt.consent {
        true => None,
        false => {
            app.store()
                .find_consent(
                    &signed_in.user.user_id,
                    &request.client.client_id,
                    request.resource.as_ref(),
                )
                .await?
        }
    };
    if remembered.is_some_and(|s| request.scope.is_subset(&s)) {
        return issue(app, visit, request, &signed_in).await;
    }
    if request.prompt.none {
        let error = OAuthError::consent_required("the user has not approved this request");
        return Err(Stop::Redirect(request.error(error).location(issuer)));
    }
    Ok(consent_page(app, visit, request, params, &signed_in.user))
}

async fn issue(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
) -> Result<Response, Stop> {
    let settings = app.settings();
    let issued = issue_code(
        request,
        &signed_in.user.user_id,
        signed_in.auth_time,
        signed_in.sid.as_deref(),
        &settings.policy,
        app.clock().now(),
    );
    app.store()
        .insert_code(&issued.grant, &issued.record)
        .await?;
    let location =
        request.success_location(issued.code.expose(), settings.features.issuer.as_str());
    Ok(pages::redirect(&location, &visit.cookies))
}

async fn load_request(app: &AppState, params: &Params) -> Result<AuthorizationRequest, Stop> {
    let client = match requested_client_id(params) {
        Ok(id) => match app.registry().find(app, &id).await {
            Ok(found) => found.map(|c| (*c).clone()),
            Err(crate::registry::LookupError::Store(e)) => return Err(e.into()),
            // Nothing is redirected for a client we cannot trust (RFC 6749 §4.1.2.1).
            Err(crate::registry::LookupError::Document(why)) => {
                return Err(Stop::Page(
                    StatusCode::BAD_REQUEST,
                    OAuthError::invalid_request(format!(
                        "the client's metadata document is not usable: {why}"
                    )),
                ));
            }
        },
        Err(AuthorizeError::Page(e)) => return Err(Stop::Page(StatusCode::BAD_REQUEST, e)),
        Err(AuthorizeError::Redirect(r)) => {
            return Err(Stop::Internal(format!("unexpected redirect: {}", r.error)));
        }
    };
    let issuer = app.settings().features.issuer.as_str();
    let mut request = AuthorizationRequest::parse(params, client).map_err(|e| match e {
        AuthorizeError::Page(e) => Stop::Page(StatusCode::BAD_REQUEST, e),
        AuthorizeError::Redirect(r) => Stop::Redirect(r.location(issuer)),
    })?;
    // RFC 8707: the resource must be configured and allowed to the client; the scope is fitted to it.
    if request.resource.is_some() {
        let registered = tokens::find_resource(app, request.resource.as_ref()).await?;
        let target = latchkey_core::resource::target(
            &request.client,
            request.resource.as_ref(),
            registered.as_ref(),
            &request.scope,
            params.get("scope").is_some(),
            &app.settings().policy,
        )
        .map_err(|e| Stop::Redirect(request.error(e).location(issuer)))?;
        request.scope = target.scope;
    }
    Ok(request)
}

fn signed_in_user(visit: &Visit) -> Option<SignedIn> {
    visit.session.as_ref().map(|(_, session, user)| SignedIn {
        user: user.clone(),
        auth_time: session.auth_time,
        sid: session.sid.clone(),
    })
}

/// Reads a page form and checks its CSRF token; a failure is answered with an error page.
async fn submitted(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Visit, Params), Response> {
    let form = Params::parse_urlencoded(body);
    let ui_locales = form
        .as_ref()
        .ok()
        .and_then(|f| f.get("ui_locales").map(str::to_owned));
    let visit = match Visit::new(app, headers, ui_locales.as_deref()).await {
        Ok(visit) => visit,
        Err(e) => return Err(internal(app, Locale::En, e.to_string())),
    };
    let form = match form {
        Ok(form) => form,
        Err(e) => {
            return Err(finish(
                app,
                &visit,
                Err(Stop::Page(StatusCode::BAD_REQUEST, e)),
            ));
        }
    };
    // A browser cookie created on this very request cannot have been given a token yet.
    let browser_known = visit.cookies.is_empty();
    let token = form.get("csrf_token").unwrap_or("");
    if !browser_known || !app.csrf().verify(&visit.browser, token) {
        let t = visit.locale.text();
        let page = ErrorPage {
            c: pages::chrome(app, visit.locale, Vec::new()),
            lead: t.expired_form,
            code: "invalid_request",
            description: "the form's CSRF token is missing or does not match this browser".into(),
        };
        return Err(pages::html(
            StatusCode::FORBIDDEN,
            askama::Template::render(&page),
            None,
            &visit.cookies,
        ));
    }
    Ok((visit, form))
}

fn finish(app: &AppState, visit: &Visit, result: Result<Response, Stop>) -> Response {
    match result {
        Ok(response) => response,
        Err(Stop::Redirect(location)) => pages::redirect(&location, &visit.cookies),
        Err(Stop::Page(status, error)) => {
            let t = visit.locale.text();
            let page = ErrorPage {
                c: pages::chrome(app, visit.locale, Vec::new()),
                lead: t.error_lead,
                code: error.code.as_str(),
                description: error.description.into_owned(),
            };
            pages::html(
                status,
                askama::Template::render(&page),
                None,
                &visit.cookies,
            )
        }
        Err(Stop::Internal(cause)) => internal(app, visit.locale, cause),
    }
}

fn internal(app: &AppState, locale: Locale, cause: String) -> Response {
    let page = ErrorPage {
        c: pages::chrome(app, locale, Vec::new()),
        lead: locale.text().error_lead,
        code: "server_error",
        description: "the server met an unexpected condition".into(),
    };
    let mut response = pages::html(
        StatusCode::INTERNAL_SERVER_ERROR,
        askama::Template::render(&page),
        None,
        &[],
    );
    response
        .extensions_mut()
        .insert(InternalCause(cause.into()));
    response
}

fn authorization_path(app: &AppState) -> String {
    path_of(
        app.settings()
            .features
            .endpoints
            .authorization
            .as_deref()
            .unwrap_or("/authorize"),
    )
}

/// Links to the same authorization request in each language.
fn language_links(app: &AppState, visit: &Visit, params: &Params) -> Vec<LanguageLink> {
    let path = authorization_path(app);
    Locale::ALL
        .into_iter()
        .map(|locale| LanguageLink {
            label: match locale {
                Locale::En => "English",
                Locale::Es => "Español",
            },
            tag: locale.tag(),
            href: format!(
                "{path}?{}",
                params.with("ui_locales", locale.tag()).to_urlencoded()
            ),
            current: locale == visit.locale,
        })
        .collect()
}

fn hidden_fields(params: &Params) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn login_page(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    error: Option<&'static str>,
    username: &str,
    status: StatusCode,
) -> Response {
    let page = LoginPage {
        c: pages::chrome(app, visit.locale, language_links(app, visit, params)),
        action: format!("{}/login", authorization_path(app)),
        client_name: request.client.name.clone(),
        fields: hidden_fields(params),
        csrf: app.csrf().token(&visit.browser),
        error,
        username: username.to_owned(),
    };
    let target = pages::form_target(&request.redirect_uri);
    pages::html(
        status,
        askama::Template::render(&page),
        target.as_deref(),
        &visit.cookies,
    )
}

fn consent_page(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    user: &User,
) -> Response {
    let descriptions = &app.settings().ui.scope_descriptions;
    let scopes = request
        .scope
        .iter()
        .map(|token| {
            let name = token.as_str();
            let texts = descriptions.get(name);
            let description = texts
                .and_then(|t| t.get(visit.locale.tag()).or_else(|| t.get("")))
                .cloned()
                .unwrap_or_else(|| name.to_owned());
            ScopeLine {
                name: name.to_owned(),
                description,
            }
        })
        .collect();
    let redirect_host = url::Url::parse(&request.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(host) => host.to_owned(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    let page = ConsentPage {
        c: pages::chrome(app, visit.locale, language_links(app, visit, params)),
        action: format!("{}/consent", authorization_path(app)),
        client_host: latchkey_core::cimd::host_of(&request.client.client_id),
        client_name: request.client.name.clone(),
        username: user
            .name
            .clone()
            .unwrap_or_else(|| user.username.to_string()),
        scopes,
        resource: request.resource.as_ref().map(|r| r.as_str().to_owned()),
        redirect_host,
        fields: hidden_fields(params),
        csrf: app.csrf().token(&visit.browser),
    };
    let target = pages::form_target(&request.redirect_uri);
    pages::html(
        StatusCode::OK,
        askama::Template::render(&page),
        target.as_deref(),
        &visit.cookies,
    )
}
