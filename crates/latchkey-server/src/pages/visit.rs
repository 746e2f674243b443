//! What one page request knows about the browser: its language, its CSRF cookie and its session.
use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_core::params::Params;
use latchkey_core::secret::{SecretHash, random_base64url};
use latchkey_core::types::Timestamp;
use latchkey_core::user::User;
use latchkey_store::{Session, SessionStore, StoreError};

use super::Stop;
use super::i18n::Locale;
use crate::services::client_address::ClientAddress;
use crate::state::AppState;

fn binding(session: &SecretHash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(session.as_bytes())
}

/// The person signed in on this browser, since when, and the session's public id (OpenID `sid`).
#[derive(Clone, Debug)]
pub(crate) struct SignedIn {
    pub(crate) user: User,
    pub(crate) auth_time: Timestamp,
    pub(crate) sid: Option<String>,
}

/// One page request's browser.
pub(crate) struct Visit {
    pub(crate) locale: Locale,
    /// The browser cookie (CSRF tokens are bound to it), created on this visit when missing.
    pub(crate) browser: String,
    /// `Set-Cookie` values for the response.
    pub(crate) cookies: Vec<HeaderValue>,
    /// The signed-in session, by the hash of its cookie, with its user.
    pub(crate) session: Option<(SecretHash, Session, User)>,
    /// Who is asking (through trusted proxies), for the per-address limits.
    pub(crate) address: ClientAddress,
    /// The session cookie the forms are bound to (L5): as presented, valid or not, or the one this
    /// visit just issued. Its hash, so the cookie itself is never an input anywhere else.
    pub(crate) session_binding: Option<String>,
    /// A session was started on this very visit (the login form).
    started: bool,
    /// The browser cookie came with the request rather than being created on this visit.
    browser_presented: bool,
}

impl Visit {
    pub(crate) async fn new(
        app: &AppState,
        headers: &HeaderMap,
        address: ClientAddress,
        ui_locales: Option<&str>,
    ) -> Result<Self, StoreError> {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let mut cookies = Vec::new();
        let names = app.cookies();
        let presented_browser =
            crate::services::csrf::cookie(headers, &names.browser).filter(|b| b.len() == 43);
        let browser_presented = presented_browser.is_some();
        let browser = match presented_browser {
            Some(browser) => browser,
            None => {
                let browser = random_base64url(32);
                cookies.push(app.cookies().set_cookie(&names.browser, &browser, None));
                browser
            }
        };
        let presented = crate::services::csrf::cookie(headers, &names.session)
            .map(|v| SecretHash::of(v.as_bytes()));
        let session = match &presented {
            Some(hash) => {
                let found = app.store().find_signed_in(hash, app.clock().now()).await?;
                found.map(|(s, u)| (hash.clone(), s, u))
            }
            None => None,
        };
        Ok(Self {
            locale: Locale::choose(ui_locales, accept),
            browser,
            cookies,
            session,
            address,
            session_binding: presented.as_ref().map(binding),
            started: false,
            browser_presented,
        })
    }

    /// The CSRF token for forms shown on this visit.
    pub(crate) fn csrf_token(&self, app: &AppState) -> String {
        app.csrf()
            .token(&self.browser, self.session_binding.as_deref())
    }

    /// Starts a new session on this visit: its cookie is set, and forms shown from now on bind to it.
    pub(crate) fn start_session(&mut self, app: &AppState, secret: &str, ttl: u64) {
        let names = app.cookies();
        self.cookies
            .push(app.cookies().set_cookie(&names.session, secret, Some(ttl)));
        self.session_binding = Some(binding(&SecretHash::of(secret.as_bytes())));
        self.started = true;
    }

    /// Whether someone is signed in on this browser, or has just signed in on this visit: RFC 9700
    /// §4.11.2 lets errors go back to a client only once the person has authenticated.
    pub(crate) fn authenticated(&self) -> bool {
        self.session.is_some() || self.started
    }

    /// Whether the browser sent its browser cookie (it was not created on this visit).
    pub(crate) fn browser_presented(&self) -> bool {
        self.browser_presented
    }

    /// Reads a page form and checks its CSRF token; a failure is answered with an error page.
    pub(crate) async fn submitted(
        app: &AppState,
        headers: &HeaderMap,
        address: ClientAddress,
        body: &[u8],
    ) -> Result<(Visit, Params), axum::response::Response> {
        let form = Params::parse_urlencoded(body);
        let ui_locales = form
            .as_ref()
            .ok()
            .and_then(|f| f.get("ui_locales").map(str::to_owned));
        let visit = match Visit::new(app, headers, address, ui_locales.as_deref()).await {
            Ok(visit) => visit,
            Err(e) => return Err(Stop::from(e).respond(app, None)),
        };
        let form = match form {
            Ok(form) => form,
            Err(e) => return Err(Stop::Page(e).respond(app, Some(&visit))),
        };
        // A browser cookie created on this very request cannot have been given a token yet.
        let browser_known = visit.cookies.is_empty();
        let token = form.get("csrf_token").unwrap_or("");
        let binding = visit.session_binding.as_deref();
        if !browser_known || !app.csrf().verify(&visit.browser, binding, token) {
            return Err(Stop::Forged.respond(app, Some(&visit)));
        }
        Ok((visit, form))
    }

    /// The signed-in user and when they signed in.
    pub(crate) fn signed_in_user(&self) -> Option<SignedIn> {
        self.session.as_ref().map(|(_, session, user)| SignedIn {
            user: user.clone(),
            auth_time: session.auth_time,
            sid: session.sid.clone(),
        })
    }
}
