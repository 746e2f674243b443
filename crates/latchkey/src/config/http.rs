//! `[http]` and `[cache]`: limits every route applies, the shape of non-protocol errors, and how often
//! cached data is re-checked.
use std::time::Duration;

use latchkey_server::client_address::{ForwardedHeader, TrustedProxies};
use latchkey_server::http_error::ErrorShape;
use latchkey_server::settings::HttpSettings;

use super::error::{ConfigError, Section};
use super::raw::{RawCache, RawHttp};
use super::value::duration;

/// The longest `http.header_read_timeout`, written as the error says it.
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn http(raw: &RawHttp, file: &str) -> Result<HttpSettings, ConfigError> {
    let s = Section::new(file, "http");
    let http = HttpSettings {
        body_limit: usize::try_from(raw.body_limit.unwrap_or(64 * 1024)).unwrap_or(usize::MAX),
        request_timeout: duration(
            s,
            "request_timeout",
            &raw.request_timeout,
            Duration::from_secs(15),
        )?,
        header_read_timeout: duration(
            s,
            "header_read_timeout",
            &raw.header_read_timeout,
            Duration::from_secs(10),
        )?,
        max_connections: match raw.max_connections.unwrap_or(4096) {
            0 => return Err(s.error("max_connections", "must be at least 1")),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
        discovery_max_age: duration(
            s,
            "discovery_max_age",
            &raw.discovery_max_age,
            Duration::from_secs(300),
        )?
        .as_secs(),
        trusted_proxies: trusted_proxies(s, raw)?,
        error_shape: match &raw.error_shape {
            Some(shape) => shape.parse().map_err(|e| s.error("error_shape", e))?,
            None => ErrorShape::default(),
        },
    };
    if http.header_read_timeout.is_zero() {
        return Err(s.error("header_read_timeout", "must be longer than zero"));
    }
    // A request head that may dribble in for longer holds a connection slot for a slow client, and
    // the connection limit is what a slowloris attack spends.
    if http.header_read_timeout > MAX_HEADER_READ_TIMEOUT {
        let written = raw.header_read_timeout.as_deref().unwrap_or_default();
        return Err(s.error(
            "header_read_timeout",
            format!("`{written}` is longer than 60s, the most it may be"),
        ));
    }
    if http.body_limit < 1024 {
        return Err(s.error("body_limit", "must be at least 1024 bytes"));
    }
    Ok(http)
}

/// `cache.refresh_interval`: how often a running server checks whether clients or resources changed.
pub(crate) fn cache(raw: &RawCache, file: &str) -> Result<Duration, ConfigError> {
    let s = Section::new(file, "cache");
    s.duration_between(
        "refresh_interval",
        &raw.refresh_interval,
        "250ms",
        ["1ms", "60s"],
    )
}

/// `http.trusted_proxies` and `http.forwarded_header`: whose forwarded headers name the client.
fn trusted_proxies(s: Section<'_>, raw: &RawHttp) -> Result<TrustedProxies, ConfigError> {
    let header = match &raw.forwarded_header {
        Some(name) => name
            .parse::<ForwardedHeader>()
            .map_err(|e| s.error("forwarded_header", e))?,
        None => ForwardedHeader::default(),
    };
    TrustedProxies::parse(&raw.trusted_proxies, header).map_err(|e| s.error("trusted_proxies", e))
}
