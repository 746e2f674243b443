//! The statements both backends run, and the role-trait implementations built on them.
//!
//! SQLite and PostgreSQL both accept `$N` placeholders, `ON CONFLICT DO NOTHING` and `RETURNING`, so
//! the SQL is written once; only the schema (migrations) differs between them.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Embeds a backend's migrations, `(version, description, sql)`, in the binary.
pub(crate) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) const SQLITE_HAS_MIGRATIONS: &str =
    "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
pub(crate) const POSTGRES_HAS_MIGRATIONS: &str = "SELECT 1 AS one FROM pg_catalog.pg_tables \
    WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()";
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients \
    (client_id, name, auth_method, secret_hash, grant_types, scope, redirect_uris, created_at, \
    introspect_any, access_token_format, allowed_resources, registration_token_hash, activated_at, jwks, \
    openid, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
/// A document client's row, written whole (auth method, secret, keys and metadata together) by one
/// statement; never over a client that is not a document client (`document = 0`).
pub(crate) const UPSERT_DOCUMENT_CLIENT: &str = "INSERT INTO clients \
    (client_id, name, auth_method, secret_hash, grant_types, scope, redirect_uris, created_at, \
    introspect_any, access_token_format, allowed_resources, registration_token_hash, activated_at, jwks, \
    openid, document) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, 0, NULL, '[]', NULL, NULL, $8, $9, 1) \
    ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, auth_method = excluded.auth_method, \
    secret_hash = NULL, grant_types = excluded.grant_types, scope = excluded.scope, \
    redirect_uris = excluded.redirect_uris, created_at = excluded.created_at, jwks = excluded.jwks, \
    openid = excluded.openid \
    WHERE clients.document = 1";
/// Document clients fetched before `$1` that no grant or consent refers to.
pub(crate) const PRUNE_DOCUMENT_CLIENTS: &str = "DELETE FROM clients WHERE document = 1 \
    AND created_at < $1 \
    AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = clients.client_id) \
    AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.client_id = clients.client_id)";
pub(crate) const SELECT_CLIENT: &str = "SELECT client_id, name, auth_method, secret_hash, grant_types, scope, \
    redirect_uris, created_at, introspect_any, access_token_format, allowed_resources, \
    registration_token_hash, activated_at, jwks, openid, document FROM clients WHERE client_id = $1";
pub(crate) const SELECT_CLIENTS: &str = "SELECT client_id, name, auth_method, secret_hash, grant_types, scope, \
    redirect_uris, created_at, introspect_any, access_token_format, allowed_resources, \
    registration_token_hash, activated_at, jwks, openid, document FROM clients ORDER BY created_at, client_id";
pub(crate) const UPDATE_CLIENT_METADATA: &str = "UPDATE clients SET name = $2, grant_types = $3, \
    scope = $4, redirect_uris = $5, jwks = $6, openid = $7 WHERE client_id = $1";
pub(crate) const RECORD_ASSERTION: &str = "INSERT INTO used_assertions (client_id, jti, expires_at) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub(crate) const ACTIVATE_CLIENT: &str =
    "UPDATE clients SET activated_at = $2 WHERE client_id = $1 AND activated_at IS NULL";
pub(crate) const PRUNE_UNUSED_CLIENTS: &str = "DELETE FROM clients WHERE registration_token_hash IS NOT NULL \
    AND activated_at IS NULL AND created_at < $1";
pub(crate) const INSERT_INITIAL_TOKEN: &str =
    "INSERT INTO initial_access_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)";
pub(crate) const SELECT_INITIAL_TOKEN: &str =
    "SELECT 1 AS one FROM initial_access_tokens WHERE token_hash = $1 AND expires_at > $2";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";
pub(crate) const SET_CLIENT_SECRET: &str =
    "UPDATE clients SET auth_method = $2, secret_hash = $3 WHERE client_id = $1";

pub(crate) const INSERT_FIRST_KEY: &str = "INSERT INTO signing_keys (kid, alg, sealed_private, created_at, active) \
    VALUES ($1, $2, $3, $4, 1) ON CONFLICT DO NOTHING";
pub(crate) const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, sealed_private, created_at, active) \
    VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING";
pub(crate) const RETIRE_ACTIVE_KEY: &str =
    "UPDATE signing_keys SET active = NULL, retired_at = $1 WHERE active = 1";
pub(crate) const RETIRE_ALG_KEY: &str = "UPDATE signing_keys SET active = NULL, retired_at = $1 \
    WHERE alg = $2 AND retired_at IS NULL";
