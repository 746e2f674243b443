//! Latchkey's storage: one interface by role, implemented on SQLite (the embedded default) and on
//! PostgreSQL (for several instances serving one issuer). Both pass the same conformance suite.
use std::future::Future;
use std::time::Duration;

use latchkey_core::client::Client;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
use latchkey_core::grant::{Grant, GrantId};
use latchkey_core::keys::KeyAlg;
use latchkey_core::password::PasswordHash;
use latchkey_core::resource::Resource;
use latchkey_core::secret::SecretHash;
use latchkey_core::throttle::{Counter, ThrottleKey};
use latchkey_core::token::RefreshTokenRecord;
use latchkey_core::types::{AuthMethod, ClientId, ResourceUri, Scope, Timestamp};
use latchkey_core::user::{User, Username};

mod audit;
mod copy;
mod grants;
mod postgres;
mod row;
mod sql;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;
mod throttle;
mod tokens;
mod users;

pub use audit::{AuditEvent, AuditQuery, AuditRecord, Outcome};
pub use copy::CopyReport;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
/// The driver error `StoreError` wraps, for callers that build or inspect one.
pub use sqlx::Error as SqlxError;

/// A storage failure. "Not found" is never an error: lookups return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused a statement.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot serve right now: unreachable, shutting down, out of connections, too slow,
    /// read-only, or (SQLite) its file cannot be written. A later attempt may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database's schema is not the one this build expects; the text says which way and what to do.
    #[error("{0}")]
    Schema(String),
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

