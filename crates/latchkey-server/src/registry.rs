//! Clients and resources cached in memory, so authenticating a client costs no database round trip.
//!
//! Every change to either table bumps a counter in the database (a trigger, in the same transaction);
//! a background task reads it every `refresh_interval` and empties the cache when it moved. A change made
//! by the CLI or another instance therefore reaches this one within that interval. The same holds for
//! revocations: which token ids are known not to be revoked is forgotten at every revocation.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use latchkey_core::client::Client;
use latchkey_core::resource::Resource;
use latchkey_core::types::{ClientId, ResourceUri};
use latchkey_store::{
    ClientStore, HealthStore, RegistrationStore, ResourceStore, Store, StoreError, TokenStore,
    Versions,
};

use crate::client_address::ClientAddress;
use crate::metrics::{CacheCounters, Metrics};
use crate::state::AppState;

/// Beyond this many entries a map is emptied rather than grown: unknown resource identifiers are
/// cached too, and a client may send as many as it likes.
const MAX_ENTRIES: usize = 10_000;

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

/// How long a failed document or key-set fetch is remembered, so a failing URL is not fetched again
/// for every request that names it.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// What the caller is told when a fetch fails: nothing about what the network answered (L1).
pub(crate) const NOT_FETCHED: &str = "the document could not be fetched";

/// A fetched value, or why it could not be had, until the instant it must be fetched again.
type Remembered<T> = (Result<T, String>, Instant);

/// The cache.
#[derive(Debug, Default)]
pub struct Registry {
    clients: RwLock<HashMap<ClientId, Arc<Client>>>,
    resources: RwLock<HashMap<ResourceUri, Option<Resource>>>,
    /// Bumped at every invalidation; a load that started in an older epoch is not cached, so a row read
    /// before a change cannot outlive the invalidation that change caused.
    epoch: AtomicU64,
    /// The database counter as last seen.
    version: AtomicI64,
    /// Access token ids found not revoked, so a cached JWT's introspection touches no database.
    not_revoked: RwLock<HashSet<String>>,
    /// Keys fetched from clients' `jwks_uri` (or why not), until their cache time runs out.
    key_sets: RwLock<HashMap<String, Remembered<Vec<serde_json::Value>>>>,
    /// Clients described by metadata documents (or why not), until their cache time runs out.
    documents: RwLock<HashMap<ClientId, Remembered<Arc<Client>>>>,
    /// When each key set was last fetched again because an assertion named an unknown key (I4).
    key_refetches: Mutex<HashMap<String, Instant>>,
    /// One fetch at a time per URL: concurrent lookups of the same URL wait for the first.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    revocation_epoch: AtomicU64,
    revocation_version: AtomicI64,
    client_lookups: CacheCounters,
    document_lookups: CacheCounters,
}

impl Registry {
    /// A registry that starts from the database's current counter.
    pub(crate) async fn new(store: &Store, metrics: &Metrics) -> Result<Self, StoreError> {
        let registry = Registry {
            client_lookups: metrics.cache("clients"),
            document_lookups: metrics.cache("documents"),
            ..Registry::default()
        };
        let versions = store.versions().await?;
        registry.version.store(versions.registry, Ordering::SeqCst);
        registry
            .revocation_version
            .store(versions.revocations, Ordering::SeqCst);
        Ok(registry)
    }

    /// A client by id: from memory, or loaded and remembered.
    pub(crate) async fn client(
        &self,
        store: &Store,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = read(&self.clients).get(id) {
            self.client_lookups.hit();
            return Ok(Some(client.clone()));
        }
        self.client_lookups.miss();
        let epoch = self.epoch.load(Ordering::SeqCst);
        let Some(client) = store
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
        self.remember(&self.clients, epoch, id.clone(), client.clone());
        Ok(Some(client))
    }

