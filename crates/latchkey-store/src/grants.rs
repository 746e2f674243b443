//! `GrantStore` on both backends. A code or refresh token is found with its grant first (`find_code`,
//! `find_refresh_token`), and the token endpoint checks it before anything is spent (L2); it is then
//! spent by one conditional `UPDATE … WHERE used_at IS NULL` (`spend` in `exec.rs`), so of two
//! concurrent redemptions the database lets exactly one through and the other meets the reuse rule.
//!
//! The two writes that differ by backend, `insert_code` and `TokenStore::record_issued`, are written
//! side by side in `sqlite.rs` and `postgres.rs` (`commit::Backend::apply`); both, and the spends,
//! are group-committed (`commit.rs`).
use latchkey_core::grant::Grant;

pub(crate) const SELECT_TOKEN_GRANT: &str = "SELECT g.grant_id, g.client_id, g.user_id, g.scope, \
    g.resource, g.auth_time, g.created_at, g.expires_at, g.revoked_at, g.sid, g.claims \
    FROM issued_tokens t JOIN grants g ON g.grant_id = t.grant_id WHERE t.jti = $1";
pub(crate) const SELECT_GRANT: &str = "SELECT grant_id, client_id, user_id, scope, resource, auth_time, \
    created_at, expires_at, revoked_at, sid, claims FROM grants WHERE grant_id = $1";
pub(crate) const REVOKE_SESSION_GRANTS: &str = "UPDATE grants SET revoked_at = $3 \
    WHERE sid = $1 AND client_id = $2 AND revoked_at IS NULL";
/// After `REVOKE_SESSION_GRANTS`, in its transaction: every access token of the grants it ended on the
/// deny-list, in one statement whatever their number. It matches them by the revocation time it just
/// wrote; a grant of the session revoked earlier at the same second only has its tokens listed again,
/// which `ON CONFLICT DO NOTHING` makes a no-op.
///
/// # Security
/// A statement of its own, not a data-modifying CTE of the `UPDATE`: on PostgreSQL the `UPDATE` may
/// wait for a token being recorded under `HOLD_GRANT` (L3), and only a later statement's snapshot
/// sees that token once its transaction commits.
pub(crate) const DENY_SESSION_GRANT_TOKENS: &str = "INSERT INTO revoked_tokens (jti, expires_at) \
    SELECT i.jti, i.expires_at FROM issued_tokens i JOIN grants g ON g.grant_id = i.grant_id \
    WHERE g.sid = $1 AND g.client_id = $2 AND g.revoked_at = $3 ON CONFLICT DO NOTHING";
pub(crate) const LIST_USER_GRANTS: &str = "SELECT grant_id, client_id, user_id, scope, resource, \
    auth_time, created_at, expires_at, revoked_at, sid, claims FROM grants \
    WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, grant_id";
pub(crate) const REVOKE_GRANT: &str =
    "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";

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

/// A grant's `claims` as stored.
pub(crate) fn claims_json(grant: &Grant) -> Option<String> {
    grant
        .claims
        .as_ref()
        .map(|c| serde_json::to_string(c).expect("claims serialise"))
}

/// Binds a grant's ten columns in the order `grants` lists them (`grant_id` … `claims`, without
/// `revoked_at`), for both backends' `insert_grant_code`.
macro_rules! bind_grant {
    ($query:expr, $grant:expr, $claims:expr) => {
        $query
            .bind($grant.grant_id.as_str())
            .bind($grant.client_id.as_str())
            .bind(&$grant.user_id)
            .bind($grant.scope.to_string())
            .bind($grant.resource.as_ref().map(|r| r.as_str()))
            .bind($grant.auth_time.0)
            .bind($grant.created_at.0)
            .bind($grant.expires_at.0)
            .bind(&$grant.sid)
            .bind($claims)
    };
}

/// Binds a code's seven columns (`code_hash`, `client_id`, `redirect_uri`, `redirect_uri_sent`,
/// `code_challenge`, `expires_at`, `nonce`), for both backends' `insert_grant_code`.
macro_rules! bind_code {
    ($query:expr, $code:expr) => {
        $query
            .bind($code.hash.as_bytes())
            .bind($code.client_id.as_str())
            .bind(&$code.redirect_uri)
            .bind(i16::from($code.redirect_uri_sent))
            // "" for a code bound by an OpenID nonce instead of PKCE.
            .bind($code.code_challenge.as_ref().map_or("", |c| c.as_str()))
            .bind($code.expires_at.0)
            .bind(&$code.nonce)
    };
}

/// Binds `INSERT_REFRESH`'s five parameters.
macro_rules! bind_refresh {
    ($query:expr, $token:expr) => {
        $query
            .bind($token.hash.as_bytes())
            .bind($token.grant_id.as_str())
            .bind($token.client_id.as_str())
            .bind($token.created_at.0)
            .bind($token.expires_at.0)
    };
}

pub(crate) use {bind_code, bind_grant, bind_refresh};