/// Requests that waited for a pooled connection until the acquire timeout, in this process.
static ACQUIRE_TIMEOUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            ACQUIRE_TIMEOUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether an error says the database cannot serve at the moment, rather than that a statement was
/// wrong: the server answers the first with 503 `temporarily_unavailable`, the second with 500.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // PostgreSQL SQLSTATEs (Appendix A): connection exceptions, insufficient resources,
                // operator intervention (shutdown, cancelled by statement_timeout), a read-only
                // standby, and the two "try again" transaction rollbacks.
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || matches!(code, "25006" | "40001" | "40P01")
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's extended result codes: the primary code is the low byte. BUSY, LOCKED,
                // READONLY, IOERR, FULL, CANTOPEN: the file, not the statement, is the problem.
                db.code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
            } else {
                false
            }
        }
        _ => false,
    }
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
    /// When a newer key replaced it; `None` while it is current (one current key per algorithm).
    pub retired_at: Option<Timestamp>,
    /// Whether it signs access tokens: exactly one current key does.
    pub active: bool,
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
    /// Removes a client, after deny-listing every access token still outstanding for it (from its
    /// grants, and its opaque tokens); `false` if there was none.
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
    /// Stores `key` as the current key of its algorithm, not signing access tokens, unless that
    /// algorithm has one already; `false` when another was there first.
    fn insert_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces keys in one transaction: each of `keys` retires the current key of its algorithm at
    /// `now` and becomes current; the one marked `active` also takes over signing access tokens from
    /// the key that did (which is retired too).
    fn rotate_keys(
        &self,
        keys: &[StoredKey],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every stored key: the active one first, then the others newest first.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;
    /// Deletes keys retired before `before`; returns how many.
    fn prune_keys(&self, before: Timestamp)
    -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes one retired key at once (a compromised key); `false` if there is no such retired key.
    fn delete_retired_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Users: the resource owners who sign in.
pub trait UserStore {
    /// Adds a user; `Conflict` if the username is taken.
    fn insert_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Loads a user by username.
    fn find_user_by_username(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Loads a user by id.
    fn find_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// All users, oldest first.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// Removes a user with their sessions, consents and grants, after deny-listing every access token
    /// still outstanding for them; `false` if there was none.
    fn delete_user(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a user's e-mail, name, other attributes and `updated_at`; `false` if there is no such
    /// user.
    fn update_user(&self, user: &User) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a user's password hash and ends their sessions; with `revoke_grants_at`, also revokes
    /// their grants (refresh tokens) and deny-lists their access tokens. `false` if there is no such user.
    fn set_password(
        &self,
        username: &Username,
        hash: &PasswordHash,
        revoke_grants_at: Option<Timestamp>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A signed-in browser session, found by the hash of its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub user_id: String,
    /// When the user signed in.
    pub auth_time: Timestamp,
    /// When the session ends.
    pub expires_at: Timestamp,
    /// The session's public id (OpenID Connect `sid`); `None` for sessions older than OpenID support.
    pub sid: Option<String>,
}

/// Browser sessions and remembered consent.
pub trait SessionStore {
    /// Stores a session under the hash of its cookie value.
    fn insert_session(
        &self,
        hash: &SecretHash,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The unexpired session with this hash.
    fn find_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// The unexpired session with this hash and its user, in one query: what every page needs.
    fn find_signed_in(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<(Session, User)>, StoreError>> + Send;
    /// Ends a session.
    fn delete_session(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The scopes a user has approved for a client and resource.
    fn find_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> impl Future<Output = Result<Option<Scope>, StoreError>> + Send;
    /// Forgets what a user approved for a client and resource; `false` if nothing was recorded.
    fn delete_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records approval of `scope` (replacing what was recorded for that user, client and resource).
    fn save_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
        scope: &Scope,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A code or refresh token as presented, before anything is spent: its record, its grant, and
/// whether it was used already. The token endpoint checks the presenting client, grant type, scope and
/// resource against it first (L2), so a request that fails a check spends nothing.
#[derive(Debug)]
pub struct Presented<T> {
    /// The stored code or token.
    pub record: T,
    /// Whether it was used (a code redeemed, a refresh token rotated out).
    pub used: bool,
    /// Its grant.
    pub grant: Grant,
}

/// Grants and the codes and refresh tokens issued from them.
pub trait GrantStore {
    /// Stores a new grant and its authorization code, in one transaction.
    fn insert_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCodeRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The code with this hash and its grant, used or not, in one query.
    fn find_code(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<Presented<AuthorizationCodeRecord>>, StoreError>> + Send;
    /// Marks the code used: `true` when this call did. Of two concurrent calls, exactly one gets
    /// `true`; `false` means it was used (or is gone) and the caller applies the reuse rule.
    fn consume_code(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores a refresh token.
    fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a refresh token used (rotated out): `true` when this call did. Of two concurrent calls,
    /// exactly one gets `true`.
    fn use_refresh_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Revokes the grants `client_id` was given in browser session `sid`, with their refresh and
    /// access tokens (RP-initiated logout, when configured); returns how many.
    fn revoke_session_grants(
        &self,
        sid: &str,
        client_id: &ClientId,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// A grant by id, whatever its state.
    fn find_grant(
        &self,
        grant_id: &GrantId,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
    /// A user's grants that are neither revoked nor expired at `now`, oldest first.
    fn list_grants(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Grant>, StoreError>> + Send;
    /// The grant an access token (by `jti`) was issued from, if it came from one.
    fn find_grant_of_token(
        &self,
        jti: &str,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
    /// Revokes a grant, and with it every code and refresh token issued from it.
    fn revoke_grant(
        &self,
        grant_id: &GrantId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A refresh token as found by the token endpoint, introspection or revocation, rotated out or not.
pub type RefreshTokenState = Presented<RefreshTokenRecord>;

/// Opaque access tokens, the access tokens of grants, and revocation.
pub trait TokenStore {
    /// Remembers that access token `jti` was issued from `grant_id`, so revoking the grant reaches it,
    /// and stores the refresh token issued with it, in one transaction. `false` (and nothing stored)
    /// when the grant is revoked: a revocation and an issuance never interleave so that the new token
    /// escapes the deny-list (L3); the caller must not hand the token out.
    fn record_issued(
        &self,
        jti: &str,
        grant_id: &GrantId,
        expires_at: Timestamp,
        refresh: Option<&RefreshTokenRecord>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores an opaque access token: its hash and the claims it stands for.
    fn insert_opaque(
        &self,
        hash: &SecretHash,
        claims: &latchkey_core::token::AccessTokenClaims,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The claims behind an opaque access token.
    fn find_opaque(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<latchkey_core::token::AccessTokenClaims>, StoreError>> + Send;
    /// Puts an access token id on the deny-list until `expires_at`.
    fn revoke_jti(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether an access token id is on the deny-list.
    fn is_revoked(&self, jti: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// A refresh token by hash, whatever its state.
    fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<RefreshTokenState>, StoreError>> + Send;
    /// Deletes what expired before `before` (deny-list entries, opaque tokens, codes, sessions, and in
    /// bounded batches refresh tokens, grants and initial access tokens).
    fn prune(&self, before: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Resources added with `latchkey resource add` (the configuration file can list more).
pub trait ResourceStore {
    /// Adds a resource; `Conflict` if its identifier is taken.
    fn insert_resource(
        &self,
        resource: &Resource,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A resource by identifier.
    fn find_resource(
        &self,
        uri: &ResourceUri,
    ) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send;
    /// All resources, by identifier.
    fn list_resources(&self) -> impl Future<Output = Result<Vec<Resource>, StoreError>> + Send;
    /// Removes a resource; `false` if there was none.
    fn delete_resource(
        &self,
        uri: &ResourceUri,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What dynamic client registration (RFC 7591/7592) needs beyond `ClientStore`.
pub trait RegistrationStore {
    /// Replaces a client's name, grant types, scope and redirect URIs (RFC 7592 §2.2).
    fn update_client_metadata(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a client assertion's `jti` until `expires_at`; `false` when it was used before.
    fn record_assertion(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records that a dynamically registered client obtained its first token.
    fn activate_client(
        &self,
        id: &ClientId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Writes a Client ID Metadata Document's client whole (insert or replace) and marks it as one;
    /// `false` when the id belongs to a client that is not a document client, which is never touched.
    fn upsert_document_client(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes document clients last fetched before `before` that no grant or consent refers to.
    fn prune_document_clients(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes dynamically registered clients created before `before` that never obtained a token.
    fn prune_unused_clients(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Stores an initial access token (RFC 7591 §3) for closed registration.
    fn insert_initial_access_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether an initial access token exists and is unexpired.
    fn initial_access_token_valid(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Failed-login counters and per-address event windows, in the database so that every instance on it
/// counts the same attempts. The rules that decide what a counter becomes live in
/// `latchkey_core::throttle`.
pub trait ThrottleStore {
    /// Reads the counters of `keys` (a key never seen reads as `Counter::default()`) and replaces them
    /// with what `update` returns, in one transaction holding their rows locked: concurrent updates of
    /// a key, from any instance, happen one after the other. When `update` refuses, nothing is written.
    fn update_counters<T, R, F>(
        &self,
        keys: &[ThrottleKey],
        update: F,
    ) -> impl Future<Output = Result<Result<T, R>, StoreError>> + Send
    where
        T: Send,
        R: Send,
        F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send;
    /// Counts one event under `key` in the window that starts at `window_start`; returns how many the
    /// window holds now, this one included.
    fn count_event(
        &self,
        key: &ThrottleKey,
        window_start: Timestamp,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
    /// Deletes counters with nothing left to remember at `now` (last failure before `forget_before`, no
    /// lock, nothing in flight) and windows that started before `windows_before`, in bounded batches.
    fn prune_throttle(
        &self,
        forget_before: Timestamp,
        now: Timestamp,
        windows_before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The audit trail (`audit_events`).
pub trait AuditStore {
    /// Stores `records` in one transaction.
    fn insert_audit(
        &self,
        records: &[AuditRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The latest records `query` matches, oldest first.
    fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
    /// Deletes records older than `before_ms`, in bounded batches; returns how many.
    fn prune_audit(&self, before_ms: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Liveness of the database itself, and the change counter caches watch.
pub trait HealthStore {
    /// Runs a trivial query.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Numbers that change whenever a client or a resource changes, and whenever a token is revoked,
    /// whoever changed it.
    fn versions(&self) -> impl Future<Output = Result<Versions, StoreError>> + Send;
}

/// The change counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Clients and resources.
    pub registry: i64,
    /// The deny-list of revoked tokens.
    pub revocations: i64,
}

/// The configured backend. An enum rather than `dyn`: no boxed futures, and the server compiles once.
#[derive(Clone, Debug)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// The `(version, checksum)` of every successfully applied migration on `$pool`; none when sqlx's table
/// is missing. A macro: one body for two pool types, without sqlx's generic executor bounds.
macro_rules! applied_migrations {
    ($pool:expr, $has_table:expr) => {{
        use sqlx::Row as _;
        let pool = $pool;
        if sqlx::query($has_table)
            .fetch_optional(pool)
            .await?
            .is_none()
        {
            Vec::new()
        } else {
            sqlx::query(sql::APPLIED_MIGRATIONS)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("version")?, row.try_get("checksum")?)))
                .collect::<Result<Vec<(i64, Vec<u8>)>, StoreError>>()?
        }
    }};
}

/// Pool settings: `[database]` in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most connections one process opens: PostgreSQL connections; on SQLite, readers (at most 4) beside
    /// the one writer.
    pub max_connections: u32,
    /// Longest one statement may run on PostgreSQL before the server cancels it; on SQLite, how long a
    /// write waits for another process to release the file.
    pub statement_timeout: Duration,
    /// Longest a request waits for a connection; after that the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 16,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

impl Store {
    /// Opens the database named by `url` with default pool settings and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url, &ConnectOptions::default()).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database named by `url` without touching its schema.
    ///
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; `sqlite:` URLs and plain file paths select
    /// SQLite (the file is created if missing).
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::open(url, options).await?))
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Ok(Store::Sqlite(SqliteStore::open(url, options).await?))
        } else {
            Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL scheme in `{}` (expected sqlite:PATH or postgres://...)",
                url.split("://").next().unwrap_or(url)
            )))
        }
    }

    /// Applies the migrations the database lacks (on PostgreSQL under an advisory lock, so instances
    /// starting together migrate once); returns how many were pending when it looked.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let pending = self.schema().await?.pending.len();
        match self {
            Store::Sqlite(s) => SqliteStore::migrator().run(s.write_pool()).await?,
            Store::Postgres(p) => PgStore::migrator().run(p.pool()).await?,
        }
        Ok(pending)
    }

    /// Where the database's schema stands against this build's migrations.
    pub async fn schema(&self) -> Result<SchemaStatus, StoreError> {
        let (migrator, applied) = match self {
            Store::Sqlite(s) => (
                SqliteStore::migrator(),
                applied_migrations!(s.write_pool(), sql::SQLITE_HAS_MIGRATIONS),
            ),
            Store::Postgres(p) => (
                PgStore::migrator(),
                applied_migrations!(p.pool(), sql::POSTGRES_HAS_MIGRATIONS),
            ),
        };
        let mut status = SchemaStatus::default();
        for migration in migrator.iter() {
            match applied.iter().find(|(v, _)| *v == migration.version) {
                None => status.pending.push(format!(
                    "{:04}_{}",
                    migration.version, migration.description
                )),
                Some((_, checksum)) if *checksum != *migration.checksum => {
                    status.modified.push(migration.version);
                }
                Some(_) => {}
            }
        }
        status.unknown = applied
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !migrator.version_exists(*v))
            .collect();
        Ok(status)
    }

    /// Refuses a database whose schema is not exactly this build's, with a message saying what to do.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let status = self.schema().await?;
        if !status.pending.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database is behind this build: {} migration(s) not applied ({}); run `latchkey migrate` first",
                status.pending.len(),
                status.pending.join(", ")
            )));
        }
        if !status.unknown.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database has migrations this build does not know ({}): it was migrated by a newer Latchkey",
                join_versions(&status.unknown)
            )));
        }
        if !status.modified.is_empty() {
            return Err(StoreError::Schema(format!(
                "migrations {} were changed after they were applied",
                join_versions(&status.modified)
            )));
        }
        Ok(())
    }

    /// How the connection pools stand, for metrics.
    pub fn pool_status(&self) -> PoolStatus {
        let of = PoolStatus::of;
        match self {
            Store::Sqlite(s) => {
                let (read, write) = s.pools();
                let r = of(
                    read.size(),
                    read.num_idle(),
                    read.options().get_max_connections(),
                );
                let w = of(
                    write.size(),
                    write.num_idle(),
                    write.options().get_max_connections(),
                );
                PoolStatus {
                    in_use: r.in_use.saturating_add(w.in_use),
                    idle: r.idle.saturating_add(w.idle),
                    max: r.max.saturating_add(w.max),
                    acquire_timeouts: r.acquire_timeouts,
                }
            }
            Store::Postgres(p) => {
                let pool = p.pool();
                of(
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        }
    }

    /// Copies everything this SQLite database holds into the PostgreSQL database `target`, in one
    /// transaction: `target` is migrated first and must then be empty, unless `force`, which deletes
    /// its rows in the same transaction. This database must be at this build's schema (it is only read).
    pub async fn copy_into(&self, target: &Store, force: bool) -> Result<CopyReport, StoreError> {
        let (Store::Sqlite(from), Store::Postgres(to)) = (self, target) else {
            return Err(StoreError::UnsupportedUrl(
                "store copy copies an SQLite database (--from sqlite://…) into PostgreSQL (--to postgres://…)"
                    .into(),
            ));
        };
        self.check_schema()
            .await
            .map_err(|e| StoreError::Schema(format!("the source: {e}")))?;
        target.migrate().await?;
        target
            .check_schema()
            .await
            .map_err(|e| StoreError::Schema(format!("the target: {e}")))?;
        copy::copy(from, to, force).await
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
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(p) => p.pool().close().await,
        }
    }
}

/// Connections of the pools (on SQLite, the readers' and the writer's together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Lent out to a statement or transaction.
    pub in_use: u64,
    /// Open and waiting for work.
    pub idle: u64,
    /// The most the pools open.
    pub max: u64,
    /// Requests that waited for a connection until the acquire timeout, since the process started.
    pub acquire_timeouts: u64,
}

impl PoolStatus {
    /// One pool's status from sqlx's counters. sqlx keeps the size and the idle count in separate
    /// atomics, and the idle count can briefly wrap below zero while a connection is handed back: it
    /// is clamped to the size, or the sums over pools overflow (a panic in a debug build).
    fn of(size: u32, idle: usize, max: u32) -> PoolStatus {
        let size = u64::from(size);
        let idle = u64::try_from(idle).unwrap_or(u64::MAX).min(size);
        PoolStatus {
            in_use: size - idle,
            idle,
            max: u64::from(max),
            acquire_timeouts: ACQUIRE_TIMEOUTS.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// Where a database's schema stands against this build's migrations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations this build has and the database lacks, as `NNNN_name`.
    pub pending: Vec<String>,
    /// Versions applied to the database that this build does not have.
    pub unknown: Vec<i64>,
    /// Versions applied with different contents than this build's.
    pub modified: Vec<i64>,
}

fn join_versions(versions: &[i64]) -> String {
    versions
        .iter()
        .map(|v| format!("{v:04}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    async fn insert_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        dispatch!(self.insert_key(key))
    }
    async fn rotate_keys(&self, keys: &[StoredKey], now: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.rotate_keys(keys, now))
    }
    async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        dispatch!(self.list_keys())
    }
    async fn prune_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self.prune_keys(before))
    }
    async fn delete_retired_key(&self, kid: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_retired_key(kid))
    }
}

impl UserStore for Store {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        dispatch!(self.insert_user(user))
    }
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        dispatch!(self.find_user_by_username(username))
    }
    async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        dispatch!(self.find_user(user_id))
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self.list_users())
    }
    async fn delete_user(&self, username: &Username) -> Result<bool, StoreError> {
        dispatch!(self.delete_user(username))
    }
    async fn set_password(
        &self,
        username: &Username,
        hash: &PasswordHash,
        revoke_grants_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        dispatch!(self.set_password(username, hash, revoke_grants_at))
    }
    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        dispatch!(self.update_user(user))
    }
}

impl SessionStore for Store {
    async fn insert_session(&self, hash: &SecretHash, session: &Session) -> Result<(), StoreError> {
        dispatch!(self.insert_session(hash, session))
    }
    async fn find_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        dispatch!(self.find_session(hash, now))
    }
    async fn find_signed_in(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(Session, User)>, StoreError> {
        dispatch!(self.find_signed_in(hash, now))
    }
    async fn delete_session(&self, hash: &SecretHash) -> Result<(), StoreError> {
        dispatch!(self.delete_session(hash))
    }
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> Result<Option<Scope>, StoreError> {
        dispatch!(self.find_consent(user_id, client_id, resource))
    }
    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        dispatch!(self.save_consent(user_id, client_id, resource, scope, now))
    }
    async fn delete_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> Result<bool, StoreError> {
        dispatch!(self.delete_consent(user_id, client_id, resource))
    }
}

impl GrantStore for Store {
    async fn insert_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        dispatch!(self.insert_code(grant, code))
    }
    async fn find_code(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<Presented<AuthorizationCodeRecord>>, StoreError> {
        dispatch!(self.find_code(hash))
    }
    async fn consume_code(&self, hash: &SecretHash, now: Timestamp) -> Result<bool, StoreError> {
        dispatch!(self.consume_code(hash, now))
    }
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        dispatch!(self.insert_refresh_token(token))
    }
    async fn use_refresh_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        dispatch!(self.use_refresh_token(hash, now))
    }
    async fn find_grant(&self, grant_id: &GrantId) -> Result<Option<Grant>, StoreError> {
        dispatch!(self.find_grant(grant_id))
    }
    async fn list_grants(&self, user_id: &str, now: Timestamp) -> Result<Vec<Grant>, StoreError> {
        dispatch!(self.list_grants(user_id, now))
    }
    async fn revoke_grant(&self, grant_id: &GrantId, now: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.revoke_grant(grant_id, now))
    }
    async fn find_grant_of_token(&self, jti: &str) -> Result<Option<Grant>, StoreError> {
        dispatch!(self.find_grant_of_token(jti))
    }
    async fn revoke_session_grants(
        &self,
        sid: &str,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        dispatch!(self.revoke_session_grants(sid, client_id, now))
    }
}

impl RegistrationStore for Store {
    async fn update_client_metadata(&self, client: &Client) -> Result<bool, StoreError> {
        dispatch!(self.update_client_metadata(client))
    }
    async fn record_assertion(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        dispatch!(self.record_assertion(client_id, jti, expires_at))
    }
    async fn activate_client(&self, id: &ClientId, now: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.activate_client(id, now))
    }
    async fn prune_unused_clients(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self.prune_unused_clients(before))
    }
    async fn upsert_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        dispatch!(self.upsert_document_client(client))
    }
    async fn prune_document_clients(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self.prune_document_clients(before))
    }
    async fn insert_initial_access_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        dispatch!(self.insert_initial_access_token(hash, now, expires_at))
    }
    async fn initial_access_token_valid(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        dispatch!(self.initial_access_token_valid(hash, now))
    }
}

impl TokenStore for Store {
    async fn record_issued(
        &self,
        jti: &str,
        grant_id: &GrantId,
        expires_at: Timestamp,
        refresh: Option<&RefreshTokenRecord>,
    ) -> Result<bool, StoreError> {
        dispatch!(self.record_issued(jti, grant_id, expires_at, refresh))
    }
    async fn insert_opaque(
        &self,
        hash: &SecretHash,
        claims: &latchkey_core::token::AccessTokenClaims,
    ) -> Result<(), StoreError> {
        dispatch!(self.insert_opaque(hash, claims))
    }
    async fn find_opaque(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<latchkey_core::token::AccessTokenClaims>, StoreError> {
        dispatch!(self.find_opaque(hash))
    }
    async fn revoke_jti(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.revoke_jti(jti, expires_at))
    }
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        dispatch!(self.is_revoked(jti))
    }
    async fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        dispatch!(self.find_refresh_token(hash))
    }
    async fn prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        dispatch!(self.prune(before))
    }
}

impl ResourceStore for Store {
    async fn insert_resource(&self, resource: &Resource, now: Timestamp) -> Result<(), StoreError> {
        dispatch!(self.insert_resource(resource, now))
    }
    async fn find_resource(&self, uri: &ResourceUri) -> Result<Option<Resource>, StoreError> {
        dispatch!(self.find_resource(uri))
    }
    async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
        dispatch!(self.list_resources())
    }
    async fn delete_resource(&self, uri: &ResourceUri) -> Result<bool, StoreError> {
        dispatch!(self.delete_resource(uri))
    }
}

