//! `[resources."URI"]`: resources (RFC 8707) listed in the file; `latchkey resource add` stores more in
//! the database.
use std::collections::BTreeMap;

use latchkey_core::client::TokenFormat;
use latchkey_core::resource::Resource;
use latchkey_core::types::{ResourceUri, ScopeToken};

use super::error::{ConfigError, Section};
use super::raw::RawResource;
use super::value::parse_duration;

pub(crate) fn resources(
    raw: &BTreeMap<String, RawResource>,
    file: &str,
) -> Result<BTreeMap<ResourceUri, Resource>, ConfigError> {
    let s = Section::new(file, "resources");
    raw.iter()
        .map(|(uri, r)| resource(s, uri, r).map(|resource| (resource.uri.clone(), resource)))
        .collect()
}

/// One `[resources."URI"]` table.
fn resource(s: Section<'_>, uri: &str, r: &RawResource) -> Result<Resource, ConfigError> {
    let key = format!("\"{uri}\"");
    let uri = Resource::parse_identifier(uri).map_err(|e| s.error(&key, e))?;
    let scopes = r
        .scopes
        .iter()
        .map(|scope| {
            ScopeToken::parse(scope.clone()).map_err(|_| {
                s.error(
                    &format!("{key}.scopes"),
                    format!("`{scope}` is not a scope token"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let format = r
        .format
        .as_deref()
        .map(|f| {
            f.parse::<TokenFormat>()
                .map_err(|e| s.error(&format!("{key}.format"), e))
        })
        .transpose()?;
    let ttl = match &r.ttl {
        Some(text) => Some(
            parse_duration(text)
                .map(|d| d.as_secs())
                .filter(|secs| (1..=86_400).contains(secs))
                .ok_or_else(|| {
                    s.error(
                        &format!("{key}.ttl"),
                        format!("expected a duration from 1s to 24h, got `{text}`"),
                    )
                })?,
        ),
        None => None,
    };
    Ok(Resource {
        uri,
        scopes,
        format,
        access_token_ttl: ttl,
    })
}
