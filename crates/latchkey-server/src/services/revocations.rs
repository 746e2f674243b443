//! Which access tokens are revoked (the deny-list, RFC 7009), with the ids found not revoked
//! remembered, so introspecting a cached JWT touches no database. "Not revoked" is forgotten at every
//! revocation: made here (`revoked`), or anywhere (the database's counter, read by the change watcher
//! within `cache.refresh_interval`).
use std::sync::atomic::{AtomicI64, Ordering};

use latchkey_store::{Store, StoreError, TokenStore};

use super::cache::Invalidated;

/// Token ids remembered as not revoked, at most.
const CAPACITY: usize = 50_000;

/// The deny-list lookup.
pub struct Revocations {
    store: Store,
    not_revoked: Invalidated<String, ()>,
    /// The database's revocation counter as last seen.
    version: AtomicI64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Revocations {
    /// Starts from the database's revocation counter `version`.
    pub(crate) fn new(store: Store, version: i64) -> Self {
        Revocations {
            store,
            not_revoked: Invalidated::new(CAPACITY),
            version: AtomicI64::new(version),
        }
    }

    /// Whether an access token id is on the deny-list.
    pub(crate) async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        if self.not_revoked.get(jti).is_some() {
            return Ok(false);
        }
        let epoch = self.not_revoked.epoch();
        let revoked = self.store.is_revoked(jti).await?;
        if !revoked {
            self.not_revoked.insert(epoch, jti.to_owned(), ());
        }
        Ok(revoked)
    }

    /// Forgets which tokens were not revoked: call after revoking anything.
    pub(crate) fn revoked(&self) {
        self.not_revoked.invalidate();
    }

    /// Records the database's revocation counter and forgets "not revoked" when it moved.
    pub(crate) fn observe_version(&self, version: i64) {
        if self.version.swap(version, Ordering::SeqCst) != version {
            self.revoked();
        }
    }
}
