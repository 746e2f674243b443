//! Login, consent and error pages: server-rendered HTML that works without JavaScript, in English and
//! Spanish, with anti-framing headers, a restrictive CSP, and CSRF tokens on every form.
pub(crate) mod i18n;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::InternalCause;
use crate::state::AppState;
use i18n::{Locale, Text};

/// The stylesheet, served from our own origin so the CSP can forbid everything else.
pub(crate) const STYLESHEET: &str = include_str!("pages/latchkey.css");

/// Cookie naming the signed-in session (its SHA-256 is the database key).
pub(crate) const SESSION_COOKIE: &str = "latchkey_session";
/// Cookie identifying the browser for CSRF tokens, set before anyone signs in.
pub(crate) const BROWSER_COOKIE: &str = "latchkey_browser";

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
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) c: Chrome,
    pub(crate) action: String,
    pub(crate) client_name: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) csrf: String,
    pub(crate) error: Option<&'static str>,
    pub(crate) username: String,
}

/// One requested scope on the consent page.
pub(crate) struct ScopeLine {
    pub(crate) name: String,
    pub(crate) description: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage {
    pub(crate) c: Chrome,
    pub(crate) action: String,
    pub(crate) client_name: String,
    /// For a client identified by a metadata document URL: its host, so the person sees who it is.
    pub(crate) client_host: Option<String>,
    pub(crate) username: String,
    pub(crate) scopes: Vec<ScopeLine>,
    pub(crate) resource: Option<String>,
    pub(crate) redirect_host: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) csrf: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) c: Chrome,
    pub(crate) lead: &'static str,
    pub(crate) code: &'static str,
    pub(crate) description: String,
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

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, and Secure when the issuer is https.
pub(crate) fn set_cookie(
    app: &AppState,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if app.settings().features.issuer.is_https() {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("cookie names and base64url values are header-safe")
}

/// CSRF tokens: an HMAC of the browser cookie under a key derived from the master key, so every
/// instance of one issuer accepts the tokens of the others and nothing is stored.
pub(crate) struct CsrfKey(aws_lc_rs::hmac::Key);

impl CsrfKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &key,
        ))
    }

    /// The token for forms shown to this browser.
    pub(crate) fn token(&self, browser: &str) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.0, browser.as_bytes()))
    }

    /// Whether a submitted token belongs to this browser (constant-time).
    pub(crate) fn verify(&self, browser: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        aws_lc_rs::hmac::verify(&self.0, browser.as_bytes(), &tag).is_ok()
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
        let key = CsrfKey::new([7; 32]);
        let token = key.token("browser-a");
        assert!(key.verify("browser-a", &token));
        assert!(!key.verify("browser-b", &token));
        assert!(!key.verify("browser-a", "forged"));
        assert!(!CsrfKey::new([8; 32]).verify("browser-a", &token));
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
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