/// Implements `GrantStore` for a backend struct (see `exec.rs`).
macro_rules! impl_grant_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
        use latchkey_core::grant::{Grant, GrantId};
        use latchkey_core::pkce::CodeChallenge;
        use latchkey_core::secret::SecretHash;
        use latchkey_core::token::RefreshTokenRecord;
        use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};

        use crate::commit::Write;
        use crate::deny_list::REVOKE_GRANT_TOKENS;
        use crate::error::Result;
        use crate::grants as q;
        use crate::{GrantStore, Presented, StoreError};

        type Row = <$db as sqlx::Database>::Row;

        fn corrupt(what: &str) -> StoreError {
            StoreError::Corrupt(what.to_owned())
        }

        fn grant_from_row(row: &Row) -> Result<Grant> {
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
                client_id: ClientId::parse(client_id).map_err(|_| corrupt("grant: client_id"))?,
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
                record: impl FnOnce(&Row) -> Result<T>,
            ) -> Result<Option<Presented<T>>> {
                let query = sqlx::query(statement).bind(hash.as_bytes());
                self.fetch_optional(query, |row| {
                    Ok(Presented {
                        record: record(row)?,
                        used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
                        grant: grant_from_row(row)?,
                    })
                })
                .await
            }
        }

        /// The client a code or refresh token was issued to (`c_client_id` of its row).
        fn issued_to(row: &Row, what: &str) -> Result<ClientId> {
            let client_id: String = row.try_get("c_client_id")?;
            ClientId::parse(client_id).map_err(|_| corrupt(&format!("{what}: client_id")))
        }

        /// The refresh token of a `SELECT_REFRESH` row.
        pub(crate) fn refresh_from_row(row: &Row, hash: &SecretHash) -> Result<RefreshTokenRecord> {
            Ok(RefreshTokenRecord {
                hash: hash.clone(),
                grant_id: GrantId::from_stored(row.try_get("grant_id")?),
                client_id: issued_to(row, "refresh token")?,
                created_at: Timestamp(row.try_get("c_created_at")?),
                expires_at: Timestamp(row.try_get("c_expires_at")?),
            })
        }

        impl GrantStore for $store {
            async fn find_grant(&self, grant_id: &GrantId) -> Result<Option<Grant>> {
                let query = sqlx::query(q::SELECT_GRANT).bind(grant_id.as_str());
                self.fetch_optional(query, grant_from_row).await
            }

            async fn list_grants(&self, user_id: &str, now: Timestamp) -> Result<Vec<Grant>> {
                let query = sqlx::query(q::LIST_USER_GRANTS).bind(user_id).bind(now.0);
                self.fetch_all(query, grant_from_row).await
            }

            async fn insert_code(
                &self,
                grant: &Grant,
                code: &AuthorizationCodeRecord,
            ) -> Result<()> {
                let write = Write::GrantCode(Box::new((grant.clone(), code.clone())));
                self.commit.write(write).await?;
                Ok(())
            }

            async fn find_code(
                &self,
                hash: &SecretHash,
            ) -> Result<Option<Presented<AuthorizationCodeRecord>>> {
                self.presented(q::SELECT_CODE, hash, |row| {
                    let challenge: String = row.try_get("code_challenge")?;
                    Ok(AuthorizationCodeRecord {
                        hash: hash.clone(),
                        grant_id: GrantId::from_stored(row.try_get("grant_id")?),
                        client_id: issued_to(row, "code")?,
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

            async fn consume_code(&self, hash: &SecretHash, now: Timestamp) -> Result<bool> {
                self.spend(q::CONSUME_CODE, hash, now).await
            }

            async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<()> {
                let query = q::bind_refresh!(sqlx::query(q::INSERT_REFRESH), token);
                self.execute(query).await?;
                Ok(())
            }

            async fn use_refresh_token(&self, hash: &SecretHash, now: Timestamp) -> Result<bool> {
                self.spend(q::USE_REFRESH, hash, now).await
            }

            async fn find_grant_of_token(&self, jti: &str) -> Result<Option<Grant>> {
                let query = sqlx::query(q::SELECT_TOKEN_GRANT).bind(jti);
                self.fetch_optional(query, grant_from_row).await
            }

            async fn revoke_grant(&self, grant_id: &GrantId, now: Timestamp) -> Result<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query(q::REVOKE_GRANT)
                    .bind(grant_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                Self::execute_each(&mut tx, &[REVOKE_GRANT_TOKENS], grant_id.as_str()).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_session_grants(
                &self,
                sid: &str,
                client_id: &ClientId,
                now: Timestamp,
            ) -> Result<u64> {
                // Two statements whatever the number of grants (L4: in the revoking transaction).
                let mut tx = self.write.begin().await?;
                let revoked = sqlx::query(q::REVOKE_SESSION_GRANTS)
                    .bind(sid)
                    .bind(client_id.as_str())
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if revoked > 0 {
                    sqlx::query(q::DENY_SESSION_GRANT_TOKENS)
                        .bind(sid)
                        .bind(client_id.as_str())
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(revoked)
            }
        }
    };
}

pub(crate) use impl_grant_traits;
