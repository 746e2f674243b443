//! The embedded SQLite backend: one file, WAL mode, migrations run at connect.
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{ConnectOptions, StoreError};

/// Storage in an SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one connection that writes. SQLite admits one writer at a time; queueing writers here keeps
    /// them out of SQLite's busy handler, which sleeps in steps of milliseconds.
    write: SqlitePool,
}

impl SqliteStore {
    /// Each write of the authorization code flow is one statement (migration 0019's views), and a
    /// redemption reads its grant in the same round trip to the connection's thread.
    pub(crate) const ONE_TRIP_FLOW_WRITES: bool = true;

    /// Opens (creating if missing) the database at `url` (`sqlite:PATH`, `sqlite://PATH` or a plain path)
    /// without migrating it.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<SqliteStore, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let connect = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            // WAL lets readers (token requests) proceed while a writer (the CLI, a rotation) commits;
            // NORMAL is durable across application crashes in WAL mode and avoids an fsync per commit.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // SQLite has no statement timeout; the nearest thing is how long a write waits for another
            // process (the CLI) to release the file.
            .busy_timeout(options.statement_timeout)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.clamp(1, 4))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(SqliteStore { pool, write })
    }

    /// Closes both pools.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
        self.write.close().await;
    }

    /// The readers' pool and the writer's.
    pub(crate) fn pools(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.pool, &self.write)
    }

    pub(crate) fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    pub(crate) fn migrator() -> Migrator {
        migrator()
    }
}

fn migrator() -> Migrator {
    crate::sql::migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "authorization_code",
            include_str!("../migrations/sqlite/0002_authorization_code.sql"),
        ),
        (
            3,
            "token_services",
            include_str!("../migrations/sqlite/0003_token_services.sql"),
        ),
        (
            4,
            "change_counters",
            include_str!("../migrations/sqlite/0004_change_counters.sql"),
        ),
        (
            5,
            "revocation_counter",
            include_str!("../migrations/sqlite/0005_revocation_counter.sql"),
        ),
        (
            6,
            "registration",
            include_str!("../migrations/sqlite/0006_registration.sql"),
        ),
        (
            7,
            "document_clients",
            include_str!("../migrations/sqlite/0007_document_clients.sql"),
        ),
        (
            8,
            "opaque_token_owners",
            include_str!("../migrations/sqlite/0008_opaque_token_owners.sql"),
        ),
        (
            9,
            "prune_indexes",
            include_str!("../migrations/sqlite/0009_prune_indexes.sql"),
        ),
        (
            10,
            "shared_throttle",
            include_str!("../migrations/sqlite/0010_shared_throttle.sql"),
        ),
        (
            15,
            "user_attributes",
            include_str!("../migrations/sqlite/0015_user_attributes.sql"),
        ),
        (
            16,
            "openid",
            include_str!("../migrations/sqlite/0016_openid.sql"),
        ),
        (
            17,
            "signing_keys_per_alg",
            include_str!("../migrations/sqlite/0017_signing_keys_per_alg.sql"),
        ),
        (
            18,
            "audit",
            include_str!("../migrations/sqlite/0018_audit.sql"),
        ),
        (
            19,
            "flow_writes",
            include_str!("../migrations/sqlite/0019_flow_writes.sql"),
        ),
    ])
}

crate::sql::impl_role_traits!(SqliteStore, sqlx::sqlite::SqliteRow);
crate::users::impl_user_traits!(super::SqliteStore, sqlx::sqlite::SqliteRow);
crate::grants::impl_grant_traits!(super::SqliteStore, sqlx::sqlite::SqliteRow);
crate::tokens::impl_token_traits!(super::SqliteStore, sqlx::sqlite::SqliteRow);
crate::throttle::impl_throttle_traits!(
    super::SqliteStore,
    sqlx::sqlite::SqliteRow,
    crate::throttle::SQLITE_BEGIN
);
crate::audit::impl_audit_traits!(super::SqliteStore, sqlx::sqlite::SqliteRow);
