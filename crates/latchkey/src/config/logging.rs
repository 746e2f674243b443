//! `[log]`: level filter, line format, and whether each request is logged.
use std::collections::BTreeMap;

use super::error::ConfigError;
use super::pick;
use super::raw::RawLog;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Logging configuration.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// A `tracing` target filter such as `info` or `info,sqlx=warn`.
    pub filter: tracing_subscriber::filter::Targets,
    /// Output format.
    pub format: LogFormat,
    /// Whether each request is logged.
    pub access: bool,
}

pub(crate) fn log(
    raw: &RawLog,
    file: &str,
    env: &BTreeMap<String, String>,
) -> Result<LogConfig, ConfigError> {
    let (level, origin) = pick(
        None,
        env,
        "LATCHKEY_LOG_LEVEL",
        raw.level.clone().map(|v| (v, format!("{file}: log.level"))),
    )
    .unwrap_or_else(|| ("info".to_owned(), "default".to_owned()));
    // sqlx logs each statement at info; that is noise for an operator and a cost on the hot path.
    let filter = format!("sqlx=warn,{level}").parse().map_err(|_| {
        ConfigError::at(
            &origin,
            format!("`{level}` is not a log filter such as `info` or `info,latchkey=debug`"),
        )
    })?;
    let (format, origin) = pick(
        None,
        env,
        "LATCHKEY_LOG_FORMAT",
        raw.format
            .clone()
            .map(|v| (v, format!("{file}: log.format"))),
    )
    .unwrap_or_else(|| ("plain".to_owned(), "default".to_owned()));
    let format = match format.as_str() {
        "plain" => LogFormat::Plain,
        "json" => LogFormat::Json,
        other => {
            return Err(ConfigError::at(
                origin,
                format!("`{other}` is not a log format (expected plain or json)"),
            ));
        }
    };
    Ok(LogConfig {
        filter,
        format,
        access: raw.access.unwrap_or(true),
    })
}
