//! The PostgreSQL backend, for several instances serving one issuer. The writes of the
//! authorization code flow are its own (`FlowWrites`, beside `sqlite.rs`'s); the rest is shared.
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use latchkey_core::grant::Grant;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;

use crate::grants::{
    FlowWrites, INSERT_REFRESH, Issued, bind_code, bind_grant, bind_refresh, claims_json,
};
use crate::{ConnectOptions, StoreError};

/// Storage in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL handles concurrent writers itself.
    write: PgPool,
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
            write: pool.clone(),
            pool,
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
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

/// Each write is a transaction: its statements are round trips on one connection already, so the
/// views `sqlite.rs` writes through would save nothing here.
impl FlowWrites for PgStore {
    /// # Security
    /// L3 is `HOLD_GRANT`, the transaction's first statement: it matches no row once the grant is
    /// revoked, and holds the grant's row lock until the commit, so a revocation waits for the token
    /// to be recorded and then deny-lists it. SQLite has no such statement; there the trigger
    /// `issued_refresh_insert` (migrations/sqlite/0019_flow_writes.sql) guards it instead.
    async fn record_issued_while_live(&self, issued: Issued<'_>) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let held = sqlx::query(HOLD_GRANT)
            .bind(issued.grant_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if held.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(RECORD_ISSUED)
            .bind(issued.jti)
            .bind(issued.grant_id.as_str())
            .bind(issued.expires_at.0)
            .execute(&mut *tx)
            .await?;
        if let Some(token) = issued.refresh {
            bind_refresh!(sqlx::query(INSERT_REFRESH), token)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_grant_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        bind_grant!(sqlx::query(INSERT_GRANT), grant, claims_json(grant))
            .execute(&mut *tx)
            .await?;
        bind_code!(sqlx::query(INSERT_CODE), code)
            .bind(code.grant_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

crate::roles::impl_roles!(PgStore, sqlx::Postgres, crate::throttle::POSTGRES_BEGIN);
