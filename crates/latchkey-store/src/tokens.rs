//! `TokenStore` and `ResourceStore` on both backends: opaque access tokens, the access tokens issued from
//! grants, the deny-list of revoked token ids, and configured resources.

/// SQLite (migration 0019): an access token's record and its refresh token as one statement, refused
/// by the view's trigger with `GRANT_NOT_LIVE` when the grant is revoked (L3).
pub(crate) const RECORD_ISSUED_REFRESH: &str = "INSERT INTO issued_refresh \
    (jti, grant_id, expires_at, token_hash, refresh_grant_id, refresh_client_id, refresh_created_at, \
    refresh_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The message `RECORD_ISSUED_REFRESH`'s trigger aborts with.
pub(crate) const GRANT_NOT_LIVE: &str = "latchkey: grant not live";
pub(crate) const RECORD_ISSUED: &str =
    "INSERT INTO issued_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)";
pub(crate) const INSERT_OPAQUE: &str = "INSERT INTO opaque_tokens \
    (token_hash, jti, claims, expires_at, client_id, sub) VALUES ($1, $2, $3, $4, $5, $6)";
/// L4: before a user's or a client's rows go, every access token still outstanding for them is put on
/// the deny-list: those issued from their grants (JWT or opaque, exchanged ones included), and opaque
/// tokens by owner. (`$1` is the user id or client id.)
pub(crate) const DENY_USER_TOKENS: [&str; 2] = [
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT i.jti, i.expires_at FROM issued_tokens i \
    JOIN grants g ON g.grant_id = i.grant_id WHERE g.user_id = $1 ON CONFLICT DO NOTHING",
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT jti, expires_at FROM opaque_tokens \
    WHERE sub = $1 ON CONFLICT DO NOTHING",
];
pub(crate) const DENY_CLIENT_TOKENS: [&str; 2] = [
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT i.jti, i.expires_at FROM issued_tokens i \
    JOIN grants g ON g.grant_id = i.grant_id WHERE g.client_id = $1 ON CONFLICT DO NOTHING",
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT jti, expires_at FROM opaque_tokens \
    WHERE client_id = $1 ON CONFLICT DO NOTHING",
];
/// Revokes every grant of a user (a new password ends what the old one allowed).
pub(crate) const REVOKE_USER_GRANTS: &str =
    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
pub(crate) const SELECT_OPAQUE: &str = "SELECT claims FROM opaque_tokens WHERE token_hash = $1";
pub(crate) const REVOKE_JTI: &str =
    "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
pub(crate) const IS_REVOKED: &str = "SELECT 1 AS one FROM revoked_tokens WHERE jti = $1";
/// Revoking a grant puts every access token issued from it on the deny-list, in the same transaction.
pub(crate) const REVOKE_GRANT_TOKENS: &str = "INSERT INTO revoked_tokens (jti, expires_at) \
    SELECT jti, expires_at FROM issued_tokens WHERE grant_id = $1 ON CONFLICT DO NOTHING";
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

