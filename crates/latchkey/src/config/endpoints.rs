//! `[endpoints]` and `[metadata]`: where each endpoint is published and what the RFC 8414 document says
//! besides, gathered into the one `Features` value that both the routes and the document come from.
use std::collections::BTreeMap;

use latchkey_core::metadata::{Endpoints, Features, WELL_KNOWN_SUFFIX};
use latchkey_core::types::{AuthMethod, GrantType, Issuer};
use latchkey_server::Locale;
use latchkey_server::router::path_of;

use super::error::{ConfigError, Section};
use super::raw::{RawEndpoints, RawMetadata};
use super::value::absolute_url;

pub(crate) fn endpoints(
    raw: &RawEndpoints,
    file: &str,
    issuer: &Issuer,
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
    Ok(Endpoints {
        authorization: Some(endpoint(
            "authorization_endpoint",
            &raw.authorization_endpoint,
            "/authorize",
        )?),
        token: endpoint("token_endpoint", &raw.token_endpoint, "/token")?,
        jwks: endpoint("jwks_uri", &raw.jwks_uri, "/jwks")?,
        introspection: Some(endpoint(
            "introspection_endpoint",
            &raw.introspection_endpoint,
            "/introspect",
        )?),
        revocation: Some(endpoint(
            "revocation_endpoint",
            &raw.revocation_endpoint,
            "/revoke",
        )?),
        registration: if registration_on {
            Some(endpoint(
                "registration_endpoint",
                &raw.registration_endpoint,
                "/register",
            )?)
        } else {
            None
        },
    })
}

/// The whole `Features` value; `scopes_supported` are the public configured scopes.
pub(crate) fn features(
    raw: &RawMetadata,
    file: &str,
    issuer: Issuer,
    endpoints: Endpoints,
    scopes_supported: Vec<String>,
    client_id_metadata_document_supported: bool,
) -> Result<Features, ConfigError> {
    let s = Section::new(file, "metadata");
    for key in raw.extra.keys() {
        if latchkey_core::metadata::GENERATED_MEMBERS.contains(&key.as_str()) {
            return Err(s.error(
                &format!("extra.{key}"),
                "Latchkey sets this member itself; remove it",
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
        grant_types: GrantType::ALL.into(),
        token_endpoint_auth_methods: AuthMethod::ALL.into(),
        resource_parameter_supported: true,
        client_id_metadata_document_supported,
        scopes_supported,
        service_documentation: raw.service_documentation.clone(),
        op_policy_uri: raw.op_policy_uri.clone(),
        op_tos_uri: raw.op_tos_uri.clone(),
        ui_locales_supported: ui_locales(s, &raw.ui_locales_supported)?,
        extra: raw.extra.clone(),
    };
    check_distinct_paths(&features, file)?;
    Ok(features)
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