    /// A client by id, whether registered here or, for an https client_id with documents enabled,
    /// described by its Client ID Metadata Document (fetched, checked and cached). `address` is who
    /// asked, for the fetch limits.
    pub(crate) async fn find(
        &self,
        app: &AppState,
        id: &ClientId,
        address: &ClientAddress,
    ) -> Result<Option<Arc<Client>>, LookupError> {
        let settings = app.settings();
        let Some(documents) = settings
            .client_id_documents
            .filter(|_| latchkey_core::cimd::is_document_url(id))
        else {
            return Ok(self.client(app.store(), id).await?);
        };
        let cached = read(&self.documents)
            .get(id)
            .is_some_and(|(_, until)| Instant::now() < *until);
        match cached {
            true => self.document_lookups.hit(),
            false => self.document_lookups.miss(),
        }
        let client = self
            .fetch_once(&self.documents, id, id.as_str(), || async {
                let fetched = self.fetch(app, id.as_str(), address).await?;
                let client = latchkey_core::cimd::client_from_document(
                    id,
                    &fetched.json,
                    &settings.registration_rules().scopes,
                    app.clock().now(),
                )
                .and_then(|client| settings.features.check_client(&client).map(|()| client))
                .map_err(|e| LookupError::Document(e.into_description()))?;
                // Grants and consents refer to clients by foreign key, so the document's client is
                // kept as a row too, written whole with every fetch, and never over an operator's.
                if !app.store().upsert_document_client(&client).await? {
                    return Err(LookupError::Document(
                        "this client_id belongs to a client registered here".into(),
                    ));
                }
                let ttl = fetched
                    .max_age
                    .unwrap_or(documents.min_cache)
                    .clamp(documents.min_cache, documents.max_cache);
                Ok((Arc::new(client), ttl))
            })
            .await?;
        Ok(Some(client))
    }

    /// The keys a `private_key_jwt` client publishes at `uri`, fetched through the fetcher and cached
    /// for their `max-age` within 5 minutes to 1 hour.
    pub(crate) async fn key_set(
        &self,
        app: &AppState,
        uri: &str,
        address: &ClientAddress,
    ) -> Result<Vec<serde_json::Value>, LookupError> {
        self.fetch_once(&self.key_sets, &uri.to_owned(), uri, || async {
            let fetched = self.fetch(app, uri, address).await?;
            let keys = fetched
                .json
                .get("keys")
                .and_then(|k| k.as_array())
                .cloned()
                .ok_or_else(|| LookupError::Document("the document is not a JWK set".into()))?;
            let ttl = fetched
                .max_age
                .unwrap_or(Duration::from_secs(300))
                .clamp(Duration::from_secs(300), Duration::from_secs(3600));
            Ok((keys, ttl))
        })
        .await
    }

