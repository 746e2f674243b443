//! `[tokens]` and `[keys]`: lifetimes, audience, and the signing keys the server creates.
use std::time::Duration;

use latchkey_core::keys::KeyAlg;
use latchkey_core::token::TokenPolicy;
use latchkey_core::types::Issuer;
use latchkey_server::settings::KeySettings;

use super::error::{ConfigError, Section};
use super::raw::{RawKeys, RawTokens};
use super::value::duration;

/// Seconds a token may be presented after its `exp` by a verifier with a slow clock.
pub(crate) const CLOCK_LEEWAY: u64 = 60;

pub(crate) fn tokens(
    raw: &RawTokens,
    file: &str,
    issuer: &Issuer,
) -> Result<TokenPolicy, ConfigError> {
    let s = Section::new(file, "tokens");
    let ttl: u64 = s.duration_between(
        "access_token_ttl",
        &raw.access_token_ttl,
        "10m",
        ["1s", "24h"],
    )?;
    let seconds = |key: &str, value: &Option<String>, default: u64| {
        duration(s, key, value, Duration::from_secs(default)).map(|d| d.as_secs())
    };
    let policy = TokenPolicy {
        issuer: issuer.clone(),
        access_token_ttl: ttl,
        default_audience: raw
            .default_audience
            .clone()
            .unwrap_or_else(|| issuer.as_str().to_owned()),
        code_ttl: seconds("code_ttl", &raw.code_ttl, 60)?,
        refresh_token_idle_ttl: seconds(
            "refresh_token_idle_ttl",
            &raw.refresh_token_idle_ttl,
            14 * 86_400,
        )?,
        refresh_token_absolute_ttl: seconds(
            "refresh_token_absolute_ttl",
            &raw.refresh_token_absolute_ttl,
            90 * 86_400,
        )?,
    };
    if !(1..=600).contains(&policy.code_ttl) {
        return Err(s.error("code_ttl", "must be between 1s and 10m"));
    }
    if policy.refresh_token_idle_ttl == 0
        || policy.refresh_token_idle_ttl > policy.refresh_token_absolute_ttl
    {
        return Err(s.error(
            "refresh_token_idle_ttl",
            "must be positive and at most tokens.refresh_token_absolute_ttl",
        ));
    }
    Ok(policy)
}

/// `longest_token_ttl`: how long a token signed by a key may live, so a retired key stays published
/// until the last of them has expired.
pub(crate) fn keys(
    raw: &RawKeys,
    file: &str,
    longest_token_ttl: u64,
) -> Result<KeySettings, ConfigError> {
    let s = Section::new(file, "keys");
    let alg = match &raw.algorithm {
        Some(a) => a.parse::<KeyAlg>().map_err(|e| s.error("algorithm", e))?,
        None => KeyAlg::ES256,
    };
    let keys = KeySettings {
        alg,
        refresh_interval: duration(
            s,
            "refresh_interval",
            &raw.refresh_interval,
            Duration::from_secs(10),
        )?,
        publish_window: longest_token_ttl + CLOCK_LEEWAY,
    };
    if keys.refresh_interval.is_zero() {
        return Err(s.error("refresh_interval", "must be longer than zero"));
    }
    Ok(keys)
}
