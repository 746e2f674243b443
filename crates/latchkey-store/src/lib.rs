//! Latchkey's storage: one interface by role, implemented on SQLite (the embedded default) and on
//! PostgreSQL (for several instances serving one issuer). Both pass the same conformance suite.
//!
//! The roles are traits (`roles.rs`); each backend implements them from statements written once
//! (`clients.rs`, `keys.rs`, `health.rs`, `users.rs`, `grants.rs`, `tokens.rs`, `throttle.rs`,
//! `audit.rs`). The writes on the request paths go through group commit (`commit.rs`), and the two
//! that record a grant's code and its issued tokens each backend says its own way (`sqlite.rs`,
//! `postgres.rs`). `Store` picks the backend at run time (`dispatch.rs`); `schema.rs` embeds and
//! checks the migrations.

mod audit;
mod clients;
mod commit;
mod copy;
mod deny_list;
mod dispatch;
mod error;
mod exec;
mod grants;
mod health;
mod keys;
mod pool;
mod postgres;
mod roles;
mod row;
mod schema;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;
mod throttle;
mod tokens;
mod users;

pub use audit::{AuditEvent, AuditQuery, AuditRecord, Outcome};
pub use commit::GroupCommits;
pub use copy::CopyReport;
pub use error::StoreError;
pub use pool::{ConnectOptions, PoolStatus, Synchronous};
pub use postgres::PgStore;
pub use roles::{
    AuditStore, ClientStore, GrantStore, HealthStore, KeyStore, Presented, RefreshTokenState,
    RegistrationStore, ResourceStore, Session, SessionStore, StoredKey, ThrottleStore, TokenStore,
    UserStore, Versions,
};
pub use schema::SchemaStatus;
pub use sqlite::SqliteStore;
/// The driver error `StoreError` wraps, for callers that build or inspect one.
pub use sqlx::Error as SqlxError;

/// The configured backend. An enum rather than `dyn`: no boxed futures, and the server compiles once.
#[derive(Clone, Debug)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

impl Store {
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

    /// How many commits the request paths' writes took, and how many writes they held.
    pub fn group_commits(&self) -> GroupCommits {
        match self {
            Store::Sqlite(s) => s.committer().counts(),
            Store::Postgres(p) => p.committer().counts(),
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
