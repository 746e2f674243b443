//! The embedded SQLite backend: one file, WAL mode, migrations run at connect. The writes of the
//! authorization code flow are its own (`FlowWrites`, beside `postgres.rs`'s); the rest is shared.
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use latchkey_core::grant::Grant;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;

use crate::grants::{FlowWrites, Issued, bind_code, bind_grant, claims_json};
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
}

/// A grant and its code in one statement: an insert into migration 0019's `grant_codes` view, whose
/// trigger writes both rows.
const INSERT_GRANT_CODE: &str = "INSERT INTO grant_codes \
    (grant_id, client_id, user_id, scope, resource, auth_time, created_at, expires_at, sid, claims, \
    code_hash, code_client_id, redirect_uri, redirect_uri_sent, code_challenge, code_expires_at, nonce) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
/// An access token's record and its refresh token in one statement: an insert into migration 0019's
/// `issued_refresh` view, whose trigger aborts with `GRANT_NOT_LIVE` when the grant is revoked.
const RECORD_ISSUED_REFRESH: &str = "INSERT INTO issued_refresh \
    (jti, grant_id, expires_at, token_hash, refresh_grant_id, refresh_client_id, refresh_created_at, \
    refresh_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The message `RECORD_ISSUED_REFRESH`'s trigger aborts with.
const GRANT_NOT_LIVE: &str = "latchkey: grant not live";

/// Each write is one statement, so one round trip to the connection's thread instead of four
/// (`BEGIN`, two statements, `COMMIT`); a statement and the triggers it fires are atomic.
/// `postgres.rs` writes the same in a transaction.
impl FlowWrites for SqliteStore {
    /// # Security
    /// L3 is the `issued_refresh_insert` trigger (migrations/sqlite/0019_flow_writes.sql): it aborts
    /// unless the grant is unrevoked, and no revocation runs during the statement (one writer, and a
    /// statement is atomic). PostgreSQL has no such trigger; there `HOLD_GRANT` guards it instead.
    async fn record_issued_while_live(&self, issued: Issued<'_>) -> Result<bool, StoreError> {
        let recorded = sqlx::query(RECORD_ISSUED_REFRESH)
            .bind(issued.jti)
            .bind(issued.grant_id.as_str())
            .bind(issued.expires_at.0)
            .bind(issued.refresh.map(|t| t.hash.as_bytes()))
            .bind(issued.refresh.map(|t| t.grant_id.as_str()))
            .bind(issued.refresh.map(|t| t.client_id.as_str()))
            .bind(issued.refresh.map(|t| t.created_at.0))
            .bind(issued.refresh.map(|t| t.expires_at.0))
            .execute(&self.write)
            .await;
        match recorded {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.message() == GRANT_NOT_LIVE => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn insert_grant_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(INSERT_GRANT_CODE);
        self.execute(bind_code!(
            bind_grant!(query, grant, claims_json(grant)),
            code
        ))
        .await?;
        Ok(())
    }
}

crate::roles::impl_roles!(SqliteStore, sqlx::Sqlite, crate::throttle::SQLITE_BEGIN);
