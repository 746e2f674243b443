//! Prometheus metrics: the counters and histograms handlers feed, and the text exposition (format
//! 0.0.4) served at `/metrics` on the operator's metrics listener.
//!
//! Labels are bounded by construction: route templates (never raw paths), status classes, and closed
//! vocabularies (grant types, token formats, authentication methods, results). Client ids, user names
//! and token values are never labels. Handlers record with one call each (`app.metrics().…`); counting
//! is a relaxed atomic increment whether or not anyone scrapes, and the per-request histogram is only
//! installed when metrics are on.
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use latchkey_core::client::TokenFormat;
use latchkey_core::types::{AuthMethod, GrantType};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the request-duration buckets, in seconds: from a cached document (tens of
/// microseconds) to a password check under load (about a second).
const DURATION_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// The status classes a request is counted under, in `status` label order.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The route label of requests no route matched (the JSON 404): one series, whatever was asked.
const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: &'static str,
    format: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenTypeLabel {
    token_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

/// Hits and misses of one in-memory cache, handed to the cache when the server starts.
#[derive(Clone, Debug, Default)]
pub struct CacheCounters {
    hit: Counter,
    miss: Counter,
}

impl CacheCounters {
    /// A lookup answered from memory.
    pub fn hit(&self) {
        self.hit.inc();
    }

    /// A lookup that had to go to the database or the network.
    pub fn miss(&self) {
        self.miss.inc();
    }
}

/// A sign-in attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// The password was right.
    Success,
    /// The username or password was wrong.
    Failure,
    /// The account or address was locked; no password was checked.
    Locked,
}

/// What a revocation request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// An access token (it went on the deny-list).
    AccessToken,
    /// A refresh token (its grant was revoked).
    RefreshToken,
    /// Nothing this server honours (RFC 7009 §2.2 still answers 200).
    Unknown,
}

/// Values read when a scrape happens rather than counted as they occur.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sampled {
    /// Pooled connections lent out.
    pub db_in_use: u64,
    /// Pooled connections waiting for work.
    pub db_idle: u64,
    /// The pools' size limit.
    pub db_max: u64,
    /// Requests that waited for a connection until the acquire timeout, since start.
    pub db_acquire_timeouts: u64,
    /// Seconds since the active signing key was created.
    pub signing_key_age: i64,
    /// Log lines dropped because the writer could not keep up, since start.
    pub log_lines_dropped: u64,
}

/// Encodes the scrape-time values (set just before each encode).
#[derive(Debug, Default)]
struct SampledCollector(RwLock<Sampled>);

impl Collector for SampledCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = *self.0.read().unwrap_or_else(|p| p.into_inner());
        for (name, help, value) in [
            (
                "latchkey_db_connections_in_use",
                "Database connections lent to requests",
                s.db_in_use,
            ),
            (
                "latchkey_db_connections_idle",
                "Database connections idle in the pool",
                s.db_idle,
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let max = ConstGauge::new(i64::try_from(s.db_max).unwrap_or(i64::MAX));
        max.encode(encoder.encode_descriptor(
            "latchkey_db_connections_max",
            "Most database connections the pools open",
            None,
            max.metric_type(),
        )?)?;
        let timeouts = ConstCounter::new(s.db_acquire_timeouts);
        timeouts.encode(encoder.encode_descriptor(
            "latchkey_db_acquire_timeouts",
            "Requests that waited for a database connection until the acquire timeout",
            None,
            timeouts.metric_type(),
        )?)?;
        let age = ConstGauge::new(s.signing_key_age);
        age.encode(encoder.encode_descriptor(
            "latchkey_signing_key_age_seconds",
            "Age of the active signing key",
            None,
            age.metric_type(),
        )?)?;
        let dropped = ConstCounter::new(s.log_lines_dropped);
        dropped.encode(encoder.encode_descriptor(
            "latchkey_log_lines_dropped",
            "Log lines dropped because the log writer could not keep up",
            None,
            dropped.metric_type(),
        )?)?;
        Ok(())
    }
}

/// One route's histograms by status class, each created on its class's first request so that the
/// exposition lists only the classes a route has answered with.
type RouteHistograms = [OnceLock<Histogram>; 5];