    /// Whether the key set at `uri` may be fetched again now, outside its cache time: at most once a
    /// minute per URL, so assertions with made-up key ids cannot turn into a fetch each (I4).
    pub(crate) fn may_refetch_keys(&self, uri: &str) -> bool {
        let mut last = lock(&self.key_refetches);
        let now = Instant::now();
        if last
            .get(uri)
            .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60))
        {
            return false;
        }
        if last.len() >= MAX_ENTRIES {
            last.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        }
        last.insert(uri.to_owned(), now);
        true
    }

    /// Fetches the key set at `uri` again, outside its cache time. The cached set stays in place
    /// unless the new fetch succeeds: a failed or rate-limited refetch (which anyone can trigger with
    /// one bad assertion a minute) must not take a client's working keys away.
    pub(crate) async fn refetch_keys(
        &self,
        app: &AppState,
        uri: &str,
        address: &ClientAddress,
    ) -> Result<Vec<serde_json::Value>, LookupError> {
        let previous = write(&self.key_sets).remove(uri);
        let fetched = self.key_set(app, uri, address).await;
        if fetched.is_err()
            && let Some(previous) = previous
        {
            write(&self.key_sets).insert(uri.to_owned(), previous);
        }
        fetched
    }

    /// The cached value of `key`, or the result of `load`, which runs once per URL at a time (the
    /// others wait, then read what it left) and whose failures are remembered for `NEGATIVE_TTL`.
    /// A database failure or a rate limit is not remembered: neither says anything about the URL.
    async fn fetch_once<K, T, F, Fut>(
        &self,
        map: &RwLock<HashMap<K, Remembered<T>>>,
        key: &K,
        url: &str,
        load: F,
    ) -> Result<T, LookupError>
    where
        K: std::hash::Hash + Eq + Clone,
        T: Clone,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(T, Duration), LookupError>>,
    {
        let cached = || {
            read(map)
                .get(key)
                .filter(|(_, until)| Instant::now() < *until)
                .map(|(found, _)| found.clone().map_err(LookupError::Document))
        };
        if let Some(found) = cached() {
            return found;
        }
        // The entry leaves the map when the last request holding it is done, also when a request is
        // dropped mid-fetch (a timeout, a client that hung up), so the map holds only URLs in flight
        // and a waiter never removes the entry of a newer fetch.
        let leave = Leave {
            flights: &self.flights,
            url,
            flight: lock(&self.flights)
                .entry(url.to_owned())
                .or_default()
                .clone(),
        };
        let _turn = leave.flight.lock().await;
        match cached() {
            Some(found) => found,
            None => {
                let loaded = load().await;
                let remembered = match &loaded {
                    Ok((value, ttl)) => Some((Ok(value.clone()), Instant::now() + *ttl)),
                    Err(LookupError::Document(why)) => {
                        Some((Err(why.clone()), Instant::now() + NEGATIVE_TTL))
                    }
                    Err(_) => None,
                };
                if let Some(entry) = remembered {
                    insert_bounded(&mut write(map), key.clone(), entry);
                }
                loaded.map(|(value, _)| value)
            }
        }
    }

    /// One outbound fetch, within the per-address and per-host limits. The fetcher's reason for a
    /// failure is logged, never returned: it would tell an anonymous caller what internal names resolve
    /// to and which ports answer (L1).
    async fn fetch(
        &self,
        app: &AppState,
        url: &str,
        address: &ClientAddress,
    ) -> Result<crate::fetch::Fetched, LookupError> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if !allow_fetch(app, address, &host).await? {
            return Err(LookupError::Limited);
        }
        let fetched = crate::fetch::fetch_json(url, &app.settings().fetch).await;
        app.metrics().fetch(fetched.is_ok());
        fetched.map_err(|e| {
            tracing::info!(url, reason = %e, "an outbound fetch failed");
            LookupError::Document(NOT_FETCHED.into())
        })
    }

    /// A resource added with `latchkey resource add`, by identifier.
    pub(crate) async fn resource(
        &self,
        store: &Store,
        uri: &ResourceUri,
    ) -> Result<Option<Resource>, StoreError> {
        if let Some(found) = read(&self.resources).get(uri) {
            return Ok(found.clone());
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let found = store.find_resource(uri).await?;
        self.remember(&self.resources, epoch, uri.clone(), found.clone());
        Ok(found)
    }

    fn remember<K: std::hash::Hash + Eq, V>(
        &self,
        map: &RwLock<HashMap<K, V>>,
        epoch: u64,
        key: K,
        value: V,
    ) {
        let mut map = map.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock: `invalidate` bumps the epoch before it takes the same lock.
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }

    /// Forgets everything.
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        write(&self.clients).clear();
        write(&self.resources).clear();
    }

    /// Whether an access token id is on the deny-list. "Not revoked" is remembered until any token is
    /// revoked: here (`revoked`), or anywhere (the counter, within the refresh interval).
    pub(crate) async fn is_revoked(&self, store: &Store, jti: &str) -> Result<bool, StoreError> {
        if self
            .not_revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(jti)
        {
            return Ok(false);
        }
        let epoch = self.revocation_epoch.load(Ordering::SeqCst);
        let revoked = store.is_revoked(jti).await?;
        if !revoked {
            let mut set = self.not_revoked.write().unwrap_or_else(|p| p.into_inner());
            if self.revocation_epoch.load(Ordering::SeqCst) == epoch {
                if set.len() >= MAX_ENTRIES * 5 {
                    set.clear();
                }
                set.insert(jti.to_owned());
            }
        }
        Ok(revoked)
    }

    /// Forgets which tokens were not revoked: call after revoking anything.
    pub(crate) fn revoked(&self) {
        self.revocation_epoch.fetch_add(1, Ordering::SeqCst);
        self.not_revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Empties what the database counters say has changed since the last look.
    pub(crate) async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let Versions {
            registry,
            revocations,
        } = store.versions().await?;
        if self.version.swap(registry, Ordering::SeqCst) != registry {
            self.invalidate();
        }
        if self.revocation_version.swap(revocations, Ordering::SeqCst) != revocations {
            self.revoked();
        }
        Ok(())
    }
}

