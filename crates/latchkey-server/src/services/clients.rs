//! Clients by id, cached in memory so authenticating a client costs no database round trip: clients
//! registered here, clients described by Client ID Metadata Documents (fetched, checked, cached for
//! their `max-age`), and the key sets `private_key_jwt` clients publish at a `jwks_uri`.
//!
//! Every change to the clients table bumps a counter in the database (a trigger, in the same
//! transaction); the server's change watcher reads it every `cache.refresh_interval` and invalidates
//! this cache when it moved, so a change made by the CLI or another instance reaches this one within
//! that interval.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use latchkey_core::client::Client;
use latchkey_core::metadata::Features;
use latchkey_core::registration::RegistrationRules;
use latchkey_core::types::ClientId;
use latchkey_store::{ClientStore, RegistrationStore, Store, StoreError, ThrottleStore};
use quick_cache::sync::Cache;

use super::cache::{Expiring, Invalidated, LoadError};
use super::client_address::ClientAddress;
use super::clock::Clock;
use super::fetch::{FetchSettings, Fetched};
use super::metrics::{CacheCounters, Metrics};
use crate::settings::DocumentSettings;

/// Clients, documents and key sets held at most; beyond, the least useful entries are evicted.
const CAPACITY: usize = 10_000;

/// How long a failed document or key-set fetch is remembered, so a failing URL is not fetched again
/// for every request that names it.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// How many times the per-address fetch budget one document host gets (N-L5): one address can
/// spend at most this fraction of a host's budget, so it cannot starve the host's real clients.
const HOST_BUDGET_FACTOR: u32 = 10;

/// The longest a fetched `sector_identifier_uri` document is reused: a registrant who just edited it
/// should not wait long, but a burst of registrations naming it costs one fetch.
const SECTOR_TTL: Duration = Duration::from_secs(60);

/// What the caller is told when a fetch fails: nothing about what the network answered (L1).
pub(crate) const NOT_FETCHED: &str = "the document could not be fetched";

/// Why a client could not be looked up.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The database failed.
    Store(StoreError),
    /// A metadata document could not be fetched or is not acceptable; the text is safe to show to
    /// whoever named the URL (fetch details are only logged).
    Document(String),
    /// Too many fetches from this client address or to this host in the last minute.
    Limited,
}

impl From<StoreError> for LookupError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// What decides whether a metadata document describes an acceptable client.
#[derive(Clone, Debug)]
pub struct DocumentRules {
    /// Documents on or off, and their cache bounds.
    pub documents: Option<DocumentSettings>,
    /// What a self-registered or document client may have.
    pub registration: RegistrationRules,
    /// The server's features, which every client must fit.
    pub features: Features,
    /// The outbound fetcher.
    pub fetch: FetchSettings,
}

/// The client cache.
pub struct Clients {
    store: Store,
    clock: Clock,
    metrics: Arc<Metrics>,
    rules: DocumentRules,
    clients: Invalidated<ClientId, Arc<Client>>,
    documents: Expiring<ClientId, Arc<Client>>,
    key_sets: Expiring<String, Vec<serde_json::Value>>,
    /// `sector_identifier_uri` documents (OpenID pairwise subjects), by URL.
    sectors: Expiring<String, serde_json::Value>,
    /// When each key set was last fetched again because an assertion named an unknown key (I4).
    key_refetches: Cache<String, i64>,
    /// The database's change counter as last seen.
    version: AtomicI64,
    client_lookups: CacheCounters,
    document_lookups: CacheCounters,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl Clients {
    /// A cache that starts from the database's change counter `version`.
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        metrics: Arc<Metrics>,
        rules: DocumentRules,
        version: i64,
    ) -> Self {
        Clients {
            client_lookups: metrics.cache("clients"),
            document_lookups: metrics.cache("documents"),
            documents: Expiring::new(CAPACITY, clock.clone()),
            key_sets: Expiring::new(CAPACITY, clock.clone()),
            sectors: Expiring::new(CAPACITY, clock.clone()),
            clients: Invalidated::new(CAPACITY),
            key_refetches: Cache::new(CAPACITY),
            version: AtomicI64::new(version),
            store,
            clock,
            metrics,
            rules,
        }
    }

