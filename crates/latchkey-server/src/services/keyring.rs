//! Signing keys in memory: the active key that signs access tokens, the current key of every other
//! algorithm (ID tokens and signed UserInfo use the algorithm each client registered; one key per
//! algorithm, so every JWK's `alg` is true), and the public keys still published, reloaded from the
//! store so a rotation made by the CLI (or another instance) takes effect.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use latchkey_core::keys::{Jwk, KeyAlg, KeyError, MasterKey, SigningKey};
use latchkey_core::types::Timestamp;
use latchkey_store::{KeyStore, ResourceStore, Store, StoreError, StoredKey};
use serde_json::json;

use super::cached_json::CachedJson;
use super::clock::Clock;
use crate::settings::KeySettings;

/// The keys one instance works with, swapped as a whole on reload.
#[derive(Debug)]
pub struct KeySet {
    /// Signs every new access token.
    pub active: SigningKey,
    /// When the active key was created.
    pub active_created_at: Timestamp,
    /// The current keys of the other algorithms.
    pub others: Vec<SigningKey>,
    /// Public keys of the active key and of retired keys whose tokens may still be valid.
    pub published: Vec<Jwk>,
    /// The JWKS document, serialised once per reload.
    pub jwks: CachedJson,
}

/// Why keys could not be created or loaded.
#[derive(Debug)]
pub enum KeyringError {
    /// The database failed.
    Store(StoreError),
    /// A key could not be generated, opened or used.
    Key(KeyError),
    /// The store holds no active key (the server creates one at start).
    NoActiveKey,
    /// No current key of this algorithm, even after creating one.
    NoKeyFor(KeyAlg),
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::Key(e) => write!(f, "{e}"),
            Self::NoActiveKey => f.write_str("no active signing key"),
            Self::NoKeyFor(alg) => write!(f, "no {alg} key after creating one"),
        }
    }
}

impl std::error::Error for KeyringError {}

impl From<StoreError> for KeyringError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<KeyError> for KeyringError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

/// The keys one server signs and verifies with, reloaded from the store (a rotation by the CLI or
/// another instance reaches this one at the next reload).
pub struct Keyring {
    store: Store,
    clock: Clock,
    master: MasterKey,
    publish_window: u64,
    current: RwLock<Arc<KeySet>>,
    /// Bumped whenever a key leaves the published set, so nothing verified with it before is trusted
    /// from a cache afterwards.
    generation: AtomicU64,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

impl Keyring {
    /// Creates the first signing key if the store has none (and, with OpenID Connect on, an RS256
    /// key: Core §15.1), then loads the keys. Returns the keyring and the key this call created, if any.
    pub(crate) async fn start(
        store: Store,
        clock: Clock,
        master: MasterKey,
        settings: &KeySettings,
        openid: bool,
    ) -> Result<(Keyring, Option<Arc<KeySet>>), KeyringError> {
        let now = clock.now();
        let created = ensure_active_key(&store, &master, settings.alg, now).await?;
        if openid {
            ensure_key(&store, &master, KeyAlg::RS256, now).await?;
        }
        let keys = load(&store, &master, now, settings.publish_window)
            .await?
            .shared();
        let keyring = Keyring {
            store,
            clock,
            master,
            publish_window: settings.publish_window,
            current: RwLock::new(keys.clone()),
            generation: AtomicU64::new(0),
        };
        Ok((keyring, created.then_some(keys)))
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Changes whenever a key left the published set.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Reloads keys from the store, and swaps them in if that succeeds.
    pub async fn reload(&self) -> Result<(), KeyringError> {
        let now = self.clock.now();
        let keys = load(&self.store, &self.master, now, self.publish_window).await?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept: std::collections::HashSet<&str> =
            keys.published.iter().map(|k| k.kid.as_str()).collect();
        if current
            .published
            .iter()
            .any(|k| !kept.contains(k.kid.as_str()))
        {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        *current = keys.shared();
        Ok(())
    }

    /// The key set with a current key for `alg`, creating that key first when the server has none yet
    /// (a client registered an algorithm nobody used before, or a rotation retired it). Of several
    /// instances doing so at once the database lets one key win, and every instance reloads it.
    pub(crate) async fn with_alg(&self, alg: KeyAlg) -> Result<Arc<KeySet>, KeyringError> {
        let keys = self.keys();
        if keys.for_alg(alg).is_some() {
            return Ok(keys);
        }
        ensure_key(&self.store, &self.master, alg, self.clock.now()).await?;
        self.reload().await?;
        let keys = self.keys();
        match keys.for_alg(alg) {
            Some(_) => Ok(keys),
            None => Err(KeyringError::NoKeyFor(alg)),
        }
    }
}

fn new_stored_key(
    master: &MasterKey,
    alg: KeyAlg,
    now: Timestamp,
    active: bool,
) -> Result<StoredKey, KeyError> {
    let (key, pkcs8) = SigningKey::generate(alg)?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        alg,
        sealed_private: master.seal(key.kid(), &pkcs8),
        created_at: now,
        retired_at: None,
        active,
    })
}

/// Creates a current key for `alg` unless one exists (the active key counts). Returns whether this
/// call created it; of several instances doing this at once, the database lets one win.
pub async fn ensure_key(
    store: &Store,
    master: &MasterKey,
    alg: KeyAlg,
    now: Timestamp,
) -> Result<bool, KeyringError> {
    if store
        .list_keys()
        .await?
        .iter()
        .any(|k| k.retired_at.is_none() && k.alg == alg)
    {
        return Ok(false);
    }
    Ok(store
        .insert_key(&new_stored_key(master, alg, now, false)?)
        .await?)
}

/// Creates the first signing key unless one exists. Returns whether this call created it.
pub async fn ensure_active_key(
    store: &Store,
    master: &MasterKey,
    alg: KeyAlg,
    now: Timestamp,
) -> Result<bool, KeyringError> {
    if store.list_keys().await?.iter().any(|k| k.active) {
        return Ok(false);
    }
    Ok(store
        .insert_first_key(&new_stored_key(master, alg, now, true)?)
        .await?)
}

/// Makes a new key of `alg` the one that signs access tokens and replaces every other current key with
/// a new one of the same algorithm. When `alg` changes, the old access-token key retires without a
/// successor (one is created again if a client's ID tokens need its algorithm). The retired keys stay
/// published for `publish_window` seconds so tokens they signed keep verifying until they expire.
/// Returns the id of the new access-token key.
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    alg: KeyAlg,
    now: Timestamp,
    publish_window: u64,
) -> Result<String, KeyringError> {
    // Opening the active key first proves the master key is the right one before anything changes.
    if let Some(active) = store.list_keys().await?.iter().find(|k| k.active) {
        master.open(&active.kid, active.alg, &active.sealed_private)?;
    }
    let mut algs: Vec<KeyAlg> = store
        .list_keys()
        .await?
        .iter()
        .filter(|k| k.retired_at.is_none() && !k.active && k.alg != alg)
        .map(|k| k.alg)
        .collect();
    algs.insert(0, alg);
    let keys = algs
        .iter()
        .map(|&a| new_stored_key(master, a, now, a == alg))
        .collect::<Result<Vec<_>, _>>()?;
    store.rotate_keys(&keys, now).await?;
    let publish_window = self::publish_window(store, publish_window).await?;
    store.prune_keys(now.minus(publish_window)).await?;
    Ok(keys[0].kid.clone())
}

