//! Clients and resources cached in memory, so authenticating a client costs no database round trip.
//!
//! Every change to either table bumps a counter in the database (a trigger, in the same transaction);
//! a background task reads it every `refresh_interval` and empties the cache when it moved. A change made
//! by the CLI or another instance therefore reaches this one within that interval. The same holds for
//! revocations: which token ids are known not to be revoked is forgotten at every revocation.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use latchkey_core::client::Client;
use latchkey_core::resource::Resource;
use latchkey_core::types::{ClientId, ResourceUri};
use latchkey_store::{
    ClientStore, HealthStore, ResourceStore, Store, StoreError, TokenStore, Versions,
};

use crate::state::AppState;

/// Beyond this many entries a map is emptied rather than grown: unknown resource identifiers are
/// cached too, and a client may send as many as it likes.
const MAX_ENTRIES: usize = 10_000;

/// Why a client could not be looked up.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The database failed.
    Store(StoreError),
    /// A metadata document could not be fetched or is not acceptable; the text says why.
    Document(String),
}

impl From<StoreError> for LookupError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

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
    /// Keys fetched from clients' `jwks_uri`, until their cache time runs out.
    key_sets: RwLock<HashMap<String, (Vec<serde_json::Value>, std::time::Instant)>>,
    /// Clients described by metadata documents, until their cache time runs out.
    documents: RwLock<HashMap<ClientId, (Arc<Client>, std::time::Instant)>>,
    revocation_epoch: AtomicU64,
    revocation_version: AtomicI64,
}

impl Registry {
    /// A registry that starts from the database's current counter.
    pub(crate) async fn new(store: &Store) -> Result<Self, StoreError> {
        let registry = Registry::default();
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
            return Ok(Some(client.clone()));
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let Some(client) = store.find_client(id).await? else {
            // Unknown ids are not remembered: a guesser would only fill memory.
            return Ok(None);
        };
        let client = Arc::new(client);
        self.remember(&self.clients, epoch, id.clone(), client.clone());
        Ok(Some(client))
    }

    /// A client by id, whether registered here or, for an https client_id with documents enabled,
    /// described by its Client ID Metadata Document (fetched, checked and cached).
    pub(crate) async fn find(
        &self,
        app: &AppState,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, LookupError> {
        let settings = app.settings();
        let Some(documents) = settings
            .client_id_documents
            .filter(|_| latchkey_core::cimd::is_document_url(id))
        else {
            return Ok(self.client(app.store(), id).await?);
        };
        if let Some((client, _)) = read(&self.documents)
            .get(id)
            .filter(|(_, until)| std::time::Instant::now() < *until)
        {
            return Ok(Some(client.clone()));
        }
        let fetched = crate::fetch::fetch_json(id.as_str(), &settings.fetch)
            .await
            .map_err(|e| LookupError::Document(e.0))?;
        let client = latchkey_core::cimd::client_from_document(
            id,
            &fetched.json,
            &settings.registration_rules().scopes,
            app.clock().now(),
        )
        .and_then(|client| settings.features.check_client(&client).map(|()| client))
        .map_err(|e| LookupError::Document(e.into_description()))?;
        // Grants and consents refer to clients by foreign key, so the document's client is kept as a
        // row too, refreshed with every fetch.
        match app.store().insert_client(&client).await {
            Err(StoreError::Conflict(_)) => {
                latchkey_store::RegistrationStore::update_client_metadata(app.store(), &client)
                    .await?;
            }
            other => other?,
        }
        let client = Arc::new(client);
        let ttl = fetched
            .max_age
            .unwrap_or(documents.min_cache)
            .clamp(documents.min_cache, documents.max_cache);
        let mut map = write(&self.documents);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            id.clone(),
            (client.clone(), std::time::Instant::now() + ttl),
        );
        Ok(Some(client))
    }

    /// The keys a `private_key_jwt` client publishes at `uri`, fetched through the fetcher and cached
    /// for their `max-age` within 5 minutes to 1 hour.
    pub(crate) async fn key_set(
        &self,
        app: &AppState,
        uri: &str,
    ) -> Result<Vec<serde_json::Value>, String> {
        if let Some((keys, _)) = read(&self.key_sets)
            .get(uri)
            .filter(|(_, until)| std::time::Instant::now() < *until)
        {
            return Ok(keys.clone());
        }
        let fetched = crate::fetch::fetch_json(uri, &app.settings().fetch)
            .await
            .map_err(|e| e.0)?;
        let keys = fetched
            .json
            .get("keys")
            .and_then(|k| k.as_array())
            .cloned()
            .ok_or_else(|| format!("{uri} is not a JWK set"))?;
        let ttl = fetched
            .max_age
            .unwrap_or(std::time::Duration::from_secs(300))
            .clamp(
                std::time::Duration::from_secs(300),
                std::time::Duration::from_secs(3600),
            );
        let mut map = write(&self.key_sets);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            uri.to_owned(),
            (keys.clone(), std::time::Instant::now() + ttl),
        );
        Ok(keys)
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

fn read<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockReadGuard<'_, HashMap<K, V>> {
    map.read().unwrap_or_else(|p| p.into_inner())
}

fn write<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockWriteGuard<'_, HashMap<K, V>> {
    map.write().unwrap_or_else(|p| p.into_inner())
}

/// Watches the change counter until `stop` flips. A failed read keeps the cache and is logged; the next
/// successful one still sees every change, since the counter only grows.
pub(crate) async fn watch(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = state.settings().cache_refresh_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = state.registry().refresh(state.store()).await {
            tracing::warn!(error = %e, "reading the registry change counter failed");
        }
    }
}
