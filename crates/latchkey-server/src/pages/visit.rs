//! What one page request knows about the browser: its language, its CSRF cookie and its session.
use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_core::params::Params;
use latchkey_core::secret::{SecretHash, random_base64url};
use latchkey_core::types::Timestamp;
use latchkey_core::user::User;
use latchkey_store::{Session, SessionStore, StoreError};

use super::i18n::Locale;
use super::{BROWSER_COOKIE, SESSION_COOKIE, Stop};
use crate::state::AppState;

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
}

impl Visit {
    pub(crate) async fn new(
        app: &AppState,
        headers: &HeaderMap,
        ui_locales: Option<&str>,
    ) -> Result<Self, StoreError> {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let mut cookies = Vec::new();
        let browser = match super::cookie(headers, BROWSER_COOKIE).filter(|b| b.len() == 43) {
            Some(browser) => browser,
            None => {
                let browser = random_base64url(32);
                cookies.push(super::set_cookie(app, BROWSER_COOKIE, &browser, None));
                browser
            }
        };
        let session = match super::cookie(headers, SESSION_COOKIE) {
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

    /// Reads a page form and checks its CSRF token; a failure is answered with an error page.
    pub(crate) async fn submitted(
        app: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Visit, Params), axum::response::Response> {
        let form = Params::parse_urlencoded(body);
        let ui_locales = form
            .as_ref()
            .ok()
            .and_then(|f| f.get("ui_locales").map(str::to_owned));
        let visit = match Visit::new(app, headers, ui_locales.as_deref()).await {
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
        if !browser_known || !app.csrf().verify(&visit.browser, token) {
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
