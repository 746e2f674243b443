//! The RP-Initiated Logout pages: the question asked when the logout request cannot prove it speaks
//! for the signed-in person, and the page shown once signed out without a way back to the client.
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::visit::Visit;
use super::{Chrome, chrome, html};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "logout.html")]
pub(crate) struct LogoutPage {
    pub(crate) c: Chrome,
    /// Signed out already: nothing to ask.
    pub(crate) done: bool,
    pub(crate) action: String,
    pub(crate) client_name: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) csrf: String,
    /// Done, but nobody was signed in: nothing ended (N-M1).
    pub(crate) none: bool,
    /// The way back to the relying party as a link: its host and the URI.
    pub(crate) back: Option<(String, String)>,
}

/// How a logout ended, for the page that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The session ended.
    SignedOut,
    /// There was no session on this browser.
    NotSignedIn,
}

/// The page after a logout request: what happened, and (when given) a link back to the relying
/// party, for a logout that did not end a session or whose target may not be followed on its own.
pub(crate) fn logout_done(
    app: &AppState,
    visit: &Visit,
    outcome: Outcome,
    back: Option<&str>,
) -> Response {
    let page = LogoutPage {
        c: chrome(app, visit.locale, Vec::new()),
        done: true,
        action: String::new(),
        client_name: None,
        username: None,
        fields: Vec::new(),
        csrf: String::new(),
        none: outcome == Outcome::NotSignedIn,
        back: back.map(|b| (super::host_of(b), b.to_owned())),
    };
    html(StatusCode::OK, page.render(), None, &visit.cookies)
}

/// The confirmation page (`done == false`) or the signed-out page. `back` is where its form's answer
/// redirects (a validated `post_logout_redirect_uri`): CSP `form-action` covers the redirect after a
/// form post, so that origin is allowed too, as on the consent page.
pub(crate) fn logout_page(
    app: &AppState,
    visit: &Visit,
    done: bool,
    client_name: Option<String>,
    fields: Vec<(String, String)>,
    back: Option<&str>,
) -> Response {
    let username = visit.session.as_ref().map(|(_, _, user)| {
        user.name
            .clone()
            .unwrap_or_else(|| user.username.to_string())
    });
    let action = app
        .settings()
        .features
        .openid
        .as_ref()
        .map(|o| crate::settings::path_of(&o.end_session_endpoint))
        .unwrap_or_default();
    let page = LogoutPage {
        c: chrome(app, visit.locale, Vec::new()),
        done,
        action,
        client_name,
        username,
        fields,
        csrf: visit.csrf_token(app),
        none: false,
        back: None,
    };
    let target = back.and_then(super::form_target);
    html(
        StatusCode::OK,
        page.render(),
        target.as_deref(),
        &visit.cookies,
    )
}
