//! `ClientStore` and `RegistrationStore` on both backends: registered clients, what dynamic
//! registration (RFC 7591/7592) and Client ID Metadata Documents keep beside them, and used client
//! assertions.
//!
//! SQLite and PostgreSQL both accept `$N` placeholders, `ON CONFLICT DO NOTHING` and `RETURNING`, so
//! the SQL is written once; only the schema (migrations) differs between them.

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients \
    (client_id, name, auth_method, secret_hash, grant_types, scope, redirect_uris, created_at, \
    introspect_any, access_token_format, allowed_resources, registration_token_hash, activated_at, jwks, \
    openid, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
/// A document client's row, written whole (auth method, secret, keys and metadata together) by one
/// statement; never over a client that is not a document client (`document = 0`). `$1`–`$7` are
/// `UPDATE_CLIENT_METADATA`'s.
pub(crate) const UPSERT_DOCUMENT_CLIENT: &str = "INSERT INTO clients \
    (client_id, name, auth_method, secret_hash, grant_types, scope, redirect_uris, created_at, \
    introspect_any, access_token_format, allowed_resources, registration_token_hash, activated_at, jwks, \
    openid, document) VALUES ($1, $2, $8, NULL, $3, $4, $5, $9, 0, NULL, '[]', NULL, NULL, $6, $7, 1) \
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

/// Implements `ClientStore` and `RegistrationStore` for a backend struct (see `exec.rs`).
macro_rules! impl_client_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use latchkey_core::client::Client;
        use latchkey_core::secret::SecretHash;
        use latchkey_core::types::{AuthMethod, ClientId, Timestamp};

        use crate::clients as q;
        use crate::error::Result;
        use crate::error::conflict_if_unique;
        use crate::row::ClientRow;
        use crate::{ClientStore, RegistrationStore};

        fn client_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Client> {
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

        /// A statement with a client's id and registered metadata bound as `$1`–`$7`: what RFC 7592
        /// lets a client change, and what a metadata document replaces.
        fn metadata<'q>(
            statement: &'static str,
            row: &'q ClientRow,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            sqlx::query(statement)
                .bind(&row.client_id)
                .bind(&row.name)
                .bind(&row.grant_types)
                .bind(&row.scope)
                .bind(&row.redirect_uris)
                .bind(&row.jwks)
                .bind(&row.openid)
        }

        impl ClientStore for $store {
            async fn insert_client(&self, client: &Client) -> Result<()> {
                let row = ClientRow::from(client);
                let result = sqlx::query(q::INSERT_CLIENT)
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
                conflict_if_unique(result, || {
                    format!("a client with id `{}` exists already", client.client_id)
                })
            }

            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>> {
                let query = sqlx::query(q::SELECT_CLIENT).bind(id.as_str());
                self.fetch_optional(query, client_from_row).await
            }

            async fn list_clients(&self) -> Result<Vec<Client>> {
                self.fetch_all(sqlx::query(q::SELECT_CLIENTS), client_from_row)
                    .await
            }

            async fn delete_client(&self, id: &ClientId) -> Result<bool> {
                let mut tx = self.write.begin().await?;
                Self::execute_each(&mut tx, &crate::deny_list::DENY_CLIENT_TOKENS, id.as_str())
                    .await?;
                Self::delete_and_commit(tx, q::DELETE_CLIENT, id.as_str()).await
            }

            async fn set_client_secret(
                &self,
                id: &ClientId,
                method: AuthMethod,
                hash: &SecretHash,
            ) -> Result<bool> {
                let query = sqlx::query(q::SET_CLIENT_SECRET)
                    .bind(id.as_str())
                    .bind(method.as_str())
                    .bind(hash.as_bytes());
                Ok(self.execute(query).await? > 0)
            }
        }

        impl RegistrationStore for $store {
            async fn upsert_document_client(&self, client: &Client) -> Result<bool> {
                let row = ClientRow::from(client);
                let query = metadata(q::UPSERT_DOCUMENT_CLIENT, &row)
                    .bind(&row.auth_method)
                    .bind(row.created_at);
                Ok(self.execute(query).await? > 0)
            }

            async fn prune_document_clients(&self, before: Timestamp) -> Result<u64> {
                self.execute(sqlx::query(q::PRUNE_DOCUMENT_CLIENTS).bind(before.0))
                    .await
            }

            async fn update_client_metadata(&self, client: &Client) -> Result<bool> {
                let row = ClientRow::from(client);
                Ok(self
                    .execute(metadata(q::UPDATE_CLIENT_METADATA, &row))
                    .await?
                    > 0)
            }

            async fn record_assertion(
                &self,
                client_id: &ClientId,
                jti: &str,
                expires_at: Timestamp,
            ) -> Result<bool> {
                let query = sqlx::query(q::RECORD_ASSERTION)
                    .bind(client_id.as_str())
                    .bind(jti)
                    .bind(expires_at.0);
                Ok(self.execute(query).await? > 0)
            }

            async fn activate_client(&self, id: &ClientId, now: Timestamp) -> Result<()> {
                let query = sqlx::query(q::ACTIVATE_CLIENT)
                    .bind(id.as_str())
                    .bind(now.0);
                self.execute(query).await?;
                Ok(())
            }

            async fn prune_unused_clients(&self, before: Timestamp) -> Result<u64> {
                self.execute(sqlx::query(q::PRUNE_UNUSED_CLIENTS).bind(before.0))
                    .await
            }

            async fn insert_initial_access_token(
                &self,
                hash: &SecretHash,
                now: Timestamp,
                expires_at: Timestamp,
            ) -> Result<()> {
                let query = sqlx::query(q::INSERT_INITIAL_TOKEN)
                    .bind(hash.as_bytes())
                    .bind(now.0)
                    .bind(expires_at.0);
                self.execute(query).await?;
                Ok(())
            }

            async fn initial_access_token_valid(
                &self,
                hash: &SecretHash,
                now: Timestamp,
            ) -> Result<bool> {
                let query = sqlx::query(q::SELECT_INITIAL_TOKEN)
                    .bind(hash.as_bytes())
                    .bind(now.0);
                let found = self.fetch_optional(query, |_| Ok(())).await?;
                Ok(found.is_some())
            }
        }
    };
}

pub(crate) use impl_client_traits;
