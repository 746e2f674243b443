//! Login, consent and error pages: server-rendered HTML that works without JavaScript, in English and
//! Spanish, with anti-framing headers, a restrictive CSP, and CSRF tokens on every form.
pub(crate) mod consent;
pub(crate) mod i18n;
pub(crate) mod login;
pub(crate) mod visit;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use latchkey_core::params::Params;
use latchkey_core::{ErrorCode, OAuthError};
use latchkey_store::StoreError;

use crate::error::InternalCause;
use crate::router::path_of;
use crate::state::AppState;
use i18n::{Locale, Text};
use visit::Visit;

/// The stylesheet, served from our own origin so the CSP can forbid everything else.
pub(crate) const STYLESHEET: &str = include_str!("pages/latchkey.css");

/// The two page cookies: the signed-in session (its SHA-256 is the database key) and the browser id
/// CSRF tokens are bound to, set before anyone signs in.
///
/// # Security
/// A cookie can be planted by a sibling subdomain or by a man in the middle of any plain-http page of
/// the domain ("cookie tossing"); a planted browser id would let an attacker compute a valid CSRF
/// token. The `__Host-` prefix makes the browser refuse such cookies (RFC 6265bis §4.1.3.2: only
/// `Secure`, from this host, `Path=/`, no `Domain`), so an https issuer at the root of its host uses
/// it. An issuer with a path shares its host with other applications: there the cookies are scoped to
/// the authorization endpoint's path, so the session never goes to them, and take `__Secure-`, the
/// strongest prefix a path allows. A loopback http issuer in development keeps plain names, which a
/// browser would refuse to store with either prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CookiePolicy {
    pub(crate) session: String,
    pub(crate) browser: String,
    /// `Path=…; HttpOnly; SameSite=Lax`, and `; Secure` on https.
    attributes: String,
}

impl CookiePolicy {
    pub(crate) fn new(issuer: &str, authorization_endpoint: &str) -> Self {
        let https = issuer.starts_with("https://");
        let issuer_path = url::Url::parse(issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let (prefix, path) = match (https, issuer_path.is_empty()) {
            (true, true) => ("__Host-", "/".to_owned()),
            (true, false) => ("__Secure-", path_of(authorization_endpoint)),
            (false, _) => ("", "/".to_owned()),
        };
        let secure = if https { "; Secure" } else { "" };
        Self {
            session: format!("{prefix}latchkey_session"),
            browser: format!("{prefix}latchkey_browser"),
            attributes: format!("Path={path}; HttpOnly; SameSite=Lax{secure}"),
        }
    }
}

/// What every page shows around its content.
pub(crate) struct Chrome {
    pub(crate) t: &'static Text,
    pub(crate) lang: &'static str,
    pub(crate) operator: String,
    pub(crate) initial: String,
    pub(crate) logo: Option<String>,
    pub(crate) css: String,
    pub(crate) languages: Vec<LanguageLink>,
}

/// A link to the same page in another language.
pub(crate) struct LanguageLink {
    pub(crate) label: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) href: String,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) c: Chrome,
    pub(crate) lead: &'static str,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

/// Why a page step stops. Each answer's status is chosen in [`Stop::status`] alone, as `error.rs`
/// does for JSON.
#[derive(Debug)]
pub(crate) enum Stop {
    /// An error page: the client or its redirect URI cannot be trusted with the answer (RFC 6749
    /// §4.1.2.1), or the form itself is broken.
    Page(OAuthError),
    /// The form's CSRF token is missing or belongs to another browser.
    Forged,
    /// Back to the client, with a success or an error (RFC 6749 §4.1.2).
    Redirect(String),
    /// The server failed; the cause is logged, never shown.
    Internal(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Internal(e.to_string())
    }
}

