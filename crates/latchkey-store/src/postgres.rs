//! The PostgreSQL backend, for several instances serving one issuer.
use sqlx::migrate::Migrator;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{ConnectOptions, StoreError};

/// Storage in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL handles concurrent writers itself.
    write: PgPool,
}

impl PgStore {
    /// A transaction's statements are round trips on one connection already: no views needed.
    pub(crate) const ONE_TRIP_FLOW_WRITES: bool = false;

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

    pub(crate) fn migrator() -> Migrator {
        migrator()
    }
}

fn migrator() -> Migrator {
    crate::sql::migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "authorization_code",
            include_str!("../migrations/postgres/0002_authorization_code.sql"),
        ),
        (
            3,
            "token_services",
            include_str!("../migrations/postgres/0003_token_services.sql"),
        ),
        (
            4,
            "change_counters",
            include_str!("../migrations/postgres/0004_change_counters.sql"),
        ),
        (
            5,
            "revocation_counter",
            include_str!("../migrations/postgres/0005_revocation_counter.sql"),
        ),
        (
            6,
            "registration",
            include_str!("../migrations/postgres/0006_registration.sql"),
        ),
        (
            7,
            "document_clients",
            include_str!("../migrations/postgres/0007_document_clients.sql"),
        ),
        (
            8,
            "opaque_token_owners",
            include_str!("../migrations/postgres/0008_opaque_token_owners.sql"),
        ),
        (
            9,
            "prune_indexes",
            include_str!("../migrations/postgres/0009_prune_indexes.sql"),
        ),
        (
            10,
            "shared_throttle",
            include_str!("../migrations/postgres/0010_shared_throttle.sql"),
        ),
        (
            15,
            "user_attributes",
            include_str!("../migrations/postgres/0015_user_attributes.sql"),
        ),
        (
            16,
            "openid",
            include_str!("../migrations/postgres/0016_openid.sql"),
        ),
        (
            17,
            "signing_keys_per_alg",
            include_str!("../migrations/postgres/0017_signing_keys_per_alg.sql"),
        ),
        (
            18,
            "audit",
            include_str!("../migrations/postgres/0018_audit.sql"),
        ),
        (
            19,
            "flow_writes",
            include_str!("../migrations/postgres/0019_flow_writes.sql"),
        ),
    ])
}

crate::sql::impl_role_traits!(PgStore, sqlx::postgres::PgRow);
crate::users::impl_user_traits!(super::PgStore, sqlx::postgres::PgRow);
crate::grants::impl_grant_traits!(super::PgStore, sqlx::postgres::PgRow);
crate::tokens::impl_token_traits!(super::PgStore, sqlx::postgres::PgRow);
crate::throttle::impl_throttle_traits!(
    super::PgStore,
    sqlx::postgres::PgRow,
    crate::throttle::POSTGRES_BEGIN
);
crate::audit::impl_audit_traits!(super::PgStore, sqlx::postgres::PgRow);
