//! `[endpoints]` and `[metadata]`: where each endpoint is published and what the RFC 8414 document says
//! besides, gathered into the one `Features` value that both the routes and the document come from.
use std::collections::BTreeMap;

use latchkey_core::metadata::{Endpoints, Features, WELL_KNOWN_SUFFIX, describes_a_feature};
use latchkey_core::types::Issuer;
use latchkey_server::Locale;
use latchkey_server::settings::path_of;

use super::error::{ConfigError, Section};
use super::policy::Policy;
use super::raw::{RawEndpoints, RawMetadata};
use super::value::absolute_url;

pub(crate) fn endpoints(
    raw: &RawEndpoints,
    file: &str,
    issuer: &Issuer,
    policy: &Policy,
    registration_on: bool,
) -> Result<Endpoints, ConfigError> {
    let s = Section::new(file, "endpoints");
    let base = match &raw.base_url {
        Some(base) => absolute_url(s, "base_url", base)?
            .trim_end_matches('/')
            .to_owned(),
        None => issuer.as_str().to_owned(),
    };
    let endpoint = |key: &str, value: &Option<String>, suffix: &str| match value {
        Some(url) => absolute_url(s, key, url),
        None => Ok(format!("{base}{suffix}")),
    };
    // An endpoint that is off is neither routed nor published; its URL, if configured, is still
    // checked, so turning it back on cannot surface a typo later.
    let optional = |on: bool, key: &str, value: &Option<String>, suffix: &str| {
        endpoint(key, value, suffix).map(|url| on.then_some(url))
    };
    Ok(Endpoints {
        authorization: optional(
            policy.authorization,
            "authorization_endpoint",
            &raw.authorization_endpoint,
            "/authorize",
        )?,
        token: endpoint("token_endpoint", &raw.token_endpoint, "/token")?,
        jwks: endpoint("jwks_uri", &raw.jwks_uri, "/jwks")?,
        introspection: optional(
            policy.introspection.is_some(),
            "introspection_endpoint",
            &raw.introspection_endpoint,
            "/introspect",
        )?,
        revocation: optional(
            policy.revocation.is_some(),
            "revocation_endpoint",
            &raw.revocation_endpoint,
            "/revoke",
        )?,
        registration: optional(
            registration_on,
            "registration_endpoint",
            &raw.registration_endpoint,
            "/register",
        )?,
    })
}

/// The whole `Features` value; `scopes_supported` are the public configured scopes.
// Each argument is what another section resolved; a struct to carry them would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn features(
    raw: &RawMetadata,
    file: &str,
    issuer: Issuer,
    endpoints: Endpoints,
    policy: Policy,
    scopes_supported: Vec<String>,
    client_id_metadata_document_supported: bool,
    openid: Option<latchkey_core::metadata::OpenIdFeatures>,
) -> Result<Features, ConfigError> {
    let s = Section::new(file, "metadata");
    for key in raw.extra.keys() {
        if latchkey_core::metadata::GENERATED_MEMBERS.contains(&key.as_str()) {
            return Err(s.error(
                &format!("extra.{key}"),
                "Latchkey sets this member itself; remove it",
            ));
        }
        // An extra member is a fact about the operator; one that claims a feature would advertise
        // something nothing here implements or tests.
        if describes_a_feature(key) {
            return Err(s.error(
                &format!("extra.{key}"),
                "names a feature (an endpoint, a *_supported list, a require_* policy…); only members Latchkey implements may claim one",
            ));
        }
    }
    for (key, value) in [
        ("service_documentation", &raw.service_documentation),
        ("op_policy_uri", &raw.op_policy_uri),
        ("op_tos_uri", &raw.op_tos_uri),
    ] {
        if let Some(value) = value {
            absolute_url(s, key, value)?;
        }
    }
    let features = Features {
        issuer,
        endpoints,
        grant_types: policy.grant_types,
        token_endpoint_auth_methods: policy.token_endpoint_auth_methods,
        introspection_endpoint_auth_methods: policy.introspection.unwrap_or_default(),
        revocation_endpoint_auth_methods: policy.revocation.unwrap_or_default(),
        resource_parameter_supported: true,
        client_id_metadata_document_supported,
        scopes_supported,
        service_documentation: raw.service_documentation.clone(),
        op_policy_uri: raw.op_policy_uri.clone(),
        op_tos_uri: raw.op_tos_uri.clone(),
        ui_locales_supported: ui_locales(s, &raw.ui_locales_supported)?,
        extra: raw.extra.clone(),
        member_order: raw.member_order.clone(),
        openid,
    };
    check_member_order(s, &features)?;
    check_distinct_paths(&features, file)?;
    Ok(features)
}

