//! `TokenStore` and `ResourceStore` on both backends: opaque access tokens, the access tokens issued from
//! grants, the deny-list of revoked token ids, and configured resources.

pub(crate) const INSERT_OPAQUE: &str = "INSERT INTO opaque_tokens \
    (token_hash, jti, claims, expires_at, client_id, sub) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const SELECT_OPAQUE: &str = "SELECT claims FROM opaque_tokens WHERE token_hash = $1";
pub(crate) const REVOKE_JTI: &str =
    "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub(crate) const IS_REVOKED: &str = "SELECT 1 AS one FROM revoked_tokens WHERE jti = $1";
pub(crate) const PRUNE: [&str; 6] = [
    "DELETE FROM used_assertions WHERE expires_at < $1",
    "DELETE FROM revoked_tokens WHERE expires_at < $1",
    "DELETE FROM opaque_tokens WHERE expires_at < $1",
    "DELETE FROM issued_tokens WHERE expires_at < $1",
    "DELETE FROM authorization_codes WHERE expires_at < $1",
    "DELETE FROM sessions WHERE expires_at < $1",
];
/// What grows with every sign-in and rotation (L8), deleted `PRUNE_BATCH` rows per statement so one
/// sweep over a large backlog never holds the write lock for long: expired refresh tokens, expired
/// grants (their codes, refresh tokens and issued-token records go with them by cascade), and expired
/// initial access tokens.
pub(crate) const PRUNE_BATCHED: [&str; 3] = [
    "DELETE FROM refresh_tokens WHERE token_hash IN \
    (SELECT token_hash FROM refresh_tokens WHERE expires_at < $1 LIMIT 1000)",
    "DELETE FROM grants WHERE grant_id IN \
    (SELECT grant_id FROM grants WHERE expires_at < $1 LIMIT 1000)",
    "DELETE FROM initial_access_tokens WHERE token_hash IN \
    (SELECT token_hash FROM initial_access_tokens WHERE expires_at < $1 LIMIT 1000)",
];
/// The `LIMIT` above, and how many batches of each one sweep runs at most.
pub(crate) const PRUNE_BATCH: u64 = 1000;
pub(crate) const PRUNE_MAX_BATCHES: usize = 50;

pub(crate) const INSERT_RESOURCE: &str = "INSERT INTO resources \
    (uri, scopes, token_format, access_token_ttl, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SELECT_RESOURCE: &str =
    "SELECT uri, scopes, token_format, access_token_ttl FROM resources WHERE uri = $1";
pub(crate) const SELECT_RESOURCES: &str =
    "SELECT uri, scopes, token_format, access_token_ttl FROM resources ORDER BY uri";
pub(crate) const DELETE_RESOURCE: &str = "DELETE FROM resources WHERE uri = $1";