/// Implements `TokenStore` and `ResourceStore` for a backend struct with a `pool` field.
macro_rules! impl_token_traits {
    ($store:ty, $row:ty) => {
        mod token_traits {
            use sqlx::Row as _;

            use latchkey_core::client::TokenFormat;
            use latchkey_core::grant::GrantId;
            use latchkey_core::resource::Resource;
            use latchkey_core::secret::SecretHash;
            use latchkey_core::token::{AccessTokenClaims, RefreshTokenRecord};
            use latchkey_core::types::{ResourceUri, Scope, Timestamp};

            use crate::tokens as q;
            use crate::{RefreshTokenState, ResourceStore, StoreError, TokenStore};

            fn resource_from_row(row: &$row) -> Result<Resource, StoreError> {
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

            impl TokenStore for $store {
                async fn record_issued(
                    &self,
                    jti: &str,
                    grant_id: &GrantId,
                    expires_at: Timestamp,
                    refresh: Option<&RefreshTokenRecord>,
                ) -> Result<bool, StoreError> {
                    if <$store>::ONE_TRIP_FLOW_WRITES {
                        let recorded = sqlx::query(q::RECORD_ISSUED_REFRESH)
                            .bind(jti)
                            .bind(grant_id.as_str())
                            .bind(expires_at.0)
                            .bind(refresh.map(|t| t.hash.as_bytes()))
                            .bind(refresh.map(|t| t.grant_id.as_str()))
                            .bind(refresh.map(|t| t.client_id.as_str()))
                            .bind(refresh.map(|t| t.created_at.0))
                            .bind(refresh.map(|t| t.expires_at.0))
                            .execute(&self.write)
                            .await;
                        return match recorded {
                            Ok(_) => Ok(true),
                            Err(sqlx::Error::Database(e)) if e.message() == q::GRANT_NOT_LIVE => {
                                Ok(false)
                            }
                            Err(e) => Err(e.into()),
                        };
                    }
                    let mut tx = self.write.begin().await?;
                    let held = sqlx::query(crate::grants::HOLD_GRANT)
                        .bind(grant_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    if held.rows_affected() == 0 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    sqlx::query(q::RECORD_ISSUED)
                        .bind(jti)
                        .bind(grant_id.as_str())
                        .bind(expires_at.0)
                        .execute(&mut *tx)
                        .await?;
                    if let Some(token) = refresh {
                        sqlx::query(crate::grants::INSERT_REFRESH)
                            .bind(token.hash.as_bytes())
                            .bind(token.grant_id.as_str())
                            .bind(token.client_id.as_str())
                            .bind(token.created_at.0)
                            .bind(token.expires_at.0)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn insert_opaque(
                    &self,
                    hash: &SecretHash,
                    claims: &AccessTokenClaims,
                ) -> Result<(), StoreError> {
                    let json = serde_json::to_string(claims)
                        .map_err(|e| StoreError::Corrupt(format!("claims: {e}")))?;
                    sqlx::query(q::INSERT_OPAQUE)
                        .bind(hash.as_bytes())
                        .bind(&claims.jti)
                        .bind(json)
                        .bind(claims.exp.0)
                        .bind(claims.client_id.as_str())
                        .bind(&claims.sub)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn find_opaque(
                    &self,
                    hash: &SecretHash,
                ) -> Result<Option<AccessTokenClaims>, StoreError> {
                    let row = sqlx::query(q::SELECT_OPAQUE)
                        .bind(hash.as_bytes())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|row| {
                        let json: String = row.try_get("claims")?;
                        serde_json::from_str(&json)
                            .map_err(|e| StoreError::Corrupt(format!("opaque token claims: {e}")))
                    })
                    .transpose()
                }

                async fn revoke_jti(
                    &self,
                    jti: &str,
                    expires_at: Timestamp,
                ) -> Result<(), StoreError> {
                    sqlx::query(q::REVOKE_JTI)
                        .bind(jti)
                        .bind(expires_at.0)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
                    let row = sqlx::query(q::IS_REVOKED)
                        .bind(jti)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.is_some())
                }

                async fn find_refresh_token(
                    &self,
                    hash: &SecretHash,
                ) -> Result<Option<RefreshTokenState>, StoreError> {
                    self.presented(crate::grants::SELECT_REFRESH, hash, |row| {
                        super::grant_traits::refresh_from_row(row, hash)
                    })
                    .await
                }

                async fn prune(&self, before: Timestamp) -> Result<u64, StoreError> {
                    let mut removed = 0;
                    for statement in q::PRUNE {
                        removed += sqlx::query(statement)
                            .bind(before.0)
                            .execute(&self.write)
                            .await?
                            .rows_affected();
                    }
                    for statement in q::PRUNE_BATCHED {
                        for _ in 0..q::PRUNE_MAX_BATCHES {
                            let batch = sqlx::query(statement)
                                .bind(before.0)
                                .execute(&self.write)
                                .await?
                                .rows_affected();
                            removed += batch;
                            if batch < q::PRUNE_BATCH {
                                break;
                            }
                        }
                    }
                    Ok(removed)
                }
            }

            impl ResourceStore for $store {
                async fn insert_resource(
                    &self,
                    resource: &Resource,
                    now: Timestamp,
                ) -> Result<(), StoreError> {
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
                    match result {
                        Ok(_) => Ok(()),
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            Err(StoreError::Conflict(format!(
                                "resource `{}` exists already",
                                resource.uri.as_str()
                            )))
                        }
                        Err(e) => Err(e.into()),
                    }
                }

                async fn find_resource(
                    &self,
                    uri: &ResourceUri,
                ) -> Result<Option<Resource>, StoreError> {
                    let row = sqlx::query(q::SELECT_RESOURCE)
                        .bind(uri.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(resource_from_row).transpose()
                }

                async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
                    let rows = sqlx::query(q::SELECT_RESOURCES)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(resource_from_row).collect()
                }

                async fn delete_resource(&self, uri: &ResourceUri) -> Result<bool, StoreError> {
                    let done = sqlx::query(q::DELETE_RESOURCE)
                        .bind(uri.as_str())
                        .execute(&self.write)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }
            }
        }
    };
}

pub(crate) use impl_token_traits;
