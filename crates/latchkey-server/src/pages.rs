//! Login, consent and error pages: server-rendered HTML that works without JavaScript, in English and
//! Spanish, with anti-framing headers, a restrictive CSP, and CSRF tokens on every form.
pub(crate) mod bounce;
pub(crate) mod consent;
pub(crate) mod i18n;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod visit;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use latchkey_core::params::Params;
use latchkey_core::{ErrorCode, OAuthError};
use latchkey_store::StoreError;

use crate::error::InternalCause;
use crate::settings::path_of;
use crate::state::AppState;
use i18n::{Locale, Text};
use visit::Visit;

/// The stylesheet, served from our own origin so the CSP can forbid everything else.
pub(crate) const STYLESHEET: &str = include_str!("pages/latchkey.css");

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
    /// An error for a client the operator did not create (N-M3): followed once someone is signed in
    /// on this browser, and until then shown on a page that names where it leads.
    Leave(String),
    /// The server failed; the cause is logged, never shown.
    Internal(String),
    /// The database cannot serve right now: 503, try again; the cause is logged, never shown.
    Unavailable(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Stop::Unavailable(e.to_string()),
            e => Stop::Internal(e.to_string()),
        }
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
            Stop::Leave(_) => StatusCode::OK,
            Stop::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Stop::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response: a redirect, or an error page in the visitor's language (English before the
    /// visit could be read).
    pub(crate) fn respond(self, app: &AppState, visit: Option<&Visit>) -> Response {
        let stop = match self {
            Stop::Leave(location) => match visit {
                Some(v) if v.authenticated() => Stop::Redirect(location),
                _ => return leave_page(app, visit, &location),
            },
            stop => stop,
        };
        stop.answer(app, visit)
    }

    fn answer(self, app: &AppState, visit: Option<&Visit>) -> Response {
        let status = self.status();
        let (locale, cookies) = match visit {
            Some(v) => (v.locale, v.cookies.as_slice()),
            None => (Locale::En, &[][..]),
        };
        let t = locale.text();
        let (lead, code, description, cause) = match self {
            Stop::Redirect(location) | Stop::Leave(location) => {
                return redirect(&location, cookies);
            }
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
            Stop::Unavailable(cause) => (
                t.error_lead,
                "temporarily_unavailable",
                crate::error::UNAVAILABLE.to_owned(),
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

#[derive(Template)]
#[template(path = "leave.html")]
pub(crate) struct LeavePage {
    pub(crate) c: Chrome,
    pub(crate) host: String,
    pub(crate) location: String,
}

/// The host a person is about to be sent to, as they should read it: the host of a web address, or
/// the scheme of a native app's private-use URI.
pub(crate) fn host_of(location: &str) -> String {
    url::Url::parse(location)
        .ok()
        .map(|u| match u.host_str() {
            Some(host) => host.to_owned(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default()
}

/// The interstitial before a redirect RFC 9700 §4.11.2 does not let the server follow on its own:
/// the person sees the host and decides. A link, not a form, so no CSP `form-action` is involved.
pub(crate) fn leave_page(app: &AppState, visit: Option<&Visit>, location: &str) -> Response {
    let (locale, cookies) = match visit {
        Some(v) => (v.locale, v.cookies.as_slice()),
        None => (Locale::En, &[][..]),
    };
    let page = LeavePage {
        c: chrome(app, locale, Vec::new()),
        host: host_of(location),
        location: location.to_owned(),
    };
    html(StatusCode::OK, page.render(), None, cookies)
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
    private(headers, cookies);
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
    private(headers, cookies);
    response
}

/// What every page answer and redirect carries: never cached, no referrer (the URL holds the
/// authorization request, a redirect's the code), and this visit's cookies.
fn private(headers: &mut axum::http::HeaderMap, cookies: &[HeaderValue]) {
    crate::error::no_store(headers);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
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
}