/// Implements `TokenStore` and `ResourceStore` for a backend struct (see `exec.rs`); the writes on
/// the request paths are group-committed (`commit.rs`).
macro_rules! impl_token_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use latchkey_core::client::TokenFormat;
        use latchkey_core::grant::GrantId;
        use latchkey_core::resource::Resource;
        use latchkey_core::secret::SecretHash;
        use latchkey_core::token::{AccessTokenClaims, RefreshTokenRecord};
        use latchkey_core::types::{ResourceUri, Scope, Timestamp};

        use crate::commit::{Arg, Write};
        use crate::error::Result;
        use crate::error::conflict_if_unique;
        use crate::grants::SELECT_REFRESH;
        use crate::tokens as q;
        use crate::{RefreshTokenState, ResourceStore, StoreError, TokenStore};

        impl TokenStore for $store {
            async fn record_issued(
                &self,
                jti: &str,
                grant_id: &GrantId,
                expires_at: Timestamp,
                refresh: Option<&RefreshTokenRecord>,
            ) -> Result<bool> {
                let issued = Write::Issued {
                    jti: jti.to_owned(),
                    grant_id: grant_id.clone(),
                    expires_at,
                    refresh: refresh.cloned(),
                };
                Ok(self.commit.write(issued).await? == 1)
            }

            async fn insert_opaque(
                &self,
                hash: &SecretHash,
                claims: &AccessTokenClaims,
            ) -> Result<()> {
                let json = serde_json::to_string(claims)
                    .map_err(|e| StoreError::Corrupt(format!("claims: {e}")))?;
                let args = vec![
                    Arg::Bytes(hash.as_bytes().to_vec()),
                    Arg::Text(claims.jti.clone()),
                    Arg::Text(json),
                    Arg::Int(claims.exp.0),
                    Arg::Text(claims.client_id.as_str().to_owned()),
                    Arg::Text(claims.sub.clone()),
                ];
                self.commit
                    .write(Write::Statement(q::INSERT_OPAQUE, args))
                    .await?;
                Ok(())
            }

            async fn find_opaque(&self, hash: &SecretHash) -> Result<Option<AccessTokenClaims>> {
                let query = sqlx::query(q::SELECT_OPAQUE).bind(hash.as_bytes());
                self.fetch_optional(query, |row| {
                    let json: String = row.try_get("claims")?;
                    serde_json::from_str(&json)
                        .map_err(|e| StoreError::Corrupt(format!("opaque token claims: {e}")))
                })
                .await
            }

            async fn revoke_jti(&self, jti: &str, expires_at: Timestamp) -> Result<()> {
                let args = vec![Arg::Text(jti.to_owned()), Arg::Int(expires_at.0)];
                self.commit
                    .write(Write::Statement(q::REVOKE_JTI, args))
                    .await?;
                Ok(())
            }

            async fn is_revoked(&self, jti: &str) -> Result<bool> {
                let query = sqlx::query(q::IS_REVOKED).bind(jti);
                Ok(self.fetch_optional(query, |_| Ok(())).await?.is_some())
            }

            async fn find_refresh_token(
                &self,
                hash: &SecretHash,
            ) -> Result<Option<RefreshTokenState>> {
                self.presented(SELECT_REFRESH, hash, |row| {
                    super::grants::refresh_from_row(row, hash)
                })
                .await
            }

            async fn prune(&self, before: Timestamp) -> Result<u64> {
                let mut removed = 0;
                for statement in q::PRUNE {
                    removed += self.execute(sqlx::query(statement).bind(before.0)).await?;
                }
                for statement in q::PRUNE_BATCHED {
                    let query = || sqlx::query(statement).bind(before.0);
                    removed += self
                        .delete_batched(q::PRUNE_BATCH, q::PRUNE_MAX_BATCHES, query)
                        .await?;
                }
                Ok(removed)
            }
        }

        fn resource_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Resource> {
            let uri: String = row.try_get("uri")?;
            let corrupt = |what: &str| StoreError::Corrupt(format!("resource {uri}: {what}"));
            let scopes: String = row.try_get("scopes")?;
            let format: Option<String> = row.try_get("token_format")?;
            Ok(Resource {
                uri: ResourceUri::parse(&uri).map_err(|_| corrupt("uri"))?,
                scopes: Scope::parse(&scopes).map_err(|_| corrupt("scopes"))?,
                format: format
                    .map(|f| f.parse::<TokenFormat>())
                    .transpose()
                    .map_err(|_| corrupt("token_format"))?,
                access_token_ttl: row
                    .try_get::<Option<i64>, _>("access_token_ttl")?
                    .map(|t| u64::try_from(t).unwrap_or(0)),
            })
        }

        impl ResourceStore for $store {
            async fn insert_resource(&self, resource: &Resource, now: Timestamp) -> Result<()> {
                let result = sqlx::query(q::INSERT_RESOURCE)
                    .bind(resource.uri.as_str())
                    .bind(resource.scopes.to_string())
                    .bind(resource.format.map(|f| f.as_str()))
                    .bind(
                        resource
                            .access_token_ttl
                            .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
                    )
                    .bind(now.0)
                    .execute(&self.write)
                    .await;
                conflict_if_unique(result, || {
                    format!("resource `{}` exists already", resource.uri.as_str())
                })
            }

            async fn find_resource(&self, uri: &ResourceUri) -> Result<Option<Resource>> {
                let query = sqlx::query(q::SELECT_RESOURCE).bind(uri.as_str());
                self.fetch_optional(query, resource_from_row).await
            }

            async fn list_resources(&self) -> Result<Vec<Resource>> {
                self.fetch_all(sqlx::query(q::SELECT_RESOURCES), resource_from_row)
                    .await
            }

            async fn delete_resource(&self, uri: &ResourceUri) -> Result<bool> {
                Ok(self
                    .execute(sqlx::query(q::DELETE_RESOURCE).bind(uri.as_str()))
                    .await?
                    > 0)
            }
        }
    };
}

pub(crate) use impl_token_traits;
