//! `StoreError`, and how a driver error is classified: the database cannot serve now (503) or a
//! statement was wrong (500), read from PostgreSQL's SQLSTATE and SQLite's result codes.

/// What the roles' implementations return.
pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A storage failure. "Not found" is never an error: lookups return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused a statement.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot serve right now: unreachable, shutting down, out of connections, too slow,
    /// read-only, or (SQLite) its file cannot be written. A later attempt may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database's schema is not the one this build expects; the text says which way and what to do.
    #[error("{0}")]
    Schema(String),
    /// A migration failed or the database has migrations this build does not know.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses: written by another version, or edited by hand.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An insert collided with an existing row.
    #[error("{0}")]
    Conflict(String),
    /// The database URL names no backend Latchkey has.
    #[error("{0}")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            crate::pool::ACQUIRE_TIMEOUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether an error says the database cannot serve at the moment, rather than that a statement was
/// wrong: the server answers the first with 503 `temporarily_unavailable`, the second with 500.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // PostgreSQL SQLSTATEs (Appendix A): connection exceptions, insufficient resources,
                // operator intervention (shutdown, cancelled by statement_timeout), a read-only
                // standby, and the two "try again" transaction rollbacks.
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || matches!(code, "25006" | "40001" | "40P01")
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's extended result codes: the primary code is the low byte. BUSY, LOCKED,
                // READONLY, IOERR, FULL, CANTOPEN: the file, not the statement, is the problem.
                db.code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// `Conflict(message())` when `result` failed on a unique key (an insert of something that exists);
/// any other failure as it is.
pub(crate) fn conflict_if_unique<T>(
    result: Result<T, sqlx::Error>,
    message: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict(message()))
        }
        Err(e) => Err(e.into()),
    }
}
