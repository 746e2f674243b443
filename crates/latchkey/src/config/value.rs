//! Value shapes shared by several sections: durations and absolute URLs.
use std::time::Duration;

use super::error::{ConfigError, Section};

/// Parses `"90s"`, `"10m"`, `"1h"`, `"7d"`, `"250ms"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// `section.key` as a duration, or `default` when absent.
pub(crate) fn duration(
    section: Section<'_>,
    key: &str,
    value: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => parse_duration(text).ok_or_else(|| {
            section.error(
                key,
                format!("expected a duration such as \"10m\", got `{text}`"),
            )
        }),
    }
}

/// `duration` in seconds, refusing values below `min_seconds` rather than quietly raising them.
pub(crate) fn duration_at_least(
    section: Section<'_>,
    key: &str,
    value: &Option<String>,
    default: Duration,
    min_seconds: u64,
) -> Result<u64, ConfigError> {
    let seconds = duration(section, key, value, default)?.as_secs();
    if seconds < min_seconds {
        return Err(section.error(key, format!("must be at least {min_seconds}s")));
    }
    Ok(seconds)
}

/// A duration written in the source as the documentation writes it ("1s", "24h"), so that a
/// refusal can quote its bounds exactly.
fn written(text: &str) -> Duration {
    parse_duration(text).expect("bounds and defaults are written as durations")
}

/// How a duration key is used: as a `Duration`, or in whole seconds (`u64`). Its bounds apply to
/// what is used, so a key used in seconds does not refuse a fraction of a second over its maximum.
pub(crate) trait Measure: PartialOrd {
    fn measure(duration: Duration) -> Self;
}

impl Measure for Duration {
    fn measure(duration: Duration) -> Duration {
        duration
    }
}

impl Measure for u64 {
    fn measure(duration: Duration) -> u64 {
        duration.as_secs()
    }
}

impl Section<'_> {
    /// `key` as a duration from `min` to `max` inclusive, or `default` when absent. The default and
    /// bounds are written as the documentation writes them, and the refusal quotes them.
    pub(crate) fn duration_between<T: Measure>(
        self,
        key: &str,
        value: &Option<String>,
        default: &str,
        [min, max]: [&str; 2],
    ) -> Result<T, ConfigError> {
        let found = T::measure(duration(self, key, value, written(default))?);
        if !(T::measure(written(min))..=T::measure(written(max))).contains(&found) {
            return Err(self.error(key, format!("must be between {min} and {max}")));
        }
        Ok(found)
    }
}

/// An absolute http(s) URL without fragment.
pub(crate) fn absolute_url(
    section: Section<'_>,
    key: &str,
    value: &str,
) -> Result<String, ConfigError> {
    let url = url::Url::parse(value)
        .map_err(|e| section.error(key, format!("`{value}` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(section.error(key, format!("`{value}` must be an http(s) URL")));
    }
    if url.fragment().is_some() {
        return Err(section.error(key, format!("`{value}` must not have a fragment")));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn bounds_are_quoted_as_written() {
        let s = Section::new("latchkey.toml", "cache");
        let refresh = Some("61s".to_owned());
        let refused =
            s.duration_between::<Duration>("refresh_interval", &refresh, "1s", ["1ms", "60s"]);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "latchkey.toml: cache.refresh_interval: must be between 1ms and 60s"
        );
    }

    #[test]
    fn a_key_used_in_seconds_is_bounded_in_seconds() {
        let s = Section::new("latchkey.toml", "tokens");
        let ttl = Some("86400500ms".to_owned());
        let seconds = s.duration_between::<u64>("access_token_ttl", &ttl, "10m", ["1s", "24h"]);
        assert_eq!(seconds, Ok(86_400));
    }
}