/// `metadata.member_order` names members this configuration publishes, each once, `issuer` (always
/// first) at most at the front.
fn check_member_order(s: Section<'_>, features: &Features) -> Result<(), ConfigError> {
    let document = Features {
        member_order: Vec::new(),
        ..features.clone()
    }
    .document();
    for (i, name) in features.member_order.iter().enumerate() {
        if document.get(name).is_none() {
            return Err(s.error(
                "member_order",
                format!("`{name}` is not a member this configuration publishes"),
            ));
        }
        if features.member_order[..i].contains(name) {
            return Err(s.error("member_order", format!("`{name}` is listed twice")));
        }
        if name == "issuer" && i != 0 {
            return Err(s.error("member_order", "`issuer` is always the first member"));
        }
    }
    Ok(())
}

/// `ui_locales_supported` (RFC 8414 §2): the pages' languages, or the subset of them the operator lists.
fn ui_locales(s: Section<'_>, value: &Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let supported: Vec<&str> = Locale::ALL.iter().map(|l| l.tag()).collect();
    match value {
        None => Ok(supported.iter().map(|t| (*t).to_owned()).collect()),
        Some(tags) => {
            for tag in tags {
                if !supported.contains(&tag.as_str()) {
                    return Err(s.error(
                        "ui_locales_supported",
                        format!(
                            "the pages are not written in `{tag}` (available: {})",
                            supported.join(", ")
                        ),
                    ));
                }
            }
            Ok(tags.clone())
        }
    }
}

/// Two endpoints on one path would make one of them unreachable; say which at start.
fn check_distinct_paths(features: &Features, file: &str) -> Result<(), ConfigError> {
    let s = Section::new(file, "");
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let endpoints = &features.endpoints;
    let mut paths: Vec<(String, &str)> = vec![
        (path_of(&endpoints.token), "endpoints.token_endpoint"),
        (path_of(&endpoints.jwks), "endpoints.jwks_uri"),
        ("/health/live".to_owned(), "the liveness probe"),
        ("/health/ready".to_owned(), "the readiness probe"),
    ];
    if let Some(authorization) = endpoints.authorization.as_deref().map(path_of) {
        paths.extend([
            (format!("{authorization}/login"), "the login form"),
            (format!("{authorization}/consent"), "the consent form"),
            (
                format!("{authorization}/assets/latchkey.css"),
                "the stylesheet",
            ),
            (authorization, "endpoints.authorization_endpoint"),
        ]);
    }
    for (url, owner) in [
        (&endpoints.introspection, "endpoints.introspection_endpoint"),
        (&endpoints.revocation, "endpoints.revocation_endpoint"),
        (&endpoints.registration, "endpoints.registration_endpoint"),
        (
            &features
                .openid
                .as_ref()
                .map(|o| o.userinfo_endpoint.clone()),
            "endpoints.userinfo_endpoint",
        ),
        (
            &features
                .openid
                .as_ref()
                .map(|o| o.end_session_endpoint.clone()),
            "endpoints.end_session_endpoint",
        ),
    ] {
        if let Some(url) = url {
            paths.push((path_of(url), owner));
        }
    }
    paths.extend(
        features
            .well_known_paths()
            .into_iter()
            .map(|p| (p, "the metadata document")),
    );
    for (path, owner) in paths {
        if path.contains(WELL_KNOWN_SUFFIX) && owner != "the metadata document" {
            return Err(s.error(
                owner,
                format!("path `{path}` collides with the metadata document"),
            ));
        }
        if let Some(other) = seen.insert(path.clone(), owner) {
            return Err(s.error(owner, format!("path `{path}` is already used by {other}")));
        }
    }
    Ok(())
}
