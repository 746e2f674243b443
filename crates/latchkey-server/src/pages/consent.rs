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
    /// The MAC over what this page shows (M1), posted back as `consent_binding`.
    pub(crate) binding: String,
}

/// What a person approves on the consent page, in the order the binding covers it: the client, the
/// name it is shown by, where the answer goes, the scope and the resource.
fn shown(request: &AuthorizationRequest) -> [String; 5] {
    [
        request.client.client_id.as_str().to_owned(),
        request.client.name.clone(),
        request.redirect_uri.clone(),
        request.scope.to_string(),
        request
            .resource
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
    ]
}

/// Whether `binding` (the `consent_binding` field) covers `request` as it is derived now.
///
/// # Security
/// The consent POST parses the authorization request again against the client as it is *now*. A
/// client that changed its metadata after the page was shown (RFC 7592 `PUT`, a re-fetched metadata
/// document) would otherwise turn an approval of `read` into one of whatever it registered since:
/// the approval counts only for exactly what was displayed, and anything else shows the page again.
pub(crate) fn binds(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    binding: &str,
) -> bool {
    let shown = shown(request);
    let parts: Vec<&str> = shown.iter().map(String::as_str).collect();
    app.csrf().verify_consent(&visit.browser, &parts, binding)
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
        csrf: visit.csrf_token(app),
        binding: {
            let shown = shown(request);
            let parts: Vec<&str> = shown.iter().map(String::as_str).collect();
            app.csrf().consent(&visit.browser, &parts)
        },
    };
    let target = form_target(&request.redirect_uri);
    html(
        StatusCode::OK,
        page.render(),
        target.as_deref(),
        &visit.cookies,
    )
}
