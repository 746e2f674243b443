//! Shared server state: a cheap `Clone` around an `Arc`.
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::keys::{KeyAlg, MasterKey};
use latchkey_core::metadata::Features;
use latchkey_core::token::TokenPolicy;
use latchkey_store::Store;

use crate::clock::Clock;
use crate::keyring::{self, KeySet, KeyringError};
use crate::pages::{CookiePolicy, CsrfKey};
use crate::passwords::PasswordChecker;
use crate::registry::Registry;
use crate::throttle::ThrottleSettings;
use crate::tokens::VerifiedTokens;

/// Limits applied to every route.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Time allowed for one request.
    pub request_timeout: Duration,
    /// Time allowed for a request's head (request line and headers) to arrive.
    pub header_read_timeout: Duration,
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// `max-age` of metadata and JWKS responses, in seconds.
    pub discovery_max_age: u64,
    /// Proxies whose forwarded headers name the client's address.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// The JSON shape of errors outside the OAuth protocol endpoints.
    pub error_shape: crate::http_error::ErrorShape,
}

/// Signing key settings.
#[derive(Clone, Debug)]
pub struct KeySettings {
    /// Algorithm of keys this server creates.
    pub alg: KeyAlg,
    /// How often keys are reloaded from the store.
    pub refresh_interval: Duration,
    /// How long a retired key stays published: the longest token lifetime plus clock leeway.
    pub publish_window: u64,
}

/// What the login and consent pages show.
#[derive(Clone, Debug)]
pub struct UiSettings {
    /// The operator's name, in the page header.
    pub operator_name: String,
    /// An https URL of the operator's logo.
    pub logo_url: Option<String>,
    /// Path of the stylesheet route.
    pub stylesheet_path: String,
    /// Human-readable scope descriptions: scope name to locale tag to text (`""` for the default).
    pub scope_descriptions: BTreeMap<String, BTreeMap<String, String>>,
}

/// Who may register clients (RFC 7591).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Anyone may.
    Open,
    /// Only with an initial access token from `latchkey registration token create`.
    Token,
}

/// Dynamic client registration, when enabled.
#[derive(Clone, Debug)]
pub struct RegistrationSettings {
    /// Who may register.
    pub policy: RegistrationPolicy,
    /// Registrations per client address and minute.
    pub rate_limit: u32,
    /// A registered client that obtains no token within this many seconds is deleted.
    pub unused_client_ttl: u64,
    /// `Some` when self-registered clients may use `client_credentials`
    /// (`registration.allow_client_credentials`): the resources their tokens may name
    /// (`registration.client_credentials_resources`; empty: the default audience alone).
    pub client_credentials_resources: Option<Vec<latchkey_core::types::ResourceUri>>,
}

/// Client ID Metadata Documents: how long a fetched document is used.
#[derive(Clone, Copy, Debug)]
pub struct DocumentSettings {
    /// At least this long, whatever the document's cache headers say.
    pub min_cache: Duration,
    /// At most this long.
    pub max_cache: Duration,
}

/// Signing in.
#[derive(Clone, Debug)]
pub struct LoginSettings {
    /// How long a browser session lasts, in seconds.
    pub session_ttl: u64,
    /// Failed-login throttling.
    pub throttle: ThrottleSettings,
}

/// OpenID Connect, when it is on.
#[derive(Clone, Debug)]
pub struct OpenIdSettings {
    /// ID token lifetime in seconds.
    pub id_token_ttl: u64,
    /// Algorithms clients may choose for ID tokens and UserInfo (RS256 always among them).
    pub signing_algs: Vec<latchkey_core::keys::KeyAlg>,
    /// Whether clients may register `subject_type=pairwise`.
    pub pairwise: bool,
    /// Whether RP-initiated logout also revokes what the logging-out client was granted in the
    /// session (its refresh and access tokens).
    pub logout_revokes_grants: bool,
}

