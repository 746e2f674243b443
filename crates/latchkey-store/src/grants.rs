//! `GrantStore` on both backends. Single use of codes and refresh tokens is one conditional `UPDATE …
//! WHERE used_at IS NULL RETURNING`, never a read followed by a write, so of two concurrent redemptions
//! the database lets exactly one through.

pub(crate) const INSERT_GRANT: &str = "INSERT INTO grants \
    (grant_id, client_id, user_id, scope, resource, auth_time, created_at, expires_at, revoked_at, \
    sid, claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)";
pub(crate) const SELECT_TOKEN_GRANT: &str = "SELECT g.grant_id, g.client_id, g.user_id, g.scope, \
    g.resource, g.auth_time, g.created_at, g.expires_at, g.revoked_at, g.sid, g.claims \
    FROM issued_tokens t JOIN grants g ON g.grant_id = t.grant_id WHERE t.jti = $1";
pub(crate) const SELECT_GRANT: &str = "SELECT grant_id, client_id, user_id, scope, resource, auth_time, \
    created_at, expires_at, revoked_at, sid, claims FROM grants WHERE grant_id = $1";
pub(crate) const REVOKE_SESSION_GRANTS: &str = "UPDATE grants SET revoked_at = $3 \
    WHERE sid = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING grant_id";
pub(crate) const LIST_USER_GRANTS: &str = "SELECT grant_id, client_id, user_id, scope, resource, \
    auth_time, created_at, expires_at, revoked_at, sid, claims FROM grants \
    WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, grant_id";
pub(crate) const REVOKE_GRANT: &str =
    "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";

pub(crate) const INSERT_CODE: &str = "INSERT INTO authorization_codes \
    (code_hash, grant_id, client_id, redirect_uri, redirect_uri_sent, code_challenge, expires_at, used_at, \
    nonce) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)";
/// The grant's columns under their own names (the code's or token's are selected as `c_…`), as a
/// macro so `concat!` can build whole statements at compile time.
macro_rules! grant_columns {
    () => {
        "g.grant_id, g.client_id, g.user_id, g.scope, g.resource, g.auth_time, g.created_at, \
        g.expires_at, g.revoked_at, g.sid, g.claims"
    };
}
pub(crate) const SELECT_CODE: &str = concat!(
    "SELECT c.client_id AS c_client_id, c.redirect_uri, c.redirect_uri_sent, c.code_challenge, \
    c.expires_at AS c_expires_at, c.used_at, c.nonce, ",
    grant_columns!(),
    " FROM authorization_codes c JOIN grants g ON g.grant_id = c.grant_id WHERE c.code_hash = $1"
);
pub(crate) const CONSUME_CODE: &str =
    "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL";

/// SQLite (migration 0019): a grant and its code as one statement.
pub(crate) const INSERT_GRANT_CODE: &str = "INSERT INTO grant_codes \
    (grant_id, client_id, user_id, scope, resource, auth_time, created_at, expires_at, sid, claims, \
    code_hash, code_client_id, redirect_uri, redirect_uri_sent, code_challenge, code_expires_at, nonce) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
pub(crate) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens \
    (token_hash, grant_id, client_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)";
pub(crate) const USE_REFRESH: &str =
    "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";
pub(crate) const SELECT_REFRESH: &str = concat!(
    "SELECT c.client_id AS c_client_id, c.created_at AS c_created_at, c.expires_at AS c_expires_at, \
    c.used_at, ",
    grant_columns!(),
    " FROM refresh_tokens c JOIN grants g ON g.grant_id = c.grant_id WHERE c.token_hash = $1"
);
/// Locks the grant row for the rest of the transaction, or matches nothing when it is revoked (L3).
/// A write rather than PostgreSQL's `SELECT … FOR SHARE`, which SQLite lacks: on PostgreSQL it waits
/// for a concurrent `REVOKE_GRANT` and then sees its result; on SQLite writers are serialised anyway.
pub(crate) const HOLD_GRANT: &str =
    "UPDATE grants SET revoked_at = NULL WHERE grant_id = $1 AND revoked_at IS NULL";

