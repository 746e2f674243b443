//! `[openapi]`: where the server also serves its OpenAPI document (`latchkey openapi` prints it
//! either way). Off by default: the document describes the deployment to anyone who asks.
use latchkey_core::metadata::Features;
use latchkey_server::settings::path_of;

use super::error::{ConfigError, Section};
use super::raw::RawOpenApi;

pub(crate) fn openapi(
    raw: &RawOpenApi,
    file: &str,
    features: &Features,
    stylesheet_path: &str,
) -> Result<Option<String>, ConfigError> {
    let s = Section::new(file, "openapi");
    let Some(path) = &raw.path else {
        return Ok(None);
    };
    if !path.starts_with('/') || path.contains(['?', '#', '{', '}']) || path.contains("//") {
        return Err(s.error(
            "path",
            format!("`{path}` is not a path such as /openapi.json"),
        ));
    }
    let endpoints = &features.endpoints;
    let taken = features
        .well_known_paths()
        .into_iter()
        .chain(
            std::iter::once(&endpoints.token)
                .chain(std::iter::once(&endpoints.jwks))
                .chain(&endpoints.authorization)
                .chain(&endpoints.introspection)
                .chain(&endpoints.revocation)
                .chain(&endpoints.registration)
                .map(|url| path_of(url)),
        )
        .chain(["/health/live", "/health/ready", "/metrics", stylesheet_path].map(String::from));
    if let Some(clash) = taken.into_iter().find(|p| p == path) {
        return Err(s.error(
            "path",
            format!("{clash} is already served by another endpoint"),
        ));
    }
    Ok(Some(path.clone()))
}
