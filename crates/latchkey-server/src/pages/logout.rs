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
    };
    let target = back.and_then(super::form_target);
    html(
        StatusCode::OK,
        page.render(),
        target.as_deref(),
        &visit.cookies,
    )
}