impl AuditStore for Store {
    async fn insert_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        dispatch!(self.insert_audit(records))
    }
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        dispatch!(self.list_audit(query))
    }
    async fn prune_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        dispatch!(self.prune_audit(before_ms))
    }
}

impl HealthStore for Store {
    async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }
    async fn versions(&self) -> Result<Versions, StoreError> {
        dispatch!(self.versions())
    }
}

impl ThrottleStore for Store {
    async fn update_counters<T, R, F>(
        &self,
        keys: &[ThrottleKey],
        update: F,
    ) -> Result<Result<T, R>, StoreError>
    where
        T: Send,
        R: Send,
        F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send,
    {
        dispatch!(self.update_counters(keys, update))
    }
    async fn count_event(
        &self,
        key: &ThrottleKey,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        dispatch!(self.count_event(key, window_start))
    }
    async fn prune_throttle(
        &self,
        forget_before: Timestamp,
        now: Timestamp,
        windows_before: Timestamp,
    ) -> Result<u64, StoreError> {
        dispatch!(self.prune_throttle(forget_before, now, windows_before))
    }
}

#[cfg(test)]
mod tests {
    use super::PoolStatus;

    #[test]
    fn an_idle_count_that_wrapped_below_zero_reads_as_all_idle_not_as_an_overflow() {
        let wrapped = PoolStatus::of(3, usize::MAX, 8);
        assert_eq!((wrapped.in_use, wrapped.idle, wrapped.max), (0, 3, 8));
        // Two such pools summed, as the SQLite store does, stay small.
        let sum = wrapped
            .idle
            .saturating_add(PoolStatus::of(1, usize::MAX, 1).idle);
        assert_eq!(sum, 4);
        let normal = PoolStatus::of(5, 2, 8);
        assert_eq!((normal.in_use, normal.idle), (3, 2));
    }
}
