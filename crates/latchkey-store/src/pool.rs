//! Pool settings (`[database]`) and how the pools stand, for metrics.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Store;

/// Requests that waited for a pooled connection until the acquire timeout, in this process.
pub(crate) static ACQUIRE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Pool settings: `[database]` in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most connections one process opens: PostgreSQL connections; on SQLite, readers (at most 4) beside
    /// the one writer.
    pub max_connections: u32,
    /// Longest one statement may run on PostgreSQL before the server cancels it; on SQLite, how long a
    /// write waits for another process to release the file.
    pub statement_timeout: Duration,
    /// Longest a request waits for a connection; after that the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// SQLite's `synchronous` setting: what an answered write survives (PostgreSQL ignores it).
    pub sqlite_synchronous: Synchronous,
}

/// SQLite's `synchronous` pragma in WAL mode (`database.sqlite_synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// A commit reaches the operating system before it is answered and the disk at the next checkpoint:
    /// it survives the process crashing, but power loss or an operating-system crash may take the last
    /// commits back (never corrupting the file).
    #[default]
    Normal,
    /// Every commit is on the disk (fsync of the write-ahead log) before it is answered: it also
    /// survives power loss. Group commit pays that fsync once per batch, not once per request.
    Full,
}

impl std::str::FromStr for Synchronous {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value {
            "normal" => Ok(Synchronous::Normal),
            "full" => Ok(Synchronous::Full),
            _ => Err(()),
        }
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 16,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(2),
            sqlite_synchronous: Synchronous::Normal,
        }
    }
}

impl Store {
    /// How the connection pools stand, for metrics.
    pub fn pool_status(&self) -> PoolStatus {
        let of = PoolStatus::of;
        match self {
            Store::Sqlite(s) => {
                let (read, write) = s.pools();
                let r = of(
                    read.size(),
                    read.num_idle(),
                    read.options().get_max_connections(),
                );
                let w = of(
                    write.size(),
                    write.num_idle(),
                    write.options().get_max_connections(),
                );
                PoolStatus {
                    in_use: r.in_use.saturating_add(w.in_use),
                    idle: r.idle.saturating_add(w.idle),
                    max: r.max.saturating_add(w.max),
                    acquire_timeouts: r.acquire_timeouts,
                }
            }
            Store::Postgres(p) => {
                let pool = p.pool();
                of(
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        }
    }
}

/// Connections of the pools (on SQLite, the readers' and the writer's together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Lent out to a statement or transaction.
    pub in_use: u64,
    /// Open and waiting for work.
    pub idle: u64,
    /// The most the pools open.
    pub max: u64,
    /// Requests that waited for a connection until the acquire timeout, since the process started.
    pub acquire_timeouts: u64,
}

impl PoolStatus {
    /// One pool's status from sqlx's counters. sqlx keeps the size and the idle count in separate
    /// atomics, and the idle count can briefly wrap below zero while a connection is handed back: it
    /// is clamped to the size, or the sums over pools overflow (a panic in a debug build).
    fn of(size: u32, idle: usize, max: u32) -> PoolStatus {
        let size = u64::from(size);
        let idle = u64::try_from(idle).unwrap_or(u64::MAX).min(size);
        PoolStatus {
            in_use: size - idle,
            idle,
            max: u64::from(max),
            acquire_timeouts: ACQUIRE_TIMEOUTS.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PoolStatus;

    #[test]
    fn an_idle_count_that_wrapped_below_zero_reads_as_all_idle_not_as_an_overflow() {
        let wrapped = PoolStatus::of(3, usize::MAX, 8);
        assert_eq!((wrapped.in_use, wrapped.idle, wrapped.max), (0, 3, 8));
        // Two such pools summed, as the SQLite store does, stay small.
        let sum = wrapped
            .idle
            .saturating_add(PoolStatus::of(1, usize::MAX, 1).idle);
        assert_eq!(sum, 4);
        let normal = PoolStatus::of(5, 2, 8);
        assert_eq!((normal.in_use, normal.idle), (3, 2));
    }
}