/// Removes a compromised key at once (I7): a current key is first replaced by a rotation (every
/// current key, as `rotate` does, since they share the same master key and store), then the key is
/// deleted, so it leaves the JWKS and stops verifying on every instance at its next reload, without
/// waiting for its publish window. Tokens it signed stop verifying too: that is the point. `false`
/// when no key has that id.
///
/// # Security
/// Running servers keep a cache of JWTs whose signature they checked; the reload that drops a key
/// is skipped for it (`Keyring::reload` bumps the generation the cache is keyed by), so no cached verification outlives the key.
pub async fn revoke(
    store: &Store,
    master: &MasterKey,
    kid: &str,
    now: Timestamp,
    publish_window: u64,
) -> Result<bool, KeyringError> {
    let keys = store.list_keys().await?;
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return Ok(false);
    };
    if key.retired_at.is_none() {
        // Access tokens keep their algorithm; only the keys change.
        let alg = keys.iter().find(|k| k.active).map_or(key.alg, |a| a.alg);
        rotate(store, master, alg, now, publish_window).await?;
    }
    Ok(store.delete_retired_key(kid).await?)
}

/// Clock leeway verifiers allow past `exp`.
const LEEWAY: u64 = 60;

/// How long a retired key stays published: the configured window (the longest lifetime of the
/// configuration's tokens), or longer when a resource added with `latchkey resource add` gives its
/// tokens a longer lifetime (L6). Read at every load, so a resource added later counts at once.
pub async fn publish_window(store: &Store, configured: u64) -> Result<u64, KeyringError> {
    let longest = store
        .list_resources()
        .await?
        .iter()
        .filter_map(|r| r.access_token_ttl)
        .max()
        .map_or(0, |ttl| ttl + LEEWAY);
    Ok(configured.max(longest))
}

/// Whether a stored key's public half is still published at `now`.
pub fn is_published(key: &StoredKey, now: Timestamp, publish_window: u64) -> bool {
    key.retired_at
        .is_none_or(|retired| retired.plus(publish_window) > now)
}

/// Loads the active key and every still-published key.
pub async fn load(
    store: &Store,
    master: &MasterKey,
    now: Timestamp,
    publish_window: u64,
) -> Result<KeySet, KeyringError> {
    let publish_window = self::publish_window(store, publish_window).await?;
    let stored = store.list_keys().await?;
    let mut active = None;
    let mut others = Vec::new();
    let mut published = Vec::new();
    for key in stored
        .iter()
        .filter(|k| is_published(k, now, publish_window))
    {
        let opened = master.open(&key.kid, key.alg, &key.sealed_private)?;
        published.push(opened.public_jwk().clone());
        match (key.retired_at, key.active) {
            (None, true) => active = Some((opened, key.created_at)),
            (None, false) => others.push(opened),
            (Some(_), _) => {}
        }
    }
    let (active, active_created_at) = active.ok_or(KeyringError::NoActiveKey)?;
    let jwks = CachedJson::new(&json!({ "keys": published }));
    Ok(KeySet {
        active,
        active_created_at,
        others,
        published,
        jwks,
    })
}

impl KeySet {
    /// The current key of `alg`, if the server has one.
    pub fn for_alg(&self, alg: KeyAlg) -> Option<&SigningKey> {
        std::iter::once(&self.active)
            .chain(&self.others)
            .find(|k| k.alg() == alg)
    }

    /// Shares the set between requests.
    pub fn shared(self) -> Arc<KeySet> {
        Arc::new(self)
    }
}
