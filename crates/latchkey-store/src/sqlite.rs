//! The embedded SQLite backend: one file, WAL mode, migrations run at connect. How it applies the
//! group-committed writes is its own (`Backend`, beside `postgres.rs`'s); the rest is shared.
use std::str::FromStr;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::commit::{Backend, Committer, Write, bind_args};
use crate::grants::{bind_code, bind_grant, claims_json};
use crate::{ConnectOptions, StoreError, Synchronous};

/// Storage in an SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one connection that writes. SQLite admits one writer at a time; queueing writers here keeps
    /// them out of SQLite's busy handler, which sleeps in steps of milliseconds.
    write: SqlitePool,
    /// Group commit of the request paths' writes, on `write`.
    commit: Committer<Sqlite>,
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
            // NORMAL is durable across application crashes in WAL mode and avoids an fsync per commit;
            // FULL also survives power loss, at one fsync per (group) commit.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.sqlite_synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
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
        Ok(SqliteStore {
            pool,
            commit: Committer::start(write.clone()),
            write,
        })
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

    pub(crate) fn committer(&self) -> &Committer<Sqlite> {
        &self.commit
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
/// (`BEGIN`, two statements, `COMMIT`) when it runs alone; a statement and the triggers it fires are
/// atomic. `postgres.rs` writes the same in several statements.
impl Backend for Sqlite {
    /// `IMMEDIATE` takes the write lock at once: a deferred transaction that read first could meet
    /// another process's commit and fail with `SQLITE_BUSY` instead of waiting.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    /// # Security
    /// L3 is the `issued_refresh_insert` trigger (migrations/sqlite/0019_flow_writes.sql): it aborts
    /// unless the grant is unrevoked, and no revocation runs during the statement (one writer, and a
    /// statement is atomic). Its abort undoes that statement only, not the batch around it.
    /// PostgreSQL has no such trigger; there `HOLD_GRANT` guards it instead.
    async fn apply(conn: &mut SqliteConnection, write: &Write) -> Result<u64, StoreError> {
        match write {
            Write::Statement(statement, args) => Ok(bind_args!(*statement, args)
                .execute(&mut *conn)
                .await?
                .rows_affected()),
            Write::Issued {
                jti,
                grant_id,
                expires_at,
                refresh,
            } => {
                let recorded = sqlx::query(RECORD_ISSUED_REFRESH)
                    .bind(jti.as_str())
                    .bind(grant_id.as_str())
                    .bind(expires_at.0)
                    .bind(refresh.as_ref().map(|t| t.hash.as_bytes()))
                    .bind(refresh.as_ref().map(|t| t.grant_id.as_str()))
                    .bind(refresh.as_ref().map(|t| t.client_id.as_str()))
                    .bind(refresh.as_ref().map(|t| t.created_at.0))
                    .bind(refresh.as_ref().map(|t| t.expires_at.0))
                    .execute(&mut *conn)
                    .await;
                match recorded {
                    Ok(_) => Ok(1),
                    Err(sqlx::Error::Database(e)) if e.message() == GRANT_NOT_LIVE => Ok(0),
                    Err(e) => Err(e.into()),
                }
            }
            Write::GrantCode(pair) => {
                let (grant, code) = &**pair;
                let query = sqlx::query(INSERT_GRANT_CODE);
                bind_code!(bind_grant!(query, grant, claims_json(grant)), code)
                    .execute(&mut *conn)
                    .await?;
                Ok(1)
            }
        }
    }

    fn single_statement(_: &Write) -> bool {
        true
    }
}

crate::roles::impl_roles!(SqliteStore, sqlx::Sqlite, crate::throttle::SQLITE_BEGIN);
