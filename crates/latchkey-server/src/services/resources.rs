//! Resources (RFC 8707) by identifier: the configuration file's first, then those added with
//! `latchkey resource add`, cached until the database's change counter moves.
use std::collections::BTreeMap;

use latchkey_core::resource::Resource;
use latchkey_core::types::ResourceUri;
use latchkey_store::{ResourceStore, Store, StoreError};

use super::cache::Invalidated;

/// Resource identifiers remembered at most. Unknown identifiers are cached too (a client may send as
/// many as it likes); beyond this, the least useful entries are evicted.
const CAPACITY: usize = 10_000;

/// The resource lookup.
pub struct Resources {
    store: Store,
    configured: BTreeMap<ResourceUri, Resource>,
    stored: Invalidated<ResourceUri, Option<Resource>>,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resources")
            .field("configured", &self.configured.len())
            .finish_non_exhaustive()
    }
}

impl Resources {
    pub(crate) fn new(store: Store, configured: BTreeMap<ResourceUri, Resource>) -> Self {
        Resources {
            store,
            configured,
            stored: Invalidated::new(CAPACITY),
        }
    }

    /// The configured resource named `uri`, if any.
    pub(crate) async fn find(
        &self,
        uri: Option<&ResourceUri>,
    ) -> Result<Option<Resource>, StoreError> {
        let Some(uri) = uri else {
            return Ok(None);
        };
        if let Some(configured) = self.configured.get(uri) {
            return Ok(Some(configured.clone()));
        }
        if let Some(found) = self.stored.get(uri) {
            return Ok(found);
        }
        let epoch = self.stored.epoch();
        let found = self.store.find_resource(uri).await?;
        self.stored.insert(epoch, uri.clone(), found.clone());
        Ok(found)
    }

    /// Forgets the resources read from the database.
    pub(crate) fn invalidate(&self) {
        self.stored.invalidate();
    }
}
