//! The composition root: `AppState` builds every service once, with exactly what each needs, and
//! holds them for the handlers. Services never see it (the `layering` test in `services.rs` checks).
use std::sync::Arc;

use axum::extract::FromRef;
use latchkey_core::keys::MasterKey;
use latchkey_core::oidc::subject::PairwiseKey;
use latchkey_store::{HealthStore, Store};

use crate::http_error::ErrorShape;
use crate::services::access_tokens::AccessTokens;
use crate::services::audit::Audit;
use crate::services::cached_json::CachedJson;
use crate::services::clients::{Clients, DocumentRules};
use crate::services::clock::Clock;
use crate::services::csrf::{CookiePolicy, CsrfKey};
use crate::services::keyring::{KeySet, Keyring, KeyringError};
use crate::services::metrics::Metrics;
use crate::services::openid::OpenId;
use crate::services::passwords::PasswordChecker;
use crate::services::rate_limit::RateLimits;
use crate::services::resources::Resources;
use crate::services::revocations::Revocations;
use crate::services::throttle::LoginLockout;
use crate::settings::{Settings, path_of};

/// State shared by every handler: a cheap `Clone` around an `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Store,
    clock: Clock,
    settings: Settings,
    metadata: CachedJson,
    openapi: CachedJson,
    csrf: CsrfKey,
    cookies: CookiePolicy,
    keyring: Arc<Keyring>,
    clients: Clients,
    resources: Resources,
    revocations: Arc<Revocations>,
    access_tokens: AccessTokens,
    openid: OpenId,
    passwords: Arc<PasswordChecker>,
    metrics: Arc<Metrics>,
    audit: Audit,
    rate_limits: RateLimits,
    lockout: LoginLockout,
    /// Paths of the OAuth protocol endpoints, whose errors are always RFC 6749 §5.2.
    protocol_paths: Vec<String>,
}

impl AppState {
    /// Creates the first signing key if the store has none, loads keys, builds every service and
    /// prepares the metadata.
    pub async fn new(
        store: Store,
        settings: Settings,
        master: MasterKey,
        clock: Clock,
    ) -> Result<AppState, KeyringError> {
        // Every key derived from the master key is taken before the keyring takes the master key.
        let csrf = CsrfKey::new(
            master.derive("latchkey csrf v2"),
            master.derive("latchkey consent v1"),
        );
        let pairwise = PairwiseKey::new(master.derive("latchkey pairwise v1"));
        let metrics = Arc::new(Metrics::new());
        let audit = Audit::start(store.clone(), clock.clone(), &metrics);
        let (keyring, created) = Keyring::start(
            store.clone(),
            clock.clone(),
            master,
            &settings.keys,
            settings.openid.is_some(),
        )
        .await?;
        if let Some(keys) = created {
            audit.key_created(&keys.active).await;
        }
        let keyring = Arc::new(keyring);
        let versions = store.versions().await?;
        let features = &settings.features;
        let clients = Clients::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            DocumentRules {
                documents: settings.client_id_documents,
                registration: settings.registration_rules(),
                features: features.clone(),
                fetch: settings.fetch.clone(),
            },
            versions.registry,
        );
        let revocations = Arc::new(Revocations::new(store.clone(), versions.revocations));
        let access_tokens = AccessTokens::new(
            store.clone(),
            keyring.clone(),
            revocations.clone(),
            features.issuer.as_str().to_owned(),
            metrics.cache("verified_jwts"),
        );
        let openid = OpenId::new(
            store.clone(),
            keyring.clone(),
            pairwise,
            features.issuer.as_str().to_owned(),
            settings.openid.as_ref().map_or(3600, |o| o.id_token_ttl),
        );
        let authorization = features.endpoints.authorization.as_deref();
        let inner = Inner {
            metadata: CachedJson::new(&features.document()),
            openapi: CachedJson::new(&crate::openapi::document(&settings)),
            csrf,
            cookies: CookiePolicy::new(
                features.issuer.as_str(),
                authorization.unwrap_or("/authorize"),
            ),
            resources: Resources::new(store.clone(), settings.resources.clone()),
            rate_limits: RateLimits::new(&settings.rate_limits, settings.http.error_shape),
            lockout: LoginLockout::new(
                store.clone(),
                clock.clone(),
                settings.login.throttle,
                settings.http.request_timeout,
            ),
            passwords: Arc::new(PasswordChecker::new()),
            protocol_paths: protocol_paths(&settings),
            keyring,
            clients,
            revocations,
            access_tokens,
            openid,
            metrics,
            audit,
            store,
            clock,
            settings,
        };
        Ok(AppState(Arc::new(inner)))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
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

    /// The signing keys.
    pub fn keyring(&self) -> &Keyring {
        &self.0.keyring
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.0.keyring.keys()
    }

    /// Clients by id, cached.
    pub(crate) fn clients(&self) -> &Clients {
        &self.0.clients
    }

    /// Resources by identifier, cached.
    pub(crate) fn resources(&self) -> &Resources {
        &self.0.resources
    }

    /// The deny-list.
    pub(crate) fn revocations(&self) -> &Revocations {
        &self.0.revocations
    }

    /// Issuing and recognising access tokens.
    pub(crate) fn access_tokens(&self) -> &AccessTokens {
        &self.0.access_tokens
    }

    /// Subjects, ID tokens, signed UserInfo.
    pub(crate) fn openid(&self) -> &OpenId {
        &self.0.openid
    }

    /// Counters and histograms for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The audit trail.
    pub fn audit(&self) -> &Audit {
        &self.0.audit
    }

    /// The rate limiters.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.0.rate_limits
    }

    /// Failed-login throttling.
    pub(crate) fn lockout(&self) -> &LoginLockout {
        &self.0.lockout
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
            .map(path_of);
        self.0.protocol_paths.iter().any(|p| p == path)
            || registration.is_some_and(|r| {
                path.strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

impl FromRef<AppState> for ErrorShape {
    fn from_ref(state: &AppState) -> ErrorShape {
        state.0.settings.http.error_shape
    }
}

/// The paths of the OAuth protocol endpoints.
fn protocol_paths(settings: &Settings) -> Vec<String> {
    let endpoints = &settings.features.endpoints;
    std::iter::once(&endpoints.token)
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
        .map(|url| path_of(url))
        .collect()
}
