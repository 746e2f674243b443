//! The sign-in page of the authorization flow.
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::authorize::AuthorizationRequest;
use latchkey_core::params::Params;

use super::visit::Visit;
use super::{Chrome, authorization_path, chrome, form_target, hidden_fields, html, language_links};
use crate::state::AppState;

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

/// Why the sign-in page is shown again, each with its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoginNotice {
    /// Unknown user or wrong password: 401.
    BadCredentials,
    /// Too many failures for this account or address: 429.
    Locked,
}

/// The sign-in page for `request`, with the username typed so far.
pub(crate) fn login_page(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    notice: Option<LoginNotice>,
    username: &str,
) -> Response {
    let t = visit.locale.text();
    let (status, error) = match notice {
        None => (StatusCode::OK, None),
        Some(LoginNotice::BadCredentials) => (StatusCode::UNAUTHORIZED, Some(t.bad_credentials)),
        Some(LoginNotice::Locked) => (StatusCode::TOO_MANY_REQUESTS, Some(t.locked)),
    };
    let page = LoginPage {
        c: chrome(app, visit.locale, language_links(app, visit, params)),
        action: format!("{}/login", authorization_path(app)),
        client_name: request.client.name.clone(),
        fields: hidden_fields(params),
        csrf: visit.csrf_token(app),
        error,
        username: username.to_owned(),
    };
    let target = form_target(&request.redirect_uri);
    html(status, page.render(), target.as_deref(), &visit.cookies)
}
