//! `[rate_limits]`: one limit per endpoint group (`discovery`: metadata and JWKS; `token`;
//! `introspection_revocation`; `authorization`: the authorization endpoint, login and consent;
//! `registration`), each `limit` requests per `window`, and the bound on the keys each group remembers.
use std::num::NonZeroU32;

use latchkey_server::rate_limit::Group;
use latchkey_server::settings::{Limit, RateLimitSettings};

use super::error::{ConfigError, Section};
use super::raw::{RawLimit, RawRateLimits};

/// The defaults: generous for a person or a well-behaved client, low enough to stop a loop. A resource
/// server may introspect once per API call it serves, so its budget is the API's own rate (1,000/s).
fn default(group: Group) -> (&'static str, u32) {
    match group {
        Group::Discovery => ("discovery", 600),
        Group::Token => ("token", 600),
        Group::IntrospectionRevocation => ("introspection_revocation", 60_000),
        Group::Authorization => ("authorization", 120),
        Group::Registration => ("registration", 30),
    }
}

/// Keys remembered per group by default: a few MiB at most.
const DEFAULT_MAX_KEYS: usize = 100_000;

pub(crate) fn rate_limits(
    raw: &RawRateLimits,
    file: &str,
) -> Result<RateLimitSettings, ConfigError> {
    let s = Section::new(file, "rate_limits");
    let all_on = raw.enabled.unwrap_or(true);
    let max_keys = raw.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
    if !(16..=10_000_000).contains(&max_keys) {
        return Err(s.error("max_keys", "must be between 16 and 10000000"));
    }
    let mut groups = [None; 5];
    for (i, group) in Group::ALL.into_iter().enumerate() {
        let (name, default_limit) = default(group);
        let raw_group = match group {
            Group::Discovery => &raw.discovery,
            Group::Token => &raw.token,
            Group::IntrospectionRevocation => &raw.introspection_revocation,
            Group::Authorization => &raw.authorization,
            Group::Registration => &raw.registration,
        };
        groups[i] = limit(s, name, raw_group, all_on, default_limit)?;
    }
    Ok(RateLimitSettings { groups, max_keys })
}

fn limit(
    s: Section<'_>,
    name: &str,
    raw: &Option<RawLimit>,
    all_on: bool,
    default_limit: u32,
) -> Result<Option<Limit>, ConfigError> {
    let empty = RawLimit::default();
    let raw = raw.as_ref().unwrap_or(&empty);
    if !raw.enabled.unwrap_or(all_on) {
        return Ok(None);
    }
    let key = |k: &str| format!("{name}.{k}");
    let limit = NonZeroU32::new(raw.limit.unwrap_or(default_limit)).ok_or_else(|| {
        s.error(
            &key("limit"),
            "must be at least 1 (use enabled = false to turn the limit off)",
        )
    })?;
    let window = s.duration_between(&key("window"), &raw.window, "60s", ["1s", "24h"])?;
    let limit = Limit { limit, window };
    if limit.period().is_none() {
        return Err(s.error(
            &key("limit"),
            "is more than one request per nanosecond of the window",
        ));
    }
    Ok(Some(limit))
}