/// The audit trail (`[audit]`).
#[derive(Clone, Copy, Debug)]
pub struct AuditSettings {
    /// How long records are kept.
    pub retention: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Prometheus metrics (`[metrics]`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSettings {
    /// Whether requests are timed and counted per route (`metrics.listen` or `metrics.public` set).
    pub enabled: bool,
    /// Whether `/metrics` is also routed on the public listener (`metrics.public = true`).
    pub public: bool,
}

/// Everything configuration decides for the server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What is implemented and enabled, and where.
    pub features: Features,
    /// Token lifetimes and audience.
    pub policy: TokenPolicy,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Key management.
    pub keys: KeySettings,
    /// The pages.
    pub ui: UiSettings,
    /// Client ID Metadata Documents; `None` when off.
    pub client_id_documents: Option<DocumentSettings>,
    /// The outbound fetcher.
    pub fetch: crate::fetch::FetchSettings,
    /// Dynamic client registration; `None` when off.
    pub registration: Option<RegistrationSettings>,
    /// Every configured scope, public or not; empty when none is configured.
    pub configured_scopes: latchkey_core::types::Scope,
    /// How often the client and resource cache checks the database for changes.
    pub cache_refresh_interval: Duration,
    /// Resources from the configuration file (`latchkey resource add` stores more in the database).
    pub resources: BTreeMap<latchkey_core::types::ResourceUri, latchkey_core::resource::Resource>,
    /// Signing in.
    pub login: LoginSettings,
    /// OpenID Connect; `None` when off.
    pub openid: Option<OpenIdSettings>,
    /// Metrics.
    pub metrics: MetricsSettings,
    /// The audit trail.
    pub audit: AuditSettings,
    /// Where the OpenAPI document is served (`openapi.path`); `None`: it is not.
    pub openapi_path: Option<String>,
    /// Rate limits per endpoint group.
    pub rate_limits: crate::rate_limit::RateLimitSettings,
}

impl Settings {
    /// What a self-registered or metadata-document client may have: the published scopes, and
    /// `client_credentials` only where the operator opted in.
    pub fn registration_rules(&self) -> latchkey_core::registration::RegistrationRules {
        latchkey_core::registration::RegistrationRules {
            scopes: self
                .features
                .scopes_supported
                .iter()
                .filter_map(|s| latchkey_core::types::ScopeToken::parse(s.clone()).ok())
                .collect(),
            client_credentials_resources: self
                .registration
                .as_ref()
                .and_then(|r| r.client_credentials_resources.clone()),
        }
    }
}

/// A JSON document serialised once, with its strong ETag.
#[derive(Clone, Debug)]
pub struct CachedJson {
    /// The body.
    pub bytes: Bytes,
    /// `ETag` header value.
    pub etag: HeaderValue,
    /// `Cache-Control`, made on the first response (the max-age is configuration, the same for every
    /// response) instead of formatted for each.
    cache_control: std::sync::OnceLock<HeaderValue>,
}

impl CachedJson {
    /// Serialises `value` and derives its ETag from a SHA-256 of the bytes.
    pub fn new(value: &serde_json::Value) -> CachedJson {
        let bytes = Bytes::from(serde_json::to_vec(value).expect("JSON values serialise"));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]));
        CachedJson {
            cache_control: std::sync::OnceLock::new(),
            bytes,
            etag: HeaderValue::from_str(&etag).expect("base64url is a valid header value"),
        }
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Store,
    clock: Clock,
    settings: Settings,
    master: MasterKey,
    metadata: CachedJson,
    pairwise: latchkey_core::oidc::subject::PairwiseKey,
    openapi: CachedJson,
    keys: RwLock<Arc<KeySet>>,
    csrf: CsrfKey,
    cookies: CookiePolicy,
    registry: Registry,
    verified: VerifiedTokens,
    passwords: Arc<PasswordChecker>,
    protocol_paths: Vec<String>,
    metrics: crate::metrics::Metrics,
    audit: crate::audit::Audit,
    rate_limits: crate::rate_limit::RateLimits,
}

