//! Shared server state: a cheap `Clone` around an `Arc`.
use std::sync::{Arc, RwLock};

use latchkey_core::keys::MasterKey;
use latchkey_store::Store;

use crate::cached_json::CachedJson;
use crate::clock::Clock;
use crate::csrf::{CookiePolicy, CsrfKey};
use crate::keyring::{self, KeySet, KeyringError};
use crate::passwords::PasswordChecker;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::tokens::VerifiedTokens;

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
            .map(|url| crate::settings::path_of(url))
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
            .map(crate::settings::path_of);
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
