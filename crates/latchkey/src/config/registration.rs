//! `[registration]`, `[client_id_metadata_documents]` and `[fetch]`: how clients the operator did not
//! create come to exist, and the one outbound fetcher their documents and keys are read through.
use std::time::Duration;

use latchkey_core::resource::Resource;
use latchkey_server::fetch::FetchSettings;
use latchkey_server::settings::{DocumentSettings, RegistrationPolicy, RegistrationSettings};

use super::error::{ConfigError, Section};
use super::raw::{RawDocuments, RawFetch, RawRegistration};
use super::value::{duration, duration_at_least};

/// `None` when registration is off.
pub(crate) fn registration(
    raw: &RawRegistration,
    file: &str,
) -> Result<Option<RegistrationSettings>, ConfigError> {
    let s = Section::new(file, "registration");
    let policy = match raw.policy.as_deref().unwrap_or("off") {
        "off" => return Ok(None),
        "open" => RegistrationPolicy::Open,
        "token" => RegistrationPolicy::Token,
        other => {
            return Err(s.error(
                "policy",
                format!("`{other}` is not a policy (expected off, open or token)"),
            ));
        }
    };
    let resources = raw
        .client_credentials_resources
        .iter()
        .flatten()
        .map(|uri| {
            Resource::parse_identifier(uri).map_err(|e| s.error("client_credentials_resources", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client_credentials_resources = match raw.allow_client_credentials {
        Some(true) => Some(resources),
        _ if !resources.is_empty() => {
            return Err(s.error(
                "client_credentials_resources",
                "needs allow_client_credentials = true",
            ));
        }
        _ => None,
    };
    Ok(Some(RegistrationSettings {
        policy,
        client_credentials_resources,
        rate_limit: match raw.rate_limit.unwrap_or(20) {
            0 => return Err(s.error("rate_limit", "must be at least 1 per minute")),
            n => n,
        },
        unused_client_ttl: duration_at_least(
            s,
            "unused_client_ttl",
            &raw.unused_client_ttl,
            Duration::from_secs(86_400),
            60,
        )?,
    }))
}

/// `None` when metadata documents are off.
pub(crate) fn documents(
    raw: &RawDocuments,
    file: &str,
) -> Result<Option<DocumentSettings>, ConfigError> {
    let s = Section::new(file, "client_id_metadata_documents");
    if raw.enabled != Some(true) {
        return Ok(None);
    }
    let min_cache = duration(s, "min_cache", &raw.min_cache, Duration::from_secs(300))?;
    let max_cache = duration(s, "max_cache", &raw.max_cache, Duration::from_secs(86_400))?;
    if min_cache > max_cache {
        return Err(s.error("min_cache", "must not exceed max_cache"));
    }
    Ok(Some(DocumentSettings {
        min_cache,
        max_cache,
    }))
}

/// The most outbound fetches `fetch.rate_limit` allows per minute, per asking address and per target
/// host: the limit is what keeps the server from being a request amplifier aimed at someone's host.
const MAX_FETCH_RATE: u32 = 1000;

pub(crate) fn fetch(raw: &RawFetch, file: &str) -> Result<FetchSettings, ConfigError> {
    let s = Section::new(file, "fetch");
    Ok(FetchSettings {
        allow_loopback: raw.allow_loopback.unwrap_or(false),
        extra_roots_pem: match &raw.extra_roots_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                s.error(
                    "extra_roots_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?),
            None => None,
        },
        connect_timeout: duration(
            s,
            "connect_timeout",
            &raw.connect_timeout,
            Duration::from_secs(3),
        )?,
        timeout: duration(s, "timeout", &raw.timeout, Duration::from_secs(5))?,
        rate_limit: match raw.rate_limit.unwrap_or(30) {
            0 => return Err(s.error("rate_limit", "must be at least 1 per minute")),
            n @ 1..=MAX_FETCH_RATE => n,
            n => {
                return Err(s.error(
                    "rate_limit",
                    format!("{n} is above {MAX_FETCH_RATE} per minute, the most it may be"),
                ));
            }
        },
        max_bytes: match raw.max_bytes.unwrap_or(64 * 1024) {
            n @ 1024..=1_048_576 => n,
            n => {
                return Err(s.error("max_bytes", format!("{n} is outside 1024 to 1048576")));
            }
        },
    })
}
