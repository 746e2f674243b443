//! `KeyStore` on both backends: signing keys, their private halves sealed under the master key.

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

/// Implements `KeyStore` for a backend struct (see `exec.rs`).
macro_rules! impl_key_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use latchkey_core::types::Timestamp;

        use crate::error::Result;
        use crate::keys as q;
        use crate::{KeyStore, StoreError, StoredKey};

        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

        fn key_from_row(row: &<$db as sqlx::Database>::Row) -> Result<StoredKey> {
            let kid: String = row.try_get("kid")?;
            let alg: String = row.try_get("alg")?;
            Ok(StoredKey {
                alg: alg
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("key {kid}: unknown alg")))?,
                kid,
                sealed_private: row.try_get("sealed_private")?,
                created_at: Timestamp(row.try_get("created_at")?),
                retired_at: row.try_get::<Option<i64>, _>("retired_at")?.map(Timestamp),
                active: row.try_get::<Option<i16>, _>("active")?.is_some(),
            })
        }

        /// `INSERT_FIRST_KEY` (it signs access tokens) or `INSERT_KEY`, for `key`.
        fn insert<'q>(statement: &'static str, key: &'q StoredKey) -> Query<'q> {
            sqlx::query(statement)
                .bind(&key.kid)
                .bind(key.alg.as_str())
                .bind(&key.sealed_private)
                .bind(key.created_at.0)
        }

        impl KeyStore for $store {
            async fn insert_first_key(&self, key: &StoredKey) -> Result<bool> {
                Ok(self.execute(insert(q::INSERT_FIRST_KEY, key)).await? > 0)
            }

            async fn insert_key(&self, key: &StoredKey) -> Result<bool> {
                Ok(self.execute(insert(q::INSERT_KEY, key)).await? > 0)
            }

            async fn rotate_keys(&self, keys: &[StoredKey], now: Timestamp) -> Result<()> {
                let mut tx = self.write.begin().await?;
                if keys.iter().any(|k| k.active) {
                    sqlx::query(q::RETIRE_ACTIVE_KEY)
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                }
                for key in keys {
                    sqlx::query(q::RETIRE_ALG_KEY)
                        .bind(now.0)
                        .bind(key.alg.as_str())
                        .execute(&mut *tx)
                        .await?;
                    let statement = if key.active {
                        q::INSERT_FIRST_KEY
                    } else {
                        q::INSERT_KEY
                    };
                    let inserted = insert(statement, key).execute(&mut *tx).await?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::Conflict(
                            "another rotation committed first; try again".into(),
                        ));
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_keys(&self) -> Result<Vec<StoredKey>> {
                self.fetch_all(sqlx::query(q::SELECT_KEYS), key_from_row)
                    .await
            }

            async fn prune_keys(&self, before: Timestamp) -> Result<u64> {
                self.execute(sqlx::query(q::PRUNE_KEYS).bind(before.0))
                    .await
            }

            async fn delete_retired_key(&self, kid: &str) -> Result<bool> {
                Ok(self
                    .execute(sqlx::query(q::DELETE_RETIRED_KEY).bind(kid))
                    .await?
                    > 0)
            }
        }
    };
}

pub(crate) use impl_key_traits;