    /// A client registered here, by id: from memory, or loaded and remembered.
    pub(crate) async fn client(&self, id: &ClientId) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.clients.get(id) {
            self.client_lookups.hit();
            return Ok(Some(client));
        }
        self.client_lookups.miss();
        let epoch = self.clients.epoch();
        let Some(client) = self
            .store
            .find_client(id)
            .await?
            // A document client's row serves grants and consents; as a client it is only ever the
            // document (`find`), and nothing at all while documents are off (M6).
            .filter(|c| !c.policy.metadata_document)
        else {
            // Unknown ids are not remembered: a guesser would only fill memory.
            return Ok(None);
        };
        let client = Arc::new(client);
        self.clients.insert(epoch, id.clone(), client.clone());
        Ok(Some(client))
    }

    /// The client a token this server issued names: a client registered here or, while documents
    /// are enabled, a document client's stored row (N-I2: UserInfo answers document clients too).
    /// Nothing is fetched: the token shows the document was accepted when it was issued, and the
    /// row holds what it said then.
    pub(crate) async fn token_client(
        &self,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.client(id).await? {
            return Ok(Some(client));
        }
        if self.rules.documents.is_none() || !latchkey_core::cimd::is_document_url(id) {
            return Ok(None);
        }
        if let Some(Ok(client)) = self.documents.get(id) {
            return Ok(Some(client));
        }
        Ok(self
            .store
            .find_client(id)
            .await?
            .filter(|c| c.policy.metadata_document)
            .map(Arc::new))
    }

    /// A client by id, whether registered here or, for an https client_id with documents enabled,
    /// described by its Client ID Metadata Document (fetched, checked and cached). `address` is who
    /// asked, for the fetch limits.
    pub(crate) async fn find(
        &self,
        id: &ClientId,
        address: &ClientAddress,
    ) -> Result<Option<Arc<Client>>, LookupError> {
        let Some(documents) = self
            .rules
            .documents
            .filter(|_| latchkey_core::cimd::is_document_url(id))
        else {
            return Ok(self.client(id).await?);
        };
        // One cache lookup for a remembered document; `get_or_load` looks again only after a miss,
        // where another request may have loaded it meanwhile.
        if let Some(found) = self.documents.get(id) {
            self.document_lookups.hit();
            return found.map(Some).map_err(LookupError::Document);
        }
        self.document_lookups.miss();
        let found = self
            .documents
            .get_or_load(id, millis(NEGATIVE_TTL), || async {
                let fetched = self.fetch(id.as_str(), address).await?;
                let client = self.document_client(id, &fetched).await?;
                let ttl = fetched
                    .max_age
                    .unwrap_or(documents.min_cache)
                    .clamp(documents.min_cache, documents.max_cache);
                Ok((Arc::new(client), millis(ttl)))
            })
            .await?;
        found.map(Some).map_err(LookupError::Document)
    }

    /// The client a fetched document describes, kept as a row too: grants and consents refer to
    /// clients by foreign key. Written whole with every fetch, and never over an operator's client.
    async fn document_client(
        &self,
        id: &ClientId,
        fetched: &Fetched,
    ) -> Result<Client, LoadError<LookupError>> {
        let client = latchkey_core::cimd::client_from_document(
            id,
            &fetched.json,
            &self.rules.registration,
            self.clock.now(),
        )
        .and_then(|client| self.rules.features.check_client(&client).map(|()| client))
        .map_err(|e| LoadError::Remember(e.into_description()))?;
        match self.store.upsert_document_client(&client).await {
            Ok(true) => Ok(client),
            Ok(false) => Err(LoadError::Remember(
                "this client_id belongs to a client registered here".into(),
            )),
            Err(e) => Err(LoadError::Forget(e.into())),
        }
    }

    /// The keys a `private_key_jwt` client publishes at `uri`, fetched through the fetcher and cached
    /// for their `max-age` within 5 minutes to 1 hour.
    pub(crate) async fn key_set(
        &self,
        uri: &str,
        address: &ClientAddress,
    ) -> Result<Vec<serde_json::Value>, LookupError> {
        let found = self
            .key_sets
            .get_or_load(&uri.to_owned(), millis(NEGATIVE_TTL), || async {
                let fetched = self.fetch(uri, address).await?;
                let keys = fetched
                    .json
                    .get("keys")
                    .and_then(|k| k.as_array())
                    .cloned()
                    .ok_or_else(|| LoadError::Remember("the document is not a JWK set".into()))?;
                let ttl = fetched
                    .max_age
                    .unwrap_or(Duration::from_secs(300))
                    .clamp(Duration::from_secs(300), Duration::from_secs(3600));
                Ok((keys, millis(ttl)))
            })
            .await?;
        found.map_err(LookupError::Document)
    }

    /// The JSON document at a `sector_identifier_uri` (OpenID Connect Core §8.1), fetched for a
    /// registration from `address`.
    ///
    /// # Security
    /// N-L1: through the same path as documents and key sets: per-address and per-host limits,
    /// one fetch at a time per URL, failures remembered for a minute, and the fetcher's reason
    /// logged, never told to the (possibly anonymous) registrant.
    pub(crate) async fn sector_document(
        &self,
        uri: &str,
        address: &ClientAddress,
    ) -> Result<serde_json::Value, LookupError> {
        let found = self
            .sectors
            .get_or_load(&uri.to_owned(), millis(NEGATIVE_TTL), || async {
                let fetched = self.fetch(uri, address).await?;
                let ttl = fetched.max_age.unwrap_or(SECTOR_TTL).min(SECTOR_TTL);
                Ok((fetched.json, millis(ttl)))
            })
            .await?;
        found.map_err(LookupError::Document)
    }

    /// Whether the key set at `uri` may be fetched again now, outside its cache time: at most once a
    /// minute per URL, so assertions with made-up key ids cannot turn into a fetch each (I4).
    pub(crate) fn may_refetch_keys(&self, uri: &str) -> bool {
        let now = self.clock.now_ms();
        let minute = millis(Duration::from_secs(60));
        if self
            .key_refetches
            .get(uri)
            .is_some_and(|at| now - at < minute)
        {
            return false;
        }
        self.key_refetches.insert(uri.to_owned(), now);
        true
    }

    /// Fetches the key set at `uri` again, outside its cache time. The cached set stays in place
    /// unless the new fetch succeeds: a failed or rate-limited refetch (which anyone can trigger with
    /// one bad assertion a minute) must not take a client's working keys away.
    pub(crate) async fn refetch_keys(
        &self,
        uri: &str,
        address: &ClientAddress,
    ) -> Result<Vec<serde_json::Value>, LookupError> {
        let previous = self.key_sets.take(&uri.to_owned());
        let fetched = self.key_set(uri, address).await;
        if fetched.is_err()
            && let Some(previous) = previous
        {
            self.key_sets.restore(uri.to_owned(), previous);
        }
        fetched
    }

    /// One outbound fetch, within the per-address and per-host limits. The fetcher's reason for a
    /// failure is logged, never returned: it would tell an anonymous caller what internal names resolve
    /// to and which ports answer (L1).
    async fn fetch(
        &self,
        url: &str,
        address: &ClientAddress,
    ) -> Result<Fetched, LoadError<LookupError>> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        match self.allow_fetch(address, &host).await {
            Ok(true) => {}
            Ok(false) => return Err(LoadError::Forget(LookupError::Limited)),
            Err(e) => return Err(LoadError::Forget(e.into())),
        }
        let fetched = super::fetch::fetch_json(url, &self.rules.fetch).await;
        self.metrics.fetch(fetched.is_ok());
        fetched.map_err(|e| {
            tracing::info!(url, reason = %e, "an outbound fetch failed");
            LoadError::Remember(NOT_FETCHED.into())
        })
    }

    /// Counts one fetch for the asking address and then for the target host in this minute's windows
    /// (in the database, so the limits hold across instances) and says whether both stay within
    /// their budgets: `fetch.rate_limit` per address, and that many times [`HOST_BUDGET_FACTOR`]
    /// per host.
    ///
    /// # Security
    /// N-L5: the address is checked first, and a request over its own budget never counts against
    /// the host; with the host's budget ten times an address's, one address that names made-up
    /// URLs on a popular host cannot keep that host's real clients from being (re)loaded.
    async fn allow_fetch(&self, address: &ClientAddress, host: &str) -> Result<bool, StoreError> {
        use latchkey_core::throttle::ThrottleKey;
        let window = self.clock.now().minute_start();
        let limit = self.rules.fetch.rate_limit;
        let by_address = ThrottleKey::event("fetch-address", &address.limit_key().to_string());
        if self.store.count_event(&by_address, window).await? > limit {
            return Ok(false);
        }
        let by_host = ThrottleKey::event("fetch-host", host);
        Ok(self.store.count_event(&by_host, window).await?
            <= limit.saturating_mul(HOST_BUDGET_FACTOR))
    }

    /// Forgets every client registered here (documents keep their own cache time).
    pub(crate) fn invalidate(&self) {
        self.clients.invalidate();
    }

    /// Records the database's change counter; `true` when it moved since the last look, and the
    /// caller invalidates what it covers.
    pub(crate) fn observe_version(&self, version: i64) -> bool {
        self.version.swap(version, Ordering::SeqCst) != version
    }
}

impl From<LoadError<LookupError>> for LookupError {
    fn from(e: LoadError<LookupError>) -> Self {
        match e {
            LoadError::Remember(why) => LookupError::Document(why),
            LoadError::Forget(e) => e,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
