//! `ThrottleStore` on both backends: failed-login counters and per-address event windows, shared by every
//! instance on one database. The rules live in `latchkey_core::throttle`; this file reads and writes
//! counters under row locks.
//!
//! A counter update is read-then-write, which is safe only because the read locks the rows: `INSERT … ON
//! CONFLICT DO UPDATE … RETURNING` creates missing rows and locks existing ones (PostgreSQL) and, on
//! SQLite, runs on the one writer connection inside an immediate transaction. Rows are locked in key
//! order, so two attempts sharing a key wait for each other instead of deadlocking. One statement reads
//! every key and one writes them back: a sign-in costs two short transactions.

/// Creates the missing rows of `n` keys and locks all of them, in one statement: `$1`…`$n` are the keys,
/// in key order (rows are locked in the order given, so two such statements never deadlock).
pub(crate) fn lock_counters(n: usize) -> String {
    let rows = (1..=n)
        .map(|i| format!("(${i}, 0, 0, NULL, 0, 0)"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO login_throttle \
         (key, failures, last_failure, locked_until, in_flight, in_flight_until) VALUES {rows} \
         ON CONFLICT (key) DO UPDATE SET in_flight = login_throttle.in_flight \
         RETURNING key, failures, last_failure, locked_until, in_flight, in_flight_until"
    )
}

/// Writes `n` counters in one statement: six parameters per counter (key, failures, last_failure,
/// locked_until, in_flight, in_flight_until). `columnN` are the names both backends give the columns
/// of a `VALUES` list.
pub(crate) fn update_counters(n: usize) -> String {
    let rows = (0..n)
        .map(|r| {
            let p: Vec<String> = (1..=6).map(|c| format!("${}", r * 6 + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE login_throttle SET failures = v.column2, last_failure = v.column3, \
         locked_until = v.column4, in_flight = v.column5, in_flight_until = v.column6 \
         FROM (VALUES {rows}) AS v WHERE login_throttle.key = v.column1"
    )
}

/// One statement, so concurrent events in one window are all counted (the row lock serialises them).
pub(crate) const COUNT_EVENT: &str = "INSERT INTO rate_windows (key, window_start, events) \
    VALUES ($1, $2, 1) ON CONFLICT (key) DO UPDATE SET \
    events = CASE WHEN rate_windows.window_start = excluded.window_start \
        THEN rate_windows.events + 1 ELSE 1 END, \
    window_start = excluded.window_start \
    RETURNING events";
/// Rows deleted per statement: pruning never holds many row locks or one long transaction.
pub(crate) const PRUNE_BATCH: u64 = 1000;
pub(crate) const PRUNE_COUNTERS: &str = "DELETE FROM login_throttle WHERE key IN \
    (SELECT key FROM login_throttle WHERE last_failure < $1 \
    AND (locked_until IS NULL OR locked_until <= $2) AND in_flight_until <= $2 LIMIT 1000)";
pub(crate) const PRUNE_WINDOWS: &str = "DELETE FROM rate_windows WHERE key IN \
    (SELECT key FROM rate_windows WHERE window_start < $1 LIMIT 1000)";

/// How a counter transaction starts on PostgreSQL. Counters are not worth a disk flush per login: with
/// `synchronous_commit` off for these transactions only, a commit returns before its WAL reaches disk
/// (still crash-safe; a server crash may forget the last fraction of a second of counts), which takes a
/// sign-in's two counter transactions from two fsyncs to none.
pub(crate) const POSTGRES_BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit TO OFF";
/// How a counter transaction starts on SQLite: with the write lock, since it writes anyway.
pub(crate) const SQLITE_BEGIN: &str = "BEGIN IMMEDIATE";

/// Implements `ThrottleStore` for a backend struct with `pool` and `write` fields, beginning counter
/// transactions with `$begin`.
macro_rules! impl_throttle_traits {
    ($store:ty, $db:ty, $begin:expr) => {
        use sqlx::Row as _;

        use latchkey_core::throttle::{Counter, ThrottleKey};
        use latchkey_core::types::Timestamp;

        use crate::error::Result;
        use crate::throttle as q;
        use crate::{StoreError, ThrottleStore};

        fn counter_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Counter> {
            let count = |name: &str| -> Result<u32> {
                let value: i64 = row.try_get(name)?;
                Ok(u32::try_from(value.max(0)).unwrap_or(u32::MAX))
            };
            Ok(Counter {
                failures: count("failures")?,
                last_failure: Timestamp(row.try_get("last_failure")?),
                locked_until: row
                    .try_get::<Option<i64>, _>("locked_until")?
                    .map(Timestamp),
                in_flight: count("in_flight")?,
                in_flight_until: Timestamp(row.try_get("in_flight_until")?),
            })
        }

        impl ThrottleStore for $store {
            async fn update_counters<T, R, F>(
                &self,
                keys: &[ThrottleKey],
                update: F,
            ) -> Result<Result<T, R>>
            where
                T: Send,
                R: Send,
                F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send,
            {
                let mut sorted: Vec<ThrottleKey> = keys.to_vec();
                sorted.sort();
                sorted.dedup();
                let mut tx = self.write.begin_with($begin).await?;
                let lock = q::lock_counters(sorted.len());
                let mut query = sqlx::query(sqlx::AssertSqlSafe(lock));
                for key in &sorted {
                    query = query.bind(&key.as_bytes()[..]);
                }
                let mut found = std::collections::HashMap::new();
                for row in query.fetch_all(&mut *tx).await? {
                    let key: Vec<u8> = row.try_get("key")?;
                    found.insert(key, counter_from_row(&row)?);
                }
                let counters = keys
                    .iter()
                    .map(|k| {
                        found.get(&k.as_bytes()[..]).copied().ok_or_else(|| {
                            StoreError::Corrupt("a locked counter row went missing".into())
                        })
                    })
                    .collect::<Result<Vec<Counter>>>()?;
                let (updated, value) = match update(&counters) {
                    Ok(decided) => decided,
                    // Dropping the transaction rolls it back: a refusal leaves no trace.
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let written: Vec<(&ThrottleKey, &Counter)> = keys.iter().zip(&updated).collect();
                if !written.is_empty() {
                    let sql = q::update_counters(written.len());
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (key, c) in written {
                        query = query
                            .bind(&key.as_bytes()[..])
                            .bind(i64::from(c.failures))
                            .bind(c.last_failure.0)
                            .bind(c.locked_until.map(|t| t.0))
                            .bind(i64::from(c.in_flight))
                            .bind(c.in_flight_until.0);
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(Ok(value))
            }

            async fn count_event(&self, key: &ThrottleKey, window_start: Timestamp) -> Result<u32> {
                let row = sqlx::query(q::COUNT_EVENT)
                    .bind(&key.as_bytes()[..])
                    .bind(window_start.0)
                    .fetch_one(&self.write)
                    .await?;
                let events: i64 = row.try_get("events")?;
                Ok(u32::try_from(events.max(0)).unwrap_or(u32::MAX))
            }

            async fn prune_throttle(
                &self,
                forget_before: Timestamp,
                now: Timestamp,
                windows_before: Timestamp,
            ) -> Result<u64> {
                let counters = || {
                    sqlx::query(q::PRUNE_COUNTERS)
                        .bind(forget_before.0)
                        .bind(now.0)
                };
                let windows = || sqlx::query(q::PRUNE_WINDOWS).bind(windows_before.0);
                Ok(self
                    .delete_batched(q::PRUNE_BATCH, usize::MAX, counters)
                    .await?
                    + self
                        .delete_batched(q::PRUNE_BATCH, usize::MAX, windows)
                        .await?)
            }
        }
    };
}

pub(crate) use impl_throttle_traits;