/// See `fetch_once`.
struct Leave<'a> {
    flights: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    url: &'a str,
    flight: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut flights = lock(self.flights);
        // Two references: the map's and this one. More means others still wait on this flight.
        if flights
            .get(self.url)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight) && Arc::strong_count(f) == 2)
        {
            flights.remove(self.url);
        }
    }
}

/// Inserts into a bounded map: expired entries go first, then, if it is still full, one entry; a
/// flood of new URLs evicts, it never empties the cache whole.
fn insert_bounded<K: std::hash::Hash + Eq + Clone, T>(
    map: &mut HashMap<K, Remembered<T>>,
    key: K,
    entry: Remembered<T>,
) {
    if map.len() >= MAX_ENTRIES {
        let now = Instant::now();
        map.retain(|_, (_, until)| now < *until);
    }
    if map.len() >= MAX_ENTRIES
        && let Some(victim) = map.keys().next().cloned()
    {
        map.remove(&victim);
    }
    map.insert(key, entry);
}

/// Counts one fetch for the asking address and for the target host in this minute's windows (in the
/// database, so the limits hold across instances) and says whether both stay within
/// `fetch.rate_limit`.
async fn allow_fetch(
    app: &AppState,
    address: &ClientAddress,
    host: &str,
) -> Result<bool, StoreError> {
    use latchkey_core::throttle::ThrottleKey;
    use latchkey_store::ThrottleStore;
    let now = app.clock().now();
    let window = latchkey_core::types::Timestamp(now.0 - now.0.rem_euclid(60));
    let limit = app.settings().fetch.rate_limit;
    let by_address = ThrottleKey::event("fetch-address", &address.limit_key().to_string());
    let by_host = ThrottleKey::event("fetch-host", host);
    Ok(app.store().count_event(&by_address, window).await? <= limit
        && app.store().count_event(&by_host, window).await? <= limit)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockReadGuard<'_, HashMap<K, V>> {
    map.read().unwrap_or_else(|p| p.into_inner())
}

fn write<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockWriteGuard<'_, HashMap<K, V>> {
    map.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join<'a>(
        flights: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
        url: &'a str,
    ) -> Leave<'a> {
        Leave {
            flights,
            url,
            flight: lock(flights).entry(url.to_owned()).or_default().clone(),
        }
    }

    #[test]
    fn a_flight_leaves_the_map_with_its_last_request_and_never_takes_a_newer_one() {
        let flights = Mutex::new(HashMap::new());
        let first = join(&flights, "https://a.example/");
        let waiter = join(&flights, "https://a.example/");
        // A request dropped mid-fetch: the waiter still holds the flight, so it stays.
        drop(first);
        assert!(lock(&flights).contains_key("https://a.example/"));
        drop(waiter);
        assert!(lock(&flights).is_empty(), "no entry outlives its requests");
        // A request of an older flight whose entry was replaced leaves the newer one alone.
        let old = join(&flights, "https://b.example/");
        lock(&flights).remove("https://b.example/");
        let newer = join(&flights, "https://b.example/");
        drop(old);
        assert!(lock(&flights).contains_key("https://b.example/"));
        drop(newer);
        assert!(lock(&flights).is_empty());
    }
}
