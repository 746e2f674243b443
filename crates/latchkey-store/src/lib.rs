//! Latchkey's storage: one interface by role, implemented on SQLite (the embedded default) and on
//! PostgreSQL (for several instances serving one issuer). Both pass the same conformance suite.
use std::future::Future;

use latchkey_core::client::Client;
use latchkey_core::keys::KeyAlg;
use latchkey_core::secret::SecretHash;
use latchkey_core::types::{AuthMethod, ClientId, Timestamp};

mod postgres;
mod row;
mod sql;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// A storage failure. "Not found" is never an error: lookups return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed or the database has migrations this build does not know.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses: written by another version, or edited by hand.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An insert collided with an existing row.
    #[error("{0}")]
    Conflict(String),
    /// The database URL names no backend Latchkey has.
    #[error("{0}")]
    UnsupportedUrl(String),
}

/// A signing key as stored: its private half sealed under the master key.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: KeyAlg,
    /// Nonce, ciphertext and tag of the PKCS#8 private key.
    pub sealed_private: Vec<u8>,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When a newer key replaced it; `None` for the active key.
    pub retired_at: Option<Timestamp>,
}

/// Registered clients.
pub trait ClientStore {
    /// Adds a client; `Conflict` if the client_id is taken.
    fn insert_client(&self, client: &Client)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Loads a client by id.
    fn find_client(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;
    /// All clients, oldest first.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;
    /// Removes a client; `false` if there was none.
    fn delete_client(&self, id: &ClientId)
    -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a client's secret hash (and its secret method); `false` if there is no such client.
    fn set_client_secret(
        &self,
        id: &ClientId,
        method: AuthMethod,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Signing keys.
pub trait KeyStore {
    /// Stores `key` as the active key unless one exists already; `false` when another was there first.
    fn insert_first_key(
        &self,
        key: &StoredKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Retires the active key at `now` and makes `key` active, in one transaction.
    fn rotate_key(
        &self,
        key: &StoredKey,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every stored key: the active one first, then the others newest first.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;
    /// Deletes keys retired before `before`; returns how many.
    fn prune_keys(&self, before: Timestamp)
    -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Liveness of the database itself.
pub trait HealthStore {
    /// Runs a trivial query.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The configured backend. An enum rather than `dyn`: no boxed futures, and the server compiles once.
#[derive(Clone, Debug)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

impl Store {
    /// Opens the database named by `url` and runs pending migrations.
    ///
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; `sqlite:` URLs and plain file paths select
    /// SQLite (the file is created if missing).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::connect(url).await?))
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Ok(Store::Sqlite(SqliteStore::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL scheme in `{}` (expected sqlite:PATH or postgres://...)",
                url.split("://").next().unwrap_or(url)
            )))
        }
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool().close().await,
            Store::Postgres(p) => p.pool().close().await,
        }
    }
}

/// Forwards each trait method to the backend: one two-arm `match` per method, no boxing.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(p) => p.$method($($arg),*).await,
        }
    };
}

impl ClientStore for Store {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        dispatch!(self.insert_client(client))
    }
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        dispatch!(self.find_client(id))
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        dispatch!(self.list_clients())
    }
    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        dispatch!(self.delete_client(id))
    }
    async fn set_client_secret(
        &self,
        id: &ClientId,
        method: AuthMethod,
        hash: &SecretHash,
    ) -> Result<bool, StoreError> {
        dispatch!(self.set_client_secret(id, method, hash))
    }
}

impl KeyStore for Store {
    async fn insert_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        dispatch!(self.insert_first_key(key))
    }
    async fn rotate_key(&self, key: &StoredKey, now: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.rotate_key(key, now))
    }
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        dispatch!(self.list_keys())
    }
    async fn prune_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self.prune_keys(before))
    }
}

impl HealthStore for Store {
    async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }
}
