//! `[metrics]`: where Prometheus scrapes `/metrics`. Off unless configured, and kept off the public
//! listener unless the operator says so: the series describe the deployment (routes, pool sizes, key
//! age) to whoever can read them.
use std::collections::BTreeMap;
use std::net::SocketAddr;

use latchkey_server::MetricsSettings;

use super::error::{ConfigError, Section};
use super::pick;
use super::raw::RawMetrics;

/// The metrics listener and what the server does for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsConfig {
    /// `metrics.listen`: the address of the listener that serves `/metrics` alone.
    pub listen: Option<SocketAddr>,
    /// Handed to the server.
    pub settings: MetricsSettings,
}

pub(crate) fn metrics(
    raw: &RawMetrics,
    file: &str,
    env: &BTreeMap<String, String>,
    public_listen: SocketAddr,
) -> Result<MetricsConfig, ConfigError> {
    let s = Section::new(file, "metrics");
    let listen = match pick(
        None,
        env,
        "LATCHKEY_METRICS_LISTEN",
        raw.listen
            .clone()
            .map(|v| (v, format!("{file}: metrics.listen"))),
    ) {
        None => None,
        Some((text, origin)) => Some(text.parse::<SocketAddr>().map_err(|_| {
            ConfigError::at(
                &origin,
                format!("`{text}` is not an address such as 127.0.0.1:9090"),
            )
        })?),
    };
    let public = raw.public.unwrap_or(false);
    if let Some(listen) = listen
        && listen == public_listen
        && listen.port() != 0
    {
        return Err(s.error(
            "listen",
            format!(
                "{listen} is the public listener; set metrics.public = true to serve /metrics there"
            ),
        ));
    }
    Ok(MetricsConfig {
        listen,
        settings: MetricsSettings {
            enabled: listen.is_some() || public,
            public,
        },
    })
}