impl Stop {
    /// The HTTP status of the page this stop shows.
    fn status(&self) -> StatusCode {
        match self {
            Stop::Page(e) => match e.code {
                ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            },
            Stop::Forged => StatusCode::FORBIDDEN,
            Stop::Redirect(_) => StatusCode::SEE_OTHER,
            Stop::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: a redirect, or an error page in the visitor's language (English before the
    /// visit could be read).
    pub(crate) fn respond(self, app: &AppState, visit: Option<&Visit>) -> Response {
        let status = self.status();
        let (locale, cookies) = match visit {
            Some(v) => (v.locale, v.cookies.as_slice()),
            None => (Locale::En, &[][..]),
        };
        let t = locale.text();
        let (lead, code, description, cause) = match self {
            Stop::Redirect(location) => return redirect(&location, cookies),
            Stop::Page(e) => (t.error_lead, e.code.as_str(), e.into_description(), None),
            Stop::Forged => (
                t.expired_form,
                "invalid_request",
                "the form's CSRF token is missing or does not match this browser".to_owned(),
                None,
            ),
            Stop::Internal(cause) => (
                t.error_lead,
                "server_error",
                "the server met an unexpected condition".to_owned(),
                Some(cause),
            ),
        };
        let page = ErrorPage {
            c: chrome(app, locale, Vec::new()),
            lead,
            code,
            description,
        };
        // An internal failure sets no cookie: nothing of this visit is known to have worked.
        let cookies = if cause.is_some() { &[][..] } else { cookies };
        let mut response = html(status, page.render(), None, cookies);
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(InternalCause(cause.into()));
        }
        response
    }
}

/// The path of the authorization endpoint, which the login and consent forms post below.
pub(crate) fn authorization_path(app: &AppState) -> String {
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
pub(crate) fn language_links(app: &AppState, visit: &Visit, params: &Params) -> Vec<LanguageLink> {
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

/// The authorization request as hidden form fields, so no interaction state lives on the server.
pub(crate) fn hidden_fields(params: &Params) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The chrome for `locale`; `languages` links the same request in each language.
pub(crate) fn chrome(app: &AppState, locale: Locale, languages: Vec<LanguageLink>) -> Chrome {
    let ui = &app.settings().ui;
    Chrome {
        t: locale.text(),
        lang: locale.tag(),
        operator: ui.operator_name.clone(),
        initial: ui
            .operator_name
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default(),
        logo: ui.logo_url.clone(),
        css: ui.stylesheet_path.clone(),
        languages,
    }
}

/// An HTML response with the headers every page carries.
///
/// # Security
/// `frame-ancestors 'none'` and `X-Frame-Options: DENY` stop clickjacking of the consent button. Chrome
/// applies `form-action` to the redirects that follow a form submission, so the client's redirect
/// target is allowed there too: `form-action 'self'` alone would block the way back to the client.
pub(crate) fn html(
    status: StatusCode,
    body: Result<String, askama::Error>,
    form_target: Option<&str>,
    cookies: &[HeaderValue],
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "server_error").into_response();
            response
                .extensions_mut()
                .insert(InternalCause(format!("template: {e}").into()));
            return response;
        }
    };
    let form_action = match form_target {
        Some(target) => format!("'self' {target}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// A redirect (303, so a form POST becomes a GET) that nothing may cache.
pub(crate) fn redirect(location: &str, cookies: &[HeaderValue]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            headers.insert(header::LOCATION, value);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// The CSP source that allows a form submission to end at `redirect_uri`: its origin, or its scheme
/// for a native app's private-use scheme.
pub(crate) fn form_target(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    // A CSP source list is split on spaces and ends at `;`: anything else would change the policy.
    source
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        .then_some(source)
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value under the issuer's cookie policy.
pub(crate) fn set_cookie(
    app: &AppState,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; {}", app.cookies().attributes);
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&cookie).expect("cookie names and base64url values are header-safe")
}

/// Keys for the MACs the pages' forms carry, derived from the master key, so every instance of one
/// issuer accepts the forms of the others and nothing is stored: the CSRF token, and the consent
/// binding (M1), each under its own derived key.
pub(crate) struct CsrfKey {
    csrf: aws_lc_rs::hmac::Key,
    consent: aws_lc_rs::hmac::Key,
}

/// Each part with its length first, so no two different lists of parts give the same input.
fn framed(parts: &[&str]) -> Vec<u8> {
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    input
}

fn verify_tag(key: &aws_lc_rs::hmac::Key, input: &[u8], token: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    aws_lc_rs::hmac::verify(key, input, &tag).is_ok()
}

impl CsrfKey {
    /// `csrf` and `consent` are two keys derived from the master key under different labels.
    pub(crate) fn new(csrf: [u8; 32], consent: [u8; 32]) -> Self {
        let key = |k: [u8; 32]| aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &k);
        Self {
            csrf: key(csrf),
            consent: key(consent),
        }
    }

    /// The token for forms shown to this browser, and to its session once there is one (L5): a
    /// browser id planted by someone else then no longer yields a token that works for the victim.
    pub(crate) fn token(&self, browser: &str, session: Option<&str>) -> String {
        let input = framed(&[browser, session.unwrap_or("")]);
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.csrf, &input))
    }

    /// Whether a submitted token belongs to this browser and session (constant-time).
    pub(crate) fn verify(&self, browser: &str, session: Option<&str>, token: &str) -> bool {
        verify_tag(
            &self.csrf,
            &framed(&[browser, session.unwrap_or("")]),
            token,
        )
    }

    /// The consent binding: a MAC over what the consent page showed (`shown`: client, its name,
    /// redirect URI, scope, resource) for this browser, so the decision posted back approves exactly
    /// that and nothing the client's metadata became in between.
    pub(crate) fn consent(&self, browser: &str, shown: &[&str]) -> String {
        let mut parts = vec![browser];
        parts.extend_from_slice(shown);
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.consent, &framed(&parts)))
    }

    /// Whether `token` binds exactly `shown` for this browser (constant-time).
    pub(crate) fn verify_consent(&self, browser: &str, shown: &[&str], token: &str) -> bool {
        let mut parts = vec![browser];
        parts.extend_from_slice(shown);
        verify_tag(&self.consent, &framed(&parts), token)
    }
}

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

