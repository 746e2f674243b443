//! `UserStore` and `SessionStore` on both backends: users, their browser sessions and the consent they
//! gave, in statements written once for both.

pub(crate) const INSERT_USER: &str = "INSERT INTO users \
    (user_id, username, email, name, password_hash, created_at, attributes, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const UPDATE_USER: &str = "UPDATE users SET email = $2, name = $3, attributes = $4, \
    updated_at = $5 WHERE user_id = $1";
const USER_COLUMNS: &str =
    "user_id, username, email, name, password_hash, created_at, attributes, updated_at";
pub(crate) fn select_user(by: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users WHERE {by} = $1")
}
pub(crate) fn select_users() -> String {
    format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, username")
}
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE username = $1";
pub(crate) const SELECT_USER_ID: &str = "SELECT user_id FROM users WHERE username = $1";
pub(crate) const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING user_id";
pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions \
    (session_hash, user_id, auth_time, expires_at, sid) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SELECT_SESSION: &str = "SELECT user_id, auth_time, expires_at, sid FROM sessions \
    WHERE session_hash = $1 AND expires_at > $2";
pub(crate) fn select_signed_in() -> String {
    format!(
        "SELECT s.auth_time, s.expires_at, s.sid, {} FROM sessions s JOIN users u ON u.user_id = s.user_id \
         WHERE s.session_hash = $1 AND s.expires_at > $2",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE session_hash = $1";

pub(crate) const SELECT_CONSENT: &str =
    "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3";
pub(crate) const DELETE_CONSENT: &str =
    "DELETE FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3";
pub(crate) const UPSERT_CONSENT: &str = "INSERT INTO consents \
    (user_id, client_id, resource, scope, granted_at) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at";

/// Implements `UserStore` and `SessionStore` for a backend struct (see `exec.rs`).
macro_rules! impl_user_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use latchkey_core::password::PasswordHash;
        use latchkey_core::secret::SecretHash;
        use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};
        use latchkey_core::user::{User, Username};

        use crate::commit::{Arg, Write};
        use crate::deny_list::{DENY_USER_TOKENS, REVOKE_USER_GRANTS};
        use crate::error::Result;
        use crate::error::conflict_if_unique;
        use crate::users as q;
        use crate::{Session, SessionStore, StoreError, UserStore};

        fn user_from_row(row: &<$db as sqlx::Database>::Row) -> Result<User> {
            let username: String = row.try_get("username")?;
            let corrupt = |what: &str| StoreError::Corrupt(format!("user {username}: {what}"));
            let attributes: String = row.try_get("attributes")?;
            Ok(User {
                attributes: serde_json::from_str(&attributes)
                    .map_err(|_| corrupt("invalid attributes"))?,
                updated_at: Timestamp(row.try_get("updated_at")?),
                user_id: row.try_get("user_id")?,
                username: Username::parse(&username).map_err(|_| corrupt("invalid username"))?,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                password_hash: PasswordHash::from_stored(row.try_get("password_hash")?)
                    .ok_or_else(|| corrupt("invalid password hash"))?,
                created_at: Timestamp(row.try_get("created_at")?),
            })
        }

        fn attributes_json(user: &User) -> String {
            serde_json::to_string(&user.attributes).expect("attributes serialise")
        }

        /// The `user_id` a statement run in `tx` returns, if it matched a user.
        async fn user_id(
            tx: &mut sqlx::Transaction<'_, $db>,
            query: sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments>,
        ) -> Result<Option<String>> {
            let row = query.fetch_optional(&mut **tx).await?;
            Ok(row.map(|row| row.try_get("user_id")).transpose()?)
        }

        /// A consent statement with its key bound: `$1` user, `$2` client, `$3` resource ("" for
        /// none: the column is part of the primary key, which holds no NULL).
        fn consent<'q>(
            statement: &'static str,
            user_id: &'q str,
            client_id: &'q ClientId,
            resource: Option<&'q ResourceUri>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            sqlx::query(statement)
                .bind(user_id)
                .bind(client_id.as_str())
                .bind(resource.map(|r| r.as_str()).unwrap_or(""))
        }

        impl UserStore for $store {
            async fn update_user(&self, user: &User) -> Result<bool> {
                let query = sqlx::query(q::UPDATE_USER)
                    .bind(&user.user_id)
                    .bind(&user.email)
                    .bind(&user.name)
                    .bind(attributes_json(user))
                    .bind(user.updated_at.0);
                Ok(self.execute(query).await? > 0)
            }

            async fn insert_user(&self, user: &User) -> Result<()> {
                let result = sqlx::query(q::INSERT_USER)
                    .bind(&user.user_id)
                    .bind(user.username.as_str())
                    .bind(&user.email)
                    .bind(&user.name)
                    .bind(user.password_hash.as_str())
                    .bind(user.created_at.0)
                    .bind(attributes_json(user))
                    .bind(user.updated_at.0)
                    .execute(&self.write)
                    .await;
                conflict_if_unique(result, || {
                    format!("user `{}` exists already", user.username)
                })
            }

            async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>> {
                let query = sqlx::query(sqlx::AssertSqlSafe(q::select_user("username")))
                    .bind(username.as_str());
                self.fetch_optional(query, user_from_row).await
            }

            async fn find_user(&self, user_id: &str) -> Result<Option<User>> {
                let query =
                    sqlx::query(sqlx::AssertSqlSafe(q::select_user("user_id"))).bind(user_id);
                self.fetch_optional(query, user_from_row).await
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                let query = sqlx::query(sqlx::AssertSqlSafe(q::select_users()));
                self.fetch_all(query, user_from_row).await
            }

            async fn delete_user(&self, username: &Username) -> Result<bool> {
                let mut tx = self.write.begin().await?;
                let query = sqlx::query(q::SELECT_USER_ID).bind(username.as_str());
                let Some(user_id) = user_id(&mut tx, query).await? else {
                    return Ok(false);
                };
                Self::execute_each(&mut tx, &DENY_USER_TOKENS, &user_id).await?;
                Self::delete_and_commit(tx, q::DELETE_USER, username.as_str()).await
            }

            async fn set_password(
                &self,
                username: &Username,
                hash: &PasswordHash,
                revoke_grants_at: Option<Timestamp>,
            ) -> Result<bool> {
                let mut tx = self.write.begin().await?;
                let query = sqlx::query(q::SET_PASSWORD)
                    .bind(username.as_str())
                    .bind(hash.as_str());
                let Some(user_id) = user_id(&mut tx, query).await? else {
                    return Ok(false);
                };
                // A new password ends every session signed in with the old one.
                sqlx::query(q::DELETE_USER_SESSIONS)
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?;
                // L4: and, unless kept, every grant (refresh tokens) and access token it allowed.
                if let Some(now) = revoke_grants_at {
                    sqlx::query(REVOKE_USER_GRANTS)
                        .bind(&user_id)
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                    Self::execute_each(&mut tx, &DENY_USER_TOKENS, &user_id).await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }

        impl SessionStore for $store {
            async fn insert_session(&self, hash: &SecretHash, session: &Session) -> Result<()> {
                let args = vec![
                    Arg::Bytes(hash.as_bytes().to_vec()),
                    Arg::Text(session.user_id.clone()),
                    Arg::Int(session.auth_time.0),
                    Arg::Int(session.expires_at.0),
                    Arg::OptText(session.sid.clone()),
                ];
                self.commit
                    .write(Write::Statement(q::INSERT_SESSION, args))
                    .await?;
                Ok(())
            }

            async fn find_session(
                &self,
                hash: &SecretHash,
                now: Timestamp,
            ) -> Result<Option<Session>> {
                let query = sqlx::query(q::SELECT_SESSION)
                    .bind(hash.as_bytes())
                    .bind(now.0);
                self.fetch_optional(query, |row| {
                    Ok(Session {
                        user_id: row.try_get("user_id")?,
                        auth_time: Timestamp(row.try_get("auth_time")?),
                        expires_at: Timestamp(row.try_get("expires_at")?),
                        sid: row.try_get("sid")?,
                    })
                })
                .await
            }

            async fn find_signed_in(
                &self,
                hash: &SecretHash,
                now: Timestamp,
            ) -> Result<Option<(Session, User)>> {
                let query = sqlx::query(sqlx::AssertSqlSafe(q::select_signed_in()))
                    .bind(hash.as_bytes())
                    .bind(now.0);
                self.fetch_optional(query, |row| {
                    let user = user_from_row(row)?;
                    let session = Session {
                        user_id: user.user_id.clone(),
                        auth_time: Timestamp(row.try_get("auth_time")?),
                        expires_at: Timestamp(row.try_get("expires_at")?),
                        sid: row.try_get("sid")?,
                    };
                    Ok((session, user))
                })
                .await
            }

            async fn delete_session(&self, hash: &SecretHash) -> Result<()> {
                self.execute(sqlx::query(q::DELETE_SESSION).bind(hash.as_bytes()))
                    .await?;
                Ok(())
            }

            async fn find_consent(
                &self,
                user_id: &str,
                client_id: &ClientId,
                resource: Option<&ResourceUri>,
            ) -> Result<Option<Scope>> {
                let query = consent(q::SELECT_CONSENT, user_id, client_id, resource);
                self.fetch_optional(query, |row| {
                    let scope: String = row.try_get("scope")?;
                    Scope::parse(&scope).map_err(|_| {
                        StoreError::Corrupt(format!("consent of {user_id}: invalid scope"))
                    })
                })
                .await
            }

            async fn delete_consent(
                &self,
                user_id: &str,
                client_id: &ClientId,
                resource: Option<&ResourceUri>,
            ) -> Result<bool> {
                let query = consent(q::DELETE_CONSENT, user_id, client_id, resource);
                Ok(self.execute(query).await? > 0)
            }

            async fn save_consent(
                &self,
                user_id: &str,
                client_id: &ClientId,
                resource: Option<&ResourceUri>,
                scope: &Scope,
                now: Timestamp,
            ) -> Result<()> {
                let args = vec![
                    Arg::Text(user_id.to_owned()),
                    Arg::Text(client_id.as_str().to_owned()),
                    Arg::Text(resource.map(|r| r.as_str()).unwrap_or("").to_owned()),
                    Arg::Text(scope.to_string()),
                    Arg::Int(now.0),
                ];
                self.commit
                    .write(Write::Statement(q::UPSERT_CONSENT, args))
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_user_traits;
