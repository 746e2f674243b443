//! How the role implementations run a statement: reads on the readers' pool, writes on the writer,
//! rows converted by the caller. Written once for both backends' pool types.

/// Implements the statement helpers for a backend struct with `pool` (readers), `write` and `commit`
/// (`commit.rs`) fields.
/// A macro, like the role implementations: one body for two pool types, without sqlx's generic
/// executor bounds.
macro_rules! impl_exec {
    ($store:ty, $db:ty) => {
        use crate::error::Result;

        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;
        type Row = <$db as sqlx::Database>::Row;

        impl $store {
            /// Runs a write outside group commit (`commit.rs`); returns how many rows it changed.
            pub(crate) async fn execute(&self, query: Query<'_>) -> Result<u64> {
                Ok(query.execute(&self.write).await?.rows_affected())
            }

            /// Spends a code or refresh token: `statement` is a conditional `UPDATE … SET used_at =
            /// $2 WHERE <hash> = $1 AND used_at IS NULL`. `true` when this call marked it used: of
            /// two concurrent calls the database lets exactly one change the row, never a read
            /// followed by a write. Group-committed: the outcome is reported after its commit.
            pub(crate) async fn spend(
                &self,
                statement: &'static str,
                hash: &latchkey_core::secret::SecretHash,
                now: latchkey_core::types::Timestamp,
            ) -> Result<bool> {
                use crate::commit::{Arg, Write};
                let args = vec![Arg::Bytes(hash.as_bytes().to_vec()), Arg::Int(now.0)];
                Ok(self.commit.write(Write::Statement(statement, args)).await? == 1)
            }

            /// Runs each of `statements` in `tx` with `owner` as `$1`.
            pub(crate) async fn execute_each(
                tx: &mut sqlx::Transaction<'_, $db>,
                statements: &[&'static str],
                owner: &str,
            ) -> Result<()> {
                for statement in statements {
                    sqlx::query(*statement)
                        .bind(owner)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// Runs a delete keyed by `key` (`$1`) in `tx` and commits; whether a row went.
            pub(crate) async fn delete_and_commit(
                mut tx: sqlx::Transaction<'_, $db>,
                statement: &'static str,
                key: &str,
            ) -> Result<bool> {
                let deleted = sqlx::query(statement).bind(key).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(deleted.rows_affected() > 0)
            }

            /// The row a read finds, if any, converted by `from_row`.
            pub(crate) async fn fetch_optional<T>(
                &self,
                query: Query<'_>,
                from_row: impl FnOnce(&Row) -> Result<T>,
            ) -> Result<Option<T>> {
                let row = query.fetch_optional(&self.pool).await?;
                row.as_ref().map(from_row).transpose()
            }

            /// Every row a read finds, converted by `from_row`.
            pub(crate) async fn fetch_all<T>(
                &self,
                query: Query<'_>,
                from_row: impl FnMut(&Row) -> Result<T>,
            ) -> Result<Vec<T>> {
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter().map(from_row).collect()
            }

            /// Runs a delete of at most `batch` rows (`LIMIT` in its statement) again until one
            /// comes back short, at most `max_batches` times; returns how many rows went. One
            /// sweep over a large backlog never holds the write lock, or many row locks, for long.
            pub(crate) async fn delete_batched<'q>(
                &self,
                batch: u64,
                max_batches: usize,
                query: impl Fn() -> Query<'q>,
            ) -> Result<u64> {
                let mut removed = 0;
                for _ in 0..max_batches {
                    let deleted = self.execute(query()).await?;
                    removed += deleted;
                    if deleted < batch {
                        break;
                    }
                }
                Ok(removed)
            }
        }
    };
}

pub(crate) use impl_exec;