/// Implements `GrantStore` for a backend struct with a `pool` field.
macro_rules! impl_grant_traits {
    ($store:ty, $row:ty) => {
        mod grant_traits {
            use sqlx::Row as _;

            use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
            use latchkey_core::grant::{Grant, GrantId};
            use latchkey_core::pkce::CodeChallenge;
            use latchkey_core::secret::SecretHash;
            use latchkey_core::token::RefreshTokenRecord;
            use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};

            use crate::grants as q;
            use crate::{GrantStore, Presented, StoreError};

            fn corrupt(what: &str) -> StoreError {
                StoreError::Corrupt(what.to_owned())
            }

            fn grant_from_row(row: &$row) -> Result<Grant, StoreError> {
                let scope: String = row.try_get("scope")?;
                let resource: Option<String> = row.try_get("resource")?;
                let client_id: String = row.try_get("client_id")?;
                let claims: Option<String> = row.try_get("claims")?;
                Ok(Grant {
                    sid: row.try_get("sid")?,
                    claims: claims
                        .map(|c| serde_json::from_str(&c))
                        .transpose()
                        .map_err(|_| corrupt("grant: claims"))?,
                    grant_id: GrantId::from_stored(row.try_get("grant_id")?),
                    client_id: ClientId::parse(client_id)
                        .map_err(|_| corrupt("grant: client_id"))?,
                    user_id: row.try_get("user_id")?,
                    scope: Scope::parse(&scope).map_err(|_| corrupt("grant: scope"))?,
                    resource: resource
                        .map(|r| ResourceUri::parse(&r))
                        .transpose()
                        .map_err(|_| corrupt("grant: resource"))?,
                    auth_time: Timestamp(row.try_get("auth_time")?),
                    created_at: Timestamp(row.try_get("created_at")?),
                    expires_at: Timestamp(row.try_get("expires_at")?),
                    revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp),
                })
            }

            impl $store {
                /// A code or refresh token with its grant, from one `SELECT_CODE` / `SELECT_REFRESH`.
                pub(crate) async fn presented<T>(
                    &self,
                    statement: &'static str,
                    hash: &SecretHash,
                    record: impl FnOnce(&$row) -> Result<T, StoreError>,
                ) -> Result<Option<Presented<T>>, StoreError> {
                    let row = sqlx::query(statement)
                        .bind(hash.as_bytes())
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    Ok(Some(Presented {
                        record: record(&row)?,
                        used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
                        grant: grant_from_row(&row)?,
                    }))
                }
            }

            /// The refresh token of a `SELECT_REFRESH` row.
            pub(crate) fn refresh_from_row(
                row: &$row,
                hash: &SecretHash,
            ) -> Result<RefreshTokenRecord, StoreError> {
                let client_id: String = row.try_get("c_client_id")?;
                Ok(RefreshTokenRecord {
                    hash: hash.clone(),
                    grant_id: GrantId::from_stored(row.try_get("grant_id")?),
                    client_id: ClientId::parse(client_id)
                        .map_err(|_| corrupt("refresh token: client_id"))?,
                    created_at: Timestamp(row.try_get("c_created_at")?),
                    expires_at: Timestamp(row.try_get("c_expires_at")?),
                })
            }

            impl GrantStore for $store {
                async fn find_grant(
                    &self,
                    grant_id: &GrantId,
                ) -> Result<Option<Grant>, StoreError> {
                    sqlx::query(q::SELECT_GRANT)
                        .bind(grant_id.as_str())
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|row| grant_from_row(&row))
                        .transpose()
                }

                async fn list_grants(
                    &self,
                    user_id: &str,
                    now: Timestamp,
                ) -> Result<Vec<Grant>, StoreError> {
                    sqlx::query(q::LIST_USER_GRANTS)
                        .bind(user_id)
                        .bind(now.0)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(grant_from_row)
                        .collect()
                }

                async fn insert_code(
                    &self,
                    grant: &Grant,
                    code: &AuthorizationCodeRecord,
                ) -> Result<(), StoreError> {
                    let claims = grant
                        .claims
                        .as_ref()
                        .map(|c| serde_json::to_string(c).expect("claims serialise"));
                    if <$store>::ONE_TRIP_FLOW_WRITES {
                        sqlx::query(q::INSERT_GRANT_CODE)
                            .bind(grant.grant_id.as_str())
                            .bind(grant.client_id.as_str())
                            .bind(&grant.user_id)
                            .bind(grant.scope.to_string())
                            .bind(grant.resource.as_ref().map(|r| r.as_str()))
                            .bind(grant.auth_time.0)
                            .bind(grant.created_at.0)
                            .bind(grant.expires_at.0)
                            .bind(&grant.sid)
                            .bind(&claims)
                            .bind(code.hash.as_bytes())
                            .bind(code.client_id.as_str())
                            .bind(&code.redirect_uri)
                            .bind(i16::from(code.redirect_uri_sent))
                            .bind(code.code_challenge.as_ref().map_or("", |c| c.as_str()))
                            .bind(code.expires_at.0)
                            .bind(&code.nonce)
                            .execute(&self.write)
                            .await?;
                        return Ok(());
                    }
                    let mut tx = self.write.begin().await?;
                    sqlx::query(q::INSERT_GRANT)
                        .bind(grant.grant_id.as_str())
                        .bind(grant.client_id.as_str())
                        .bind(&grant.user_id)
                        .bind(grant.scope.to_string())
                        .bind(grant.resource.as_ref().map(|r| r.as_str()))
                        .bind(grant.auth_time.0)
                        .bind(grant.created_at.0)
                        .bind(grant.expires_at.0)
                        .bind(&grant.sid)
                        .bind(&claims)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(q::INSERT_CODE)
                        .bind(code.hash.as_bytes())
                        .bind(code.grant_id.as_str())
                        .bind(code.client_id.as_str())
                        .bind(&code.redirect_uri)
                        .bind(i16::from(code.redirect_uri_sent))
                        // "" for a code bound by an OpenID nonce instead of PKCE.
                        .bind(code.code_challenge.as_ref().map_or("", |c| c.as_str()))
                        .bind(code.expires_at.0)
                        .bind(&code.nonce)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn find_code(
                    &self,
                    hash: &SecretHash,
                ) -> Result<Option<Presented<AuthorizationCodeRecord>>, StoreError> {
                    self.presented(q::SELECT_CODE, hash, |row| {
                        let client_id: String = row.try_get("c_client_id")?;
                        let challenge: String = row.try_get("code_challenge")?;
                        Ok(AuthorizationCodeRecord {
                            hash: hash.clone(),
                            grant_id: GrantId::from_stored(row.try_get("grant_id")?),
                            client_id: ClientId::parse(client_id)
                                .map_err(|_| corrupt("code: client_id"))?,
                            redirect_uri: row.try_get("redirect_uri")?,
                            redirect_uri_sent: row.try_get::<i16, _>("redirect_uri_sent")? != 0,
                            // "" for a code bound by an OpenID nonce instead of PKCE.
                            code_challenge: match challenge.as_str() {
                                "" => None,
                                stored => Some(
                                    CodeChallenge::from_stored(stored)
                                        .ok_or_else(|| corrupt("code: code_challenge"))?,
                                ),
                            },
                            expires_at: Timestamp(row.try_get("c_expires_at")?),
                            nonce: row.try_get("nonce")?,
                        })
                    })
                    .await
                }

                async fn consume_code(
                    &self,
                    hash: &SecretHash,
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(q::CONSUME_CODE)
                        .bind(hash.as_bytes())
                        .bind(now.0)
                        .execute(&self.write)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn insert_refresh_token(
                    &self,
                    token: &RefreshTokenRecord,
                ) -> Result<(), StoreError> {
                    sqlx::query(q::INSERT_REFRESH)
                        .bind(token.hash.as_bytes())
                        .bind(token.grant_id.as_str())
                        .bind(token.client_id.as_str())
                        .bind(token.created_at.0)
                        .bind(token.expires_at.0)
                        .execute(&self.write)
                        .await?;
                    Ok(())
                }

                async fn use_refresh_token(
                    &self,
                    hash: &SecretHash,
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(q::USE_REFRESH)
                        .bind(hash.as_bytes())
                        .bind(now.0)
                        .execute(&self.write)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn find_grant_of_token(
                    &self,
                    jti: &str,
                ) -> Result<Option<Grant>, StoreError> {
                    let row = sqlx::query(q::SELECT_TOKEN_GRANT)
                        .bind(jti)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(grant_from_row).transpose()
                }

                async fn revoke_grant(
                    &self,
                    grant_id: &GrantId,
                    now: Timestamp,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write.begin().await?;
                    sqlx::query(q::REVOKE_GRANT)
                        .bind(grant_id.as_str())
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(crate::tokens::REVOKE_GRANT_TOKENS)
                        .bind(grant_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn revoke_session_grants(
                    &self,
                    sid: &str,
                    client_id: &ClientId,
                    now: Timestamp,
                ) -> Result<u64, StoreError> {
                    let mut tx = self.write.begin().await?;
                    let rows = sqlx::query(q::REVOKE_SESSION_GRANTS)
                        .bind(sid)
                        .bind(client_id.as_str())
                        .bind(now.0)
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in &rows {
                        let grant_id: String = row.try_get("grant_id")?;
                        sqlx::query(crate::tokens::REVOKE_GRANT_TOKENS)
                            .bind(grant_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(rows.len() as u64)
                }
            }
        }
    };
}

pub(crate) use impl_grant_traits;
