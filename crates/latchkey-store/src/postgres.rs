//! The PostgreSQL backend, for several instances serving one issuer. How it applies the
//! group-committed writes is its own (`Backend`, beside `sqlite.rs`'s); the rest is shared.
use std::str::FromStr;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::commit::{Backend, Committer, Write, bind_args};
use crate::grants::{INSERT_REFRESH, bind_code, bind_grant, bind_refresh, claims_json};
use crate::{ConnectOptions, StoreError};

/// Storage in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL handles concurrent writers itself.
    write: PgPool,
    /// The request paths' writes, each committed on its own (`Committer::direct`): one batching
    /// task serialised every write onto one connection, one round trip per statement, and measured
    /// slower than PostgreSQL's own grouping of concurrent commits over the pool (client_credentials
    /// with opaque tokens 4.8k → 3.4k/s, rotations 1.1k → 0.6k/s). Batching here needs multi-row
    /// statements or pipelining first.
    commit: Committer<Postgres>,
}

impl PgStore {
    /// Connects to `url` without migrating.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<PgStore, StoreError> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        // `statement_timeout` is set per connection at startup, so a runaway statement is cancelled by
        // the server and its connection returns to the pool.
        let connect =
            PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(PgStore {
            commit: Committer::direct(pool.clone()),
            write: pool.clone(),
            pool,
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn committer(&self) -> &Committer<Postgres> {
        &self.commit
    }
}

const INSERT_GRANT: &str = "INSERT INTO grants \
    (grant_id, client_id, user_id, scope, resource, auth_time, created_at, expires_at, revoked_at, \
    sid, claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)";
const INSERT_CODE: &str = "INSERT INTO authorization_codes \
    (code_hash, client_id, redirect_uri, redirect_uri_sent, code_challenge, expires_at, nonce, grant_id, \
    used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)";
/// Share-locks the grant row for the rest of the transaction, or matches nothing when it is revoked
/// (L3): it waits for a concurrent `REVOKE_GRANT` (whose row lock conflicts with a share lock) and
/// then re-reads the row and sees its result. A share lock, not a write: tokens issued from one grant
/// at once do not queue behind each other, and the hold leaves no dead row version behind.
const HOLD_GRANT: &str =
    "SELECT 1 FROM grants WHERE grant_id = $1 AND revoked_at IS NULL FOR SHARE";
const RECORD_ISSUED: &str =
    "INSERT INTO issued_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)";

/// A grant's code and an issued token's records are several statements, so alone they run in a
/// transaction of their own; in a batch they share the batch's.
impl Backend for Postgres {
    const BEGIN: &'static str = "BEGIN";

    /// # Security
    /// L3 is `HOLD_GRANT`, the first statement of `Issued`: it matches no row once the grant is
    /// revoked, and holds the grant's row lock until the commit, so a revocation waits for the token
    /// to be recorded and then deny-lists it. SQLite has no such statement; there the trigger
    /// `issued_refresh_insert` (migrations/sqlite/0019_flow_writes.sql) guards it instead.
    async fn apply(conn: &mut PgConnection, write: &Write) -> Result<u64, StoreError> {
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
                let held = sqlx::query(HOLD_GRANT)
                    .bind(grant_id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                if held.is_none() {
                    return Ok(0);
                }
                sqlx::query(RECORD_ISSUED)
                    .bind(jti.as_str())
                    .bind(grant_id.as_str())
                    .bind(expires_at.0)
                    .execute(&mut *conn)
                    .await?;
                if let Some(token) = refresh {
                    bind_refresh!(sqlx::query(INSERT_REFRESH), token)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(1)
            }
            Write::GrantCode(pair) => {
                let (grant, code) = &**pair;
                bind_grant!(sqlx::query(INSERT_GRANT), grant, claims_json(grant))
                    .execute(&mut *conn)
                    .await?;
                bind_code!(sqlx::query(INSERT_CODE), code)
                    .bind(code.grant_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                Ok(1)
            }
        }
    }

    fn single_statement(write: &Write) -> bool {
        matches!(write, Write::Statement(..))
    }
}

crate::roles::impl_roles!(PgStore, sqlx::Postgres, crate::throttle::POSTGRES_BEGIN);
