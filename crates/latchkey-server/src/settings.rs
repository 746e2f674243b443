//! Everything configuration decides for the server, as plain data: built by the binary from the
//! configuration file, read by the state and every service. Nothing here performs I/O or holds a
//! handle.
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use latchkey_core::keys::KeyAlg;
use latchkey_core::metadata::Features;
use latchkey_core::throttle::Limits;
use latchkey_core::token::TokenPolicy;

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
    pub trusted_proxies: crate::services::client_address::TrustedProxies,
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
    /// Whether clients may have `subject_type=public`; when not, pairwise is the default.
    pub public: bool,
    /// `require_pkce_for_confidential_clients`: whether a confidential client's OpenID request needs
    /// PKCE or a nonce unless its registration says otherwise (public clients always need PKCE).
    pub require_pkce_for_confidential_clients: bool,
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
    pub fetch: crate::services::fetch::FetchSettings,
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
    pub rate_limits: RateLimitSettings,
}

impl Settings {
    /// What a self-registered or metadata-document client may have: the published scopes, the
    /// enabled grant types, and `client_credentials` only where the operator opted in.
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
            grant_types: Some(self.features.grant_types.iter().copied().collect()),
        }
    }
}

/// Throttling settings.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    /// Per username.
    pub account: Limits,
    /// Per client address (IPv4, or IPv6 /64): higher, since one address may serve many people.
    pub address: Limits,
}

/// `limit` requests per `window`, replenished steadily (GCRA), with bursts up to `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Requests per window; also the largest burst.
    pub limit: NonZeroU32,
    /// The window.
    pub window: Duration,
}

impl Limit {
    /// The time one request's allowance takes to come back; `None` if it would be zero.
    pub fn period(&self) -> Option<Duration> {
        Some(self.window / self.limit.get()).filter(|p| !p.is_zero())
    }
}

/// The limit of each group (`None`: off) and the bound on each group's keys.
#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// One entry per `Group::ALL`.
    pub groups: [Option<Limit>; 5],
    /// Keys held per group, at most.
    pub max_keys: usize,
}

impl RateLimitSettings {
    /// No group limited.
    pub fn off() -> RateLimitSettings {
        RateLimitSettings {
            groups: [None; 5],
            max_keys: 1,
        }
    }
}

/// The request path of an endpoint URL; endpoints may be published on another host, but a reverse
/// proxy forwards them here with their path intact.
pub fn path_of(endpoint: &str) -> String {
    url::Url::parse(endpoint)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| endpoint.to_owned())
}
