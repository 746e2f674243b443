//! The consent page of the authorization flow: who asks, for what, and where the answer goes.
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::authorize::AuthorizationRequest;
use latchkey_core::oidc::claims::{self, ClaimsRequest, Destination};
use latchkey_core::params::Params;
use latchkey_core::user::User;
use serde_json::Value;

use super::visit::{SignedIn, Visit};
use super::{Chrome, authorization_path, chrome, form_target, hidden_fields, html, language_links};
use crate::state::AppState;

/// One requested scope on the consent page.
pub(crate) struct ScopeLine {
    pub(crate) name: String,
    pub(crate) description: String,
}

/// One claim the client will receive, with the user's value.
pub(crate) struct ClaimLine {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    /// Asked for as essential (OpenID Connect Core §5.5.1).
    pub(crate) essential: bool,
}

/// A link the client registered (`client_uri`, `policy_uri`, `tos_uri`).
pub(crate) struct ClientLink {
    pub(crate) label: &'static str,
    pub(crate) href: String,
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
    /// OpenID: the claims released to the client, with their values.
    pub(crate) claims: Vec<ClaimLine>,
    /// The client's registered logo (https only, as registration checks).
    pub(crate) client_logo: Option<String>,
    pub(crate) client_links: Vec<ClientLink>,
    pub(crate) redirect_host: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) csrf: String,
    /// The MAC over what this page shows (M1), posted back as `consent_binding`.
    pub(crate) binding: String,
}

/// What a person approves on the consent page, in the order the binding covers it: the client, the
/// name it is shown by, where the answer goes, the scope, the resource, and (OpenID) the claims
/// requested beyond the scopes, which the page lists too.
fn shown(request: &AuthorizationRequest) -> [String; 6] {
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
        request
            .openid
            .as_ref()
            .map(|o| serde_json::to_string(&o.claims).expect("a claims request serialises"))
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
    signed_in: &SignedIn,
    binding: &str,
) -> bool {
    let shown = bound(request, signed_in);
    let parts: Vec<&str> = shown.iter().map(String::as_str).collect();
    app.csrf().verify_consent(&visit.browser, &parts, binding)
}

/// What the binding covers: what the page shows, and the authentication it was shown under (N-M5):
/// `prompt`, `max_age` and `nonce` of the request, and the session's `sid` and `auth_time`. A page
/// shown for one request (say `prompt=consent`) then cannot approve another (the relying party's
/// `prompt=login` step-up), nor one shown before the person signed in again.
fn bound(request: &AuthorizationRequest, signed_in: &SignedIn) -> Vec<String> {
    let prompt = request.prompt;
    let prompt = format!(
        "{}{}{}",
        if prompt.none { "n" } else { "" },
        if prompt.login { "l" } else { "" },
        if prompt.consent { "c" } else { "" }
    );
    let openid = request.openid.as_ref();
    let mut parts = shown(request).to_vec();
    parts.extend([
        prompt,
        openid
            .and_then(|o| o.max_age)
            .map(|m| m.to_string())
            .unwrap_or_default(),
        openid.and_then(|o| o.nonce.clone()).unwrap_or_default(),
        signed_in.sid.clone().unwrap_or_default(),
        signed_in.auth_time.0.to_string(),
    ]);
    parts
}

/// The consent page for `request`, shown to `user`.
pub(crate) fn consent_page(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    signed_in: &SignedIn,
) -> Response {
    let user = &signed_in.user;
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
    let t = visit.locale.text();
    let claims = match &request.openid {
        Some(openid) => claim_lines(t, request, &openid.claims, user),
        None => Vec::new(),
    };
    let registered = &request.client.policy.openid;
    let client_links = [
        (t.client_home, &registered.client_uri),
        (t.client_policy, &registered.policy_uri),
        (t.client_terms, &registered.tos_uri),
    ]
    .into_iter()
    .filter_map(|(label, href)| {
        href.clone()
            .filter(|h| vouched(request, h))
            .map(|href| ClientLink { label, href })
    })
    .collect();
    let page = ConsentPage {
        claims,
        client_logo: registered
            .logo_uri
            .clone()
            .filter(|logo| vouched(request, logo)),
        client_links,
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
            let shown = bound(request, signed_in);
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

/// Whether the page may show a logo or link the client registered.
///
/// # Security
/// N-I1, RFC 7591 §5: a client that registered itself (or publishes its own document) could show any
/// brand's logo and links next to any name. Its logo and links are shown only on a host it controls
/// by registration: the host of one of its redirect URIs, or of its client_id document.
fn vouched(request: &AuthorizationRequest, uri: &str) -> bool {
    let client = &request.client;
    if client.operator_created() {
        return true;
    }
    let Some(host) = url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    else {
        return false;
    };
    client
        .redirect_uris
        .iter()
        .filter_map(|r| url::Url::parse(r.as_str()).ok())
        .any(|r| r.host_str() == Some(host.as_str()))
        || latchkey_core::cimd::host_of(&client.client_id).as_deref() == Some(host.as_str())
}

/// The claims the client will receive (at UserInfo and in the ID token) that the user has, labelled in
/// the page's language; the values are the user's own, so they see exactly what is shared.
fn claim_lines(
    t: &'static super::i18n::Text,
    request: &AuthorizationRequest,
    asked: &ClaimsRequest,
    user: &User,
) -> Vec<ClaimLine> {
    let allowed = &request.client.scope;
    let mut names = claims::released(&request.scope, Some(asked), Destination::UserInfo, allowed);
    names.extend(claims::released(
        &request.scope,
        Some(asked),
        Destination::IdToken,
        allowed,
    ));
    let values = claims::select(user, &names);
    // A person reads "maria@example.com (verified)" more easily than two lines; `updated_at` is
    // bookkeeping rather than something about them.
    let folded = ["email_verified", "phone_number_verified", "updated_at"];
    t.claim_labels
        .iter()
        .filter(|(name, _)| !folded.contains(name))
        .filter_map(|(name, label)| {
            let value = values.get(*name)?;
            let verified = match *name {
                "email" => values.get("email_verified"),
                "phone_number" => values.get("phone_number_verified"),
                _ => None,
            };
            let mut text = display(t, name, value);
            if verified == Some(&Value::Bool(true)) {
                text = format!("{text} ({})", t.verified);
            }
            let essential = [&asked.userinfo, &asked.id_token]
                .iter()
                .any(|m| m.get(*name).is_some_and(|r| r.essential));
            Some(ClaimLine {
                label,
                value: text,
                essential,
            })
        })
        .collect()
}

/// A claim's value as a person reads it.
fn display(t: &'static super::i18n::Text, name: &str, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => t.yes.to_owned(),
        Value::Bool(false) => t.no.to_owned(),
        Value::Object(address) if name == "address" => {
            if let Some(formatted) = address.get("formatted").and_then(Value::as_str) {
                return formatted.to_owned();
            }
            [
                "street_address",
                "postal_code",
                "locality",
                "region",
                "country",
            ]
            .iter()
            .filter_map(|k| address.get(*k).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(", ")
        }
        other => other.to_string(),
    }
}
