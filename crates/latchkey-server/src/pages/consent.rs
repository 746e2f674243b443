//! The consent page of the authorization flow: who asks, for what, and where the answer goes.
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::authorize::AuthorizationRequest;
use latchkey_core::params::Params;
use latchkey_core::user::User;

use super::visit::Visit;
use super::{Chrome, authorization_path, chrome, form_target, hidden_fields, html, language_links};
use crate::state::AppState;

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

/// The consent page for `request`, shown to `user`.
pub(crate) fn consent_page(
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
        c: chrome(app, visit.locale, language_links(app, visit, params)),
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
    let target = form_target(&request.redirect_uri);
    html(
        StatusCode::OK,
        page.render(),
        target.as_deref(),
        &visit.cookies,
    )
}
