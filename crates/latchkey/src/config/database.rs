//! `[database]`: the connection pool each process keeps (the URL itself is the top-level `database_url`).
use std::time::Duration;

use latchkey_store::ConnectOptions;

use super::error::{ConfigError, Section};
use super::raw::RawDatabase;
use super::value::duration;

pub(crate) fn database(raw: &RawDatabase, file: &str) -> Result<ConnectOptions, ConfigError> {
    let s = Section::new(file, "database");
    let defaults = ConnectOptions::default();
    let options = ConnectOptions {
        max_connections: raw.max_connections.unwrap_or(defaults.max_connections),
        statement_timeout: duration(
            s,
            "statement_timeout",
            &raw.statement_timeout,
            defaults.statement_timeout,
        )?,
        acquire_timeout: duration(
            s,
            "acquire_timeout",
            &raw.acquire_timeout,
            defaults.acquire_timeout,
        )?,
        sqlite_synchronous: match raw.sqlite_synchronous.as_deref() {
            None => defaults.sqlite_synchronous,
            Some(value) => value.parse().map_err(|()| {
                s.error(
                    "sqlite_synchronous",
                    format!("expected \"normal\" or \"full\", got `{value}`"),
                )
            })?,
        },
    };
    if !(1..=1000).contains(&options.max_connections) {
        return Err(s.error("max_connections", "must be between 1 and 1000"));
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(3600))
        .contains(&options.statement_timeout)
    {
        return Err(s.error("statement_timeout", "must be between 100ms and 1h"));
    }
    if !(Duration::from_millis(10)..=Duration::from_secs(60)).contains(&options.acquire_timeout) {
        return Err(s.error("acquire_timeout", "must be between 10ms and 60s"));
    }
    Ok(options)
}