/// Serves the stylesheet; it changes only with the binary.
pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLESHEET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_browser() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let token = key.token("browser-a", None);
        assert!(key.verify("browser-a", None, &token));
        assert!(!key.verify("browser-b", None, &token));
        assert!(!key.verify("browser-a", None, "forged"));
        assert!(!CsrfKey::new([8; 32], [9; 32]).verify("browser-a", None, &token));
    }

    #[test]
    fn l5_csrf_tokens_are_bound_to_the_session_once_there_is_one() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let signed_in = key.token("browser-a", Some("session-1"));
        assert!(key.verify("browser-a", Some("session-1"), &signed_in));
        assert!(!key.verify("browser-a", Some("session-2"), &signed_in));
        assert!(!key.verify("browser-a", None, &signed_in));
        // A planted browser id alone no longer forges a signed-in form.
        assert!(!key.verify(
            "browser-a",
            Some("session-1"),
            &key.token("browser-a", None)
        ));
    }

    #[test]
    fn m1_consent_binding_covers_every_shown_part_and_is_not_the_csrf_token() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let shown = ["app", "App", "https://app.example/cb", "read", ""];
        let tag = key.consent("browser-a", &shown);
        assert!(key.verify_consent("browser-a", &shown, &tag));
        assert!(!key.verify_consent("browser-b", &shown, &tag));
        for i in 0..shown.len() {
            let mut changed = shown;
            changed[i] = "read write admin";
            assert!(!key.verify_consent("browser-a", &changed, &tag), "{i}");
        }
        // Framing: moving a boundary changes the input.
        let moved = ["app", "App", "https://app.example/cbread", "", ""];
        assert!(!key.verify_consent("browser-a", &moved, &tag));
        assert!(!key.verify("browser-a", None, &tag), "separate keys");
    }

    #[test]
    fn l5_cookies_take_the_host_prefix_where_the_issuer_allows_it() {
        let root = CookiePolicy::new("https://id.example", "https://id.example/authorize");
        assert_eq!(root.session, "__Host-latchkey_session");
        assert_eq!(root.browser, "__Host-latchkey_browser");
        assert_eq!(root.attributes, "Path=/; HttpOnly; SameSite=Lax; Secure");
        let shared = CookiePolicy::new(
            "https://api.example/v3/oauth",
            "https://api.example/v3/oauth/authorize",
        );
        assert_eq!(shared.session, "__Secure-latchkey_session");
        assert_eq!(
            shared.attributes,
            "Path=/v3/oauth/authorize; HttpOnly; SameSite=Lax; Secure"
        );
        let dev = CookiePolicy::new("http://127.0.0.1:8080", "http://127.0.0.1:8080/authorize");
        assert_eq!(dev.session, "latchkey_session");
        assert_eq!(dev.attributes, "Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn page_stops_map_to_statuses_in_one_place() {
        let page = |e: OAuthError| Stop::Page(e).status();
        assert_eq!(
            page(OAuthError::invalid_request("x")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            page(OAuthError::temporarily_unavailable("x")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Stop::Forged.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Stop::Internal("db".into()).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(Stop::Redirect("/".into()).status(), StatusCode::SEE_OTHER);
    }

    #[test]
    fn form_targets_are_origins_or_schemes() {
        assert_eq!(
            form_target("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            form_target("http://127.0.0.1:8788/callback").as_deref(),
            Some("http://127.0.0.1:8788")
        );
        assert_eq!(
            form_target("com.example.app:/oauth").as_deref(),
            Some("com.example.app:")
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; latchkey_session=abc; latchkey_session_x=no"),
        );
        assert_eq!(cookie(&headers, "latchkey_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
