//! `ThrottleStore` on both backends: failed-login counters and per-address event windows, shared by every
//! instance on one database. The rules live in `latchkey_core::throttle`; this file reads and writes
//! counters under row locks.
//!
//! A counter update is read-then-write, which is safe only because the read locks the row: `INSERT … ON
//! CONFLICT DO UPDATE … RETURNING` creates a missing row or locks the existing one (PostgreSQL) and, on
//! SQLite, runs on the one writer connection inside the transaction. Rows are locked in key order, so
//! two attempts sharing a key wait for each other instead of deadlocking.

pub(crate) const LOCK_COUNTER: &str = "INSERT INTO login_throttle \
    (key, failures, last_failure, locked_until, in_flight, in_flight_until) VALUES ($1, 0, 0, NULL, 0, 0) \
    ON CONFLICT (key) DO UPDATE SET in_flight = login_throttle.in_flight \
    RETURNING failures, last_failure, locked_until, in_flight, in_flight_until";
pub(crate) const UPDATE_COUNTER: &str = "UPDATE login_throttle SET failures = $2, last_failure = $3, \
    locked_until = $4, in_flight = $5, in_flight_until = $6 WHERE key = $1";
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

/// Implements `ThrottleStore` for a backend struct with `pool` and `write` fields.
macro_rules! impl_throttle_traits {
    ($store:ty, $row:ty) => {
        mod throttle_traits {
            use sqlx::Row as _;

            use latchkey_core::throttle::{Counter, ThrottleKey};
            use latchkey_core::types::Timestamp;

            use crate::throttle as q;
            use crate::{StoreError, ThrottleStore};

            fn counter_from_row(row: &$row) -> Result<Counter, StoreError> {
                let count = |name: &str| -> Result<u32, StoreError> {
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
                ) -> Result<Result<T, R>, StoreError>
                where
                    T: Send,
                    R: Send,
                    F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send,
                {
                    let mut order: Vec<usize> = (0..keys.len()).collect();
                    order.sort_by_key(|&i| keys[i]);
                    let mut tx = self.write.begin().await?;
                    let mut counters = vec![Counter::default(); keys.len()];
                    for &i in &order {
                        let row = sqlx::query(q::LOCK_COUNTER)
                            .bind(&keys[i].as_bytes()[..])
                            .fetch_one(&mut *tx)
                            .await?;
                        counters[i] = counter_from_row(&row)?;
                    }
                    let (updated, value) = match update(&counters) {
                        Ok(decided) => decided,
                        // Dropping the transaction rolls it back: a refusal leaves no trace.
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                    for &i in &order {
                        let Some(c) = updated.get(i) else {
                            continue;
                        };
                        sqlx::query(q::UPDATE_COUNTER)
                            .bind(&keys[i].as_bytes()[..])
                            .bind(i64::from(c.failures))
                            .bind(c.last_failure.0)
                            .bind(c.locked_until.map(|t| t.0))
                            .bind(i64::from(c.in_flight))
                            .bind(c.in_flight_until.0)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(Ok(value))
                }

                async fn count_event(
                    &self,
                    key: &ThrottleKey,
                    window_start: Timestamp,
                ) -> Result<u32, StoreError> {
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
                ) -> Result<u64, StoreError> {
                    let mut removed = 0;
                    loop {
                        let done = sqlx::query(q::PRUNE_COUNTERS)
                            .bind(forget_before.0)
                            .bind(now.0)
                            .execute(&self.write)
                            .await?;
                        removed += done.rows_affected();
                        if done.rows_affected() < q::PRUNE_BATCH {
                            break;
                        }
                    }
                    loop {
                        let done = sqlx::query(q::PRUNE_WINDOWS)
                            .bind(windows_before.0)
                            .execute(&self.write)
                            .await?;
                        removed += done.rows_affected();
                        if done.rows_affected() < q::PRUNE_BATCH {
                            break;
                        }
                    }
                    Ok(removed)
                }
            }
        }
    };
}

pub(crate) use impl_throttle_traits;