impl AppState {
    /// Creates the first signing key if the store has none, loads keys, and prepares the metadata.
    pub async fn new(
        store: Store,
        settings: Settings,
        master: MasterKey,
    ) -> Result<AppState, KeyringError> {
        let clock = Clock;
        let now = clock.now();
        let created = keyring::ensure_active_key(&store, &master, settings.keys.alg, now).await?;
        // Core §15.1: an OpenID Provider signs ID tokens with RS256 unless a client asks otherwise.
        if settings.openid.is_some() {
            keyring::ensure_key(&store, &master, latchkey_core::keys::KeyAlg::RS256, now).await?;
        }
        let keys = keyring::load(&store, &master, now, settings.keys.publish_window).await?;
        let metadata = CachedJson::new(&settings.features.document());
        let openapi = CachedJson::new(&crate::openapi::document(&settings));
        let csrf = CsrfKey::new(
            master.derive("latchkey csrf v2"),
            master.derive("latchkey consent v1"),
        );
        let cookies = CookiePolicy::new(
            settings.features.issuer.as_str(),
            settings
                .features
                .endpoints
                .authorization
                .as_deref()
                .unwrap_or("/authorize"),
        );
        let pairwise =
            latchkey_core::oidc::subject::PairwiseKey::new(master.derive("latchkey pairwise v1"));
        let metrics = crate::metrics::Metrics::new();
        let audit = crate::audit::Audit::start(store.clone(), &metrics);
        if created {
            audit
                .record(crate::audit::key_created(&keys.active, clock))
                .await;
        }
        let registry = Registry::new(&store, &metrics).await?;
        let endpoints = &settings.features.endpoints;
        let protocol_paths = std::iter::once(&endpoints.token)
            .chain(&endpoints.introspection)
            .chain(&endpoints.revocation)
            .chain(&endpoints.registration)
            .chain(
                settings
                    .features
                    .openid
                    .as_ref()
                    .map(|o| &o.userinfo_endpoint),
            )
            .map(|url| crate::router::path_of(url))
            .collect();
        let rate_limits = crate::rate_limit::RateLimits::new(&settings.rate_limits);
        Ok(AppState(Arc::new(Inner {
            store,
            clock,
            master,
            metadata,
            pairwise,
            openapi,
            keys: RwLock::new(keys.shared()),
            csrf,
            cookies,
            registry,
            verified: VerifiedTokens::new(metrics.cache("verified_jwts")),
            passwords: Arc::new(PasswordChecker::new()),
            protocol_paths,
            metrics,
            audit,
            rate_limits,
            settings,
        })))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The key pairwise subjects are computed with.
    pub(crate) fn pairwise(&self) -> &latchkey_core::oidc::subject::PairwiseKey {
        &self.0.pairwise
    }

    /// The master key, for creating signing keys on demand.
    pub(crate) fn master(&self) -> &MasterKey {
        &self.0.master
    }

    /// The clock.
    pub fn clock(&self) -> Clock {
        self.0.clock
    }

    /// Configuration.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// CSRF token and consent binding keys.
    pub(crate) fn csrf(&self) -> &CsrfKey {
        &self.0.csrf
    }

    /// How the page cookies are named and scoped.
    pub(crate) fn cookies(&self) -> &CookiePolicy {
        &self.0.cookies
    }

    /// Cached clients and resources.
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// Counters and histograms for `/metrics`.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// The audit trail.
    pub fn audit(&self) -> &crate::audit::Audit {
        &self.0.audit
    }

    /// JWTs whose signatures were checked.
    pub(crate) fn verified(&self) -> &VerifiedTokens {
        &self.0.verified
    }

    /// The rate limiters.
    pub fn rate_limits(&self) -> &crate::rate_limit::RateLimits {
        &self.0.rate_limits
    }

    /// Whether `path` is served by an OAuth protocol endpoint (token, introspection, revocation,
    /// registration and its client URIs), whose errors are always RFC 6749 §5.2.
    pub(crate) fn is_protocol_path(&self, path: &str) -> bool {
        let registration = self
            .0
            .settings
            .features
            .endpoints
            .registration
            .as_deref()
            .map(crate::router::path_of);
        self.0.protocol_paths.iter().any(|p| p == path)
            || registration.is_some_and(|r| {
                path.strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    }

    /// Password checks for the login page.
    pub(crate) fn passwords(&self) -> &Arc<PasswordChecker> {
        &self.0.passwords
    }

    /// The prepared OpenAPI document.
    pub fn openapi(&self) -> &CachedJson {
        &self.0.openapi
    }

    /// The prepared metadata document.
    pub fn metadata(&self) -> &CachedJson {
        &self.0.metadata
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.0
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reloads keys from the store, and swaps them in if that succeeds.
    pub async fn reload_keys(&self) -> Result<(), KeyringError> {
        let now = self.0.clock.now();
        let keys = keyring::load(
            &self.0.store,
            &self.0.master,
            now,
            self.0.settings.keys.publish_window,
        )
        .await?;
        let mut current = self
            .0
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A key that left the set (revoked, or past its publish window) must not keep vouching for
        // tokens through the cache of verified signatures.
        let kept: std::collections::HashSet<&str> =
            keys.published.iter().map(|k| k.kid.as_str()).collect();
        if current
            .published
            .iter()
            .any(|k| !kept.contains(k.kid.as_str()))
        {
            self.0.verified.clear();
        }
        *current = keys.shared();
        Ok(())
    }
}

impl CachedJson {
    /// A public, cacheable response: `304` when the client's `If-None-Match` already names this version.
    pub fn respond(
        &self,
        request: &axum::http::HeaderMap,
        max_age: u64,
    ) -> axum::response::Response {
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;

        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| {
                tags.split(',')
                    .any(|t| t.trim() == self.etag || t.trim() == "*")
            });
        let cache_control = self
            .cache_control
            .get_or_init(|| {
                HeaderValue::from_str(&format!("public, max-age={max_age}"))
                    .expect("digits are valid")
            })
            .clone();
        // Cross-origin reads are the router's CORS layer's business.
        let headers = [
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, cache_control),
        ];
        if fresh {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            let content_type = (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (headers, [content_type], self.bytes.clone()).into_response()
        }
    }
}