// The active key first, then newest first. `active IS NULL` rather than `active`: the backends sort NULL
// at opposite ends, and a rotation within the same second ties on created_at.
pub(crate) const SELECT_KEYS: &str = "SELECT kid, alg, sealed_private, created_at, retired_at, active \
    FROM signing_keys ORDER BY (active IS NULL), created_at DESC, kid";
pub(crate) const PRUNE_KEYS: &str =
    "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1";
pub(crate) const DELETE_RETIRED_KEY: &str =
    "DELETE FROM signing_keys WHERE kid = $1 AND retired_at IS NOT NULL";

/// Implements the role traits for a backend struct with a `pool` field of its sqlx pool type.
macro_rules! impl_role_traits {
    ($store:ty, $row:ty) => {
        use sqlx::Row as _;

        use latchkey_core::client::Client;
        use latchkey_core::secret::SecretHash;
        use latchkey_core::types::{AuthMethod, ClientId, Timestamp};

        use crate::row::{ClientRow, KeyRow};
        use crate::sql;
        use crate::{ClientStore, HealthStore, KeyStore, StoredKey};

        fn client_from_row(row: &$row) -> Result<Client, StoreError> {
            Client::try_from(ClientRow {
                client_id: row.try_get("client_id")?,
                name: row.try_get("name")?,
                auth_method: row.try_get("auth_method")?,
                secret_hash: row.try_get("secret_hash")?,
                grant_types: row.try_get("grant_types")?,
                scope: row.try_get("scope")?,
                redirect_uris: row.try_get("redirect_uris")?,
                created_at: row.try_get("created_at")?,
                introspect_any: row.try_get("introspect_any")?,
                access_token_format: row.try_get("access_token_format")?,
                allowed_resources: row.try_get("allowed_resources")?,
                registration_token_hash: row.try_get("registration_token_hash")?,
                activated_at: row.try_get("activated_at")?,
                jwks: row.try_get("jwks")?,
                openid: row.try_get("openid")?,
                document: row.try_get("document")?,
            })
        }

        fn key_from_row(row: &$row) -> Result<StoredKey, StoreError> {
            StoredKey::try_from(KeyRow {
                kid: row.try_get("kid")?,
                alg: row.try_get("alg")?,
                sealed_private: row.try_get("sealed_private")?,
                created_at: row.try_get("created_at")?,
                retired_at: row.try_get("retired_at")?,
                active: row.try_get::<Option<i16>, _>("active")?.is_some(),
            })
        }

        impl ClientStore for $store {
            async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
                let row = ClientRow::from(client);
                let result = sqlx::query(sql::INSERT_CLIENT)
                    .bind(row.client_id)
                    .bind(row.name)
                    .bind(row.auth_method)
                    .bind(row.secret_hash)
                    .bind(row.grant_types)
                    .bind(row.scope)
                    .bind(row.redirect_uris)
                    .bind(row.created_at)
                    .bind(row.introspect_any)
                    .bind(row.access_token_format)
                    .bind(row.allowed_resources)
                    .bind(row.registration_token_hash)
                    .bind(row.activated_at)
                    .bind(row.jwks)
                    .bind(row.openid)
                    .bind(row.document)
                    .execute(&self.write)
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(StoreError::Conflict(format!(
                            "a client with id `{}` exists already",
                            client.client_id
                        )))
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                let row = sqlx::query(sql::SELECT_CLIENT)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(client_from_row).transpose()
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                let rows = sqlx::query(sql::SELECT_CLIENTS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(client_from_row).collect()
            }

            async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
                let mut tx = self.write.begin().await?;
                for statement in crate::tokens::DENY_CLIENT_TOKENS {
                    sqlx::query(statement)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                let done = sqlx::query(sql::DELETE_CLIENT)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_client_secret(
                &self,
                id: &ClientId,
                method: AuthMethod,
                hash: &SecretHash,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(sql::SET_CLIENT_SECRET)
                    .bind(id.as_str())
                    .bind(method.as_str())
                    .bind(hash.as_bytes())
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }

        impl crate::RegistrationStore for $store {
            async fn upsert_document_client(&self, client: &Client) -> Result<bool, StoreError> {
                let row = ClientRow::from(client);
                let done = sqlx::query(sql::UPSERT_DOCUMENT_CLIENT)
                    .bind(row.client_id)
                    .bind(row.name)
                    .bind(row.auth_method)
                    .bind(row.grant_types)
                    .bind(row.scope)
                    .bind(row.redirect_uris)
                    .bind(row.created_at)
                    .bind(row.jwks)
                    .bind(row.openid)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn prune_document_clients(&self, before: Timestamp) -> Result<u64, StoreError> {
                let done = sqlx::query(sql::PRUNE_DOCUMENT_CLIENTS)
                    .bind(before.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn update_client_metadata(&self, client: &Client) -> Result<bool, StoreError> {
                let row = ClientRow::from(client);
                let done = sqlx::query(sql::UPDATE_CLIENT_METADATA)
                    .bind(row.client_id)
                    .bind(row.name)
                    .bind(row.grant_types)
                    .bind(row.scope)
                    .bind(row.redirect_uris)
                    .bind(row.jwks)
                    .bind(row.openid)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_assertion(
                &self,
                client_id: &ClientId,
                jti: &str,
                expires_at: Timestamp,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(sql::RECORD_ASSERTION)
                    .bind(client_id.as_str())
                    .bind(jti)
                    .bind(expires_at.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn activate_client(
                &self,
                id: &ClientId,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                sqlx::query(sql::ACTIVATE_CLIENT)
                    .bind(id.as_str())
                    .bind(now.0)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn prune_unused_clients(&self, before: Timestamp) -> Result<u64, StoreError> {
                let done = sqlx::query(sql::PRUNE_UNUSED_CLIENTS)
                    .bind(before.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn insert_initial_access_token(
                &self,
                hash: &SecretHash,
                now: Timestamp,
                expires_at: Timestamp,
            ) -> Result<(), StoreError> {
                sqlx::query(sql::INSERT_INITIAL_TOKEN)
                    .bind(hash.as_bytes())
                    .bind(now.0)
                    .bind(expires_at.0)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn initial_access_token_valid(
                &self,
                hash: &SecretHash,
                now: Timestamp,
            ) -> Result<bool, StoreError> {
                let row = sqlx::query(sql::SELECT_INITIAL_TOKEN)
                    .bind(hash.as_bytes())
                    .bind(now.0)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }
        }

        impl KeyStore for $store {
            async fn insert_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
                let done = sqlx::query(sql::INSERT_FIRST_KEY)
                    .bind(&key.kid)
                    .bind(key.alg.as_str())
                    .bind(&key.sealed_private)
                    .bind(key.created_at.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
                let done = sqlx::query(sql::INSERT_KEY)
                    .bind(&key.kid)
                    .bind(key.alg.as_str())
                    .bind(&key.sealed_private)
                    .bind(key.created_at.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn rotate_keys(
                &self,
                keys: &[StoredKey],
                now: Timestamp,
            ) -> Result<(), StoreError> {
                let mut tx = self.write.begin().await?;
                if keys.iter().any(|k| k.active) {
                    sqlx::query(sql::RETIRE_ACTIVE_KEY)
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                }
                for key in keys {
                    sqlx::query(sql::RETIRE_ALG_KEY)
                        .bind(now.0)
                        .bind(key.alg.as_str())
                        .execute(&mut *tx)
                        .await?;
                    let statement = if key.active {
                        sql::INSERT_FIRST_KEY
                    } else {
                        sql::INSERT_KEY
                    };
                    let inserted = sqlx::query(statement)
                        .bind(&key.kid)
                        .bind(key.alg.as_str())
                        .bind(&key.sealed_private)
                        .bind(key.created_at.0)
                        .execute(&mut *tx)
                        .await?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::Conflict(
                            "another rotation committed first; try again".into(),
                        ));
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
                let rows = sqlx::query(sql::SELECT_KEYS).fetch_all(&self.pool).await?;
                rows.iter().map(key_from_row).collect()
            }

            async fn prune_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
                let done = sqlx::query(sql::PRUNE_KEYS)
                    .bind(before.0)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn delete_retired_key(&self, kid: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(sql::DELETE_RETIRED_KEY)
                    .bind(kid)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }

        impl HealthStore for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn versions(&self) -> Result<crate::Versions, StoreError> {
                let rows = sqlx::query("SELECT name, version FROM change_counters")
                    .fetch_all(&self.pool)
                    .await?;
                let mut versions = crate::Versions::default();
                for row in rows {
                    let name: String = row.try_get("name")?;
                    let version: i64 = row.try_get("version")?;
                    match name.as_str() {
                        "registry" => versions.registry = version,
                        "revocations" => versions.revocations = version,
                        _ => {}
                    }
                }
                Ok(versions)
            }
        }
    };
}

pub(crate) use impl_role_traits;