/// Every series this server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// Per route template, the five status-class histograms: found by `&str`, so counting a request
    /// allocates nothing after a route's first request.
    routes: RwLock<HashMap<String, Arc<RouteHistograms>>>,
    tokens: Family<TokenLabels, Counter>,
    client_auth_failures: Family<MethodLabel, Counter>,
    logins: Family<ResultLabel, Counter>,
    registrations: Family<ResultLabel, Counter>,
    revocations: Family<TokenTypeLabel, Counter>,
    introspections: Family<ResultLabel, Counter>,
    caches: Family<CacheLabels, Counter>,
    fetches: Family<ResultLabel, Counter>,
    audit_records: Family<ResultLabel, Counter>,
    sampled: Arc<SampledCollector>,
    log_drops: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family, registered and empty.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(DURATION_BUCKETS)
            });
        registry.register(
            "latchkey_http_request_duration_seconds",
            "HTTP requests by route template and status class, and how long they took",
            requests.clone(),
        );
        let tokens = Family::default();
        registry.register(
            "latchkey_tokens_issued",
            "Access tokens issued, by grant type and token format",
            Family::clone(&tokens),
        );
        let client_auth_failures = Family::default();
        registry.register(
            "latchkey_client_authentication_failures",
            "Failed client authentications, by the method the client tried",
            Family::clone(&client_auth_failures),
        );
        let logins = Family::default();
        registry.register(
            "latchkey_logins",
            "Sign-in attempts on the login page: success, failure or locked",
            Family::clone(&logins),
        );
        let registrations = Family::default();
        registry.register(
            "latchkey_registrations",
            "Dynamic client registrations: created or refused",
            Family::clone(&registrations),
        );
        let revocations = Family::default();
        registry.register(
            "latchkey_revocations",
            "Revocation requests, by what the token turned out to be",
            Family::clone(&revocations),
        );
        let introspections = Family::default();
        registry.register(
            "latchkey_introspections",
            "Introspection requests, by answer: active or inactive",
            Family::clone(&introspections),
        );
        let caches = Family::default();
        registry.register(
            "latchkey_cache_lookups",
            "In-memory cache lookups (clients, verified JWTs, client metadata documents): hit or miss",
            Family::clone(&caches),
        );
        let fetches = Family::default();
        registry.register(
            "latchkey_outbound_fetches",
            "Outbound fetches (client metadata documents, jwks_uri): ok or failed",
            Family::clone(&fetches),
        );
        let audit_records = Family::default();
        registry.register(
            "latchkey_audit_records",
            "Audit records: written to the database, or failed to be",
            Family::clone(&audit_records),
        );
        let sampled = Arc::new(SampledCollector::default());
        registry.register_collector(Box::new(sampled.clone()));
        Metrics {
            registry,
            requests,
            routes: RwLock::default(),
            tokens,
            client_auth_failures,
            logins,
            registrations,
            revocations,
            introspections,
            caches,
            fetches,
            audit_records,
            sampled,
            log_drops: OnceLock::new(),
        }
    }

    /// The hit and miss counters of the cache called `name` (`clients`, `verified_jwts`, `documents`).
    pub fn cache(&self, name: &'static str) -> CacheCounters {
        let counter = |result| {
            self.caches.get_or_create_owned(&CacheLabels {
                cache: name,
                result,
            })
        };
        CacheCounters {
            hit: counter("hit"),
            miss: counter("miss"),
        }
    }

    /// Where the count of dropped log lines comes from (the binary owns the log writer).
    pub fn set_log_drop_source(&self, source: impl Fn() -> u64 + Send + Sync + 'static) {
        self.log_drops.set(Box::new(source)).ok();
    }

    /// One request on `route` (a template such as `/register/{id}`) answered with `status`.
    pub fn request(&self, route: Option<&str>, status: StatusCode, elapsed: Duration) {
        let route = route.unwrap_or(UNMATCHED);
        let class = usize::from(status.as_u16() / 100)
            .saturating_sub(1)
            .min(STATUS_CLASSES.len() - 1);
        let found = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
            .cloned();
        let histograms = found.unwrap_or_else(|| {
            self.routes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(route.to_owned())
                .or_default()
                .clone()
        });
        histograms[class]
            .get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    route: route.to_owned(),
                    status: STATUS_CLASSES[class],
                })
            })
            .observe(elapsed.as_secs_f64());
    }

    /// An access token issued by `grant` in `format`.
    pub fn token_issued(&self, grant: GrantType, format: TokenFormat) {
        let grant_type = grant.as_str();
        let format = match format {
            TokenFormat::Jwt => "jwt",
            TokenFormat::Opaque => "opaque",
        };
        self.tokens
            .get_or_create(&TokenLabels { grant_type, format })
            .inc();
    }

    /// Counts `error` as a failed client authentication when it is one (`invalid_client`), under the
    /// method the client tried.
    pub(crate) fn client_auth_error(
        &self,
        error: &crate::error::ApiError,
        tried: Option<AuthMethod>,
    ) {
        use crate::error::ApiError;
        if let ApiError::OAuth(e) | ApiError::Challenged(e, _) = error
            && e.code == latchkey_core::ErrorCode::InvalidClient
        {
            self.client_auth_failed(tried);
        }
    }

    /// A client that tried `method` (`None`: the credentials could not even be read) failed to
    /// authenticate.
    pub fn client_auth_failed(&self, method: Option<AuthMethod>) {
        let method = method.map_or("malformed", |m| m.as_str());
        self.client_auth_failures
            .get_or_create(&MethodLabel { method })
            .inc();
    }

    /// A sign-in attempt.
    pub fn login(&self, result: LoginResult) {
        let result = match result {
            LoginResult::Success => "success",
            LoginResult::Failure => "failure",
            LoginResult::Locked => "locked",
        };
        self.logins.get_or_create(&ResultLabel { result }).inc();
    }

    /// A registration request that created a client (`true`) or was refused.
    pub fn registration(&self, created: bool) {
        let result = if created { "created" } else { "refused" };
        self.registrations
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// A revocation request.
    pub fn revocation(&self, what: Revoked) {
        let token_type = match what {
            Revoked::AccessToken => "access_token",
            Revoked::RefreshToken => "refresh_token",
            Revoked::Unknown => "unknown",
        };
        self.revocations
            .get_or_create(&TokenTypeLabel { token_type })
            .inc();
    }

    /// An introspection answer.
    pub fn introspection(&self, active: bool) {
        let result = if active { "active" } else { "inactive" };
        self.introspections
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// An outbound fetch that succeeded (`true`) or failed for any reason (refused address, timeout,
    /// status, size, content type).
    pub fn fetch(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.fetches.get_or_create(&ResultLabel { result }).inc();
    }

    /// The counter of audit records written to the database (`true`) or not stored after retries.
    pub fn audit_counter(&self, written: bool) -> Counter {
        let result = if written { "written" } else { "failed" };
        self.audit_records
            .get_or_create_owned(&ResultLabel { result })
    }

    /// The exposition: every series, in the Prometheus text format.
    pub fn encode(&self, mut sampled: Sampled) -> String {
        if let Some(source) = self.log_drops.get() {
            sampled.log_lines_dropped = source();
        }
        *self.sampled.0.write().unwrap_or_else(|p| p.into_inner()) = sampled;
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix} in\n{text}"))
    }

    #[test]
    fn requests_are_counted_by_route_template_and_status_class() {
        let metrics = Metrics::new();
        metrics.request(Some("/token"), StatusCode::OK, Duration::from_micros(300));
        metrics.request(Some("/token"), StatusCode::OK, Duration::from_micros(300));
        metrics.request(
            Some("/token"),
            StatusCode::UNAUTHORIZED,
            Duration::from_millis(2),
        );
        metrics.request(None, StatusCode::NOT_FOUND, Duration::from_millis(2));
        let text = metrics.encode(Sampled::default());
        assert_eq!(
            line(
                &text,
                "latchkey_http_request_duration_seconds_count{route=\"/token\",status=\"2xx\"}"
            )
            .rsplit(' ')
            .next(),
            Some("2")
        );
        assert!(text.contains(
            "latchkey_http_request_duration_seconds_count{route=\"/token\",status=\"4xx\"} 1"
        ));
        assert!(text.contains(
            "latchkey_http_request_duration_seconds_count{route=\"unmatched\",status=\"4xx\"} 1"
        ));
        // Only the classes a route answered with are listed.
        assert!(!text.contains("route=\"/token\",status=\"5xx\""));
        // 300 µs falls in the 500 µs bucket, not the 250 µs one.
        assert!(text.contains(
            "latchkey_http_request_duration_seconds_bucket{route=\"/token\",status=\"2xx\",le=\"0.00025\"} 0"
        ));
        assert!(text.contains(
            "latchkey_http_request_duration_seconds_bucket{route=\"/token\",status=\"2xx\",le=\"0.0005\"} 2"
        ));
    }

    #[test]
    fn counters_and_sampled_values_are_exposed_under_their_names() {
        let metrics = Metrics::new();
        metrics.token_issued(GrantType::ClientCredentials, TokenFormat::Jwt);
        metrics.client_auth_failed(Some(AuthMethod::ClientSecretBasic));
        metrics.client_auth_failed(None);
        metrics.login(LoginResult::Locked);
        let clients = metrics.cache("clients");
        clients.hit();
        clients.hit();
        clients.miss();
        metrics.set_log_drop_source(|| 7);
        let text = metrics.encode(Sampled {
            db_in_use: 1,
            db_idle: 3,
            db_max: 5,
            db_acquire_timeouts: 0,
            signing_key_age: 42,
            log_lines_dropped: 0,
        });
        for expected in [
            "latchkey_tokens_issued_total{grant_type=\"client_credentials\",format=\"jwt\"} 1",
            "latchkey_client_authentication_failures_total{method=\"client_secret_basic\"} 1",
            "latchkey_client_authentication_failures_total{method=\"malformed\"} 1",
            "latchkey_logins_total{result=\"locked\"} 1",
            "latchkey_cache_lookups_total{cache=\"clients\",result=\"hit\"} 2",
            "latchkey_cache_lookups_total{cache=\"clients\",result=\"miss\"} 1",
            "latchkey_db_connections_in_use 1",
            "latchkey_db_connections_idle 3",
            "latchkey_signing_key_age_seconds 42",
            "latchkey_log_lines_dropped_total 7",
            "# TYPE latchkey_tokens_issued_total counter",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }
}
