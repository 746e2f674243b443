//! Group commit: the writes of concurrent requests on the hot paths (opaque access tokens, the
//! deny-list, spending codes and refresh tokens, recording issued tokens, codes, sessions, consents)
//! share one transaction and one commit, and each request is answered only after the commit that
//! holds its write.
//!
//! On SQLite one task takes every write queued while the previous commit ran (no timer: a write that
//! arrives alone is committed at once, as a single statement when it is one) and runs them in order
//! in one transaction on the writer connection: one WAL append per batch instead of one per request
//! (and with `synchronous = FULL`, one fsync). PostgreSQL commits each write on its own for now
//! (`Committer::direct`, see `postgres.rs` for why); the writes are the same `Write`s, so batching
//! there is a change of this module only.
//!
//! # Security
//! The single-use writes keep their meaning: a spend is the same conditional `UPDATE … WHERE used_at
//! IS NULL` and its outcome is only reported after its batch committed, so of two spends of one code,
//! in one batch or two, exactly one reports `true`. If a batch fails because a statement was refused,
//! nothing of it was committed and each write runs again alone, so the failure stays with the write
//! that caused it. If it fails because the database is unavailable (the commit's outcome may be
//! unknown, say a connection lost during `COMMIT`), nothing is retried: every write of the batch
//! fails with 503, as a lone write would, and no spend is ever attempted twice.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Database, Pool};
use tokio::sync::{mpsc, oneshot};

use latchkey_core::grant::Grant;
use latchkey_core::grant::GrantId;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
use latchkey_core::token::RefreshTokenRecord;
use latchkey_core::types::Timestamp;

use crate::StoreError;
use crate::error::Result;

/// Most writes one commit holds; more wait for the next.
const MAX_BATCH: usize = 256;
/// Writes queued at most; a request beyond waits for room (back-pressure, not unbounded memory).
const QUEUE: usize = 4096;

/// One write a request waits on. Its outcome is a number: rows changed for a statement (a spend
/// changed one row or none), 1 or 0 for `Issued` (recorded, or the grant is not live).
pub(crate) enum Write {
    /// One statement and its arguments in order (`$1`, `$2`, …).
    Statement(&'static str, Vec<Arg>),
    /// `TokenStore::record_issued`: the access token's record and its refresh token, only while the
    /// grant is live (L3).
    Issued {
        jti: String,
        grant_id: GrantId,
        expires_at: Timestamp,
        refresh: Option<RefreshTokenRecord>,
    },
    /// `GrantStore::insert_code`: a grant and its code.
    GrantCode(Box<(Grant, AuthorizationCodeRecord)>),
}

/// An argument of `Write::Statement`.
pub(crate) enum Arg {
    Bytes(Vec<u8>),
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

/// Binds a `Write::Statement`'s arguments to `sqlx::query($statement)`; a macro so that each backend
/// expands it with its own argument types.
macro_rules! bind_args {
    ($statement:expr, $args:expr) => {{
        let mut query = sqlx::query($statement);
        for arg in $args {
            query = match arg {
                crate::commit::Arg::Bytes(b) => query.bind(b.as_slice()),
                crate::commit::Arg::Text(t) => query.bind(t.as_str()),
                crate::commit::Arg::OptText(t) => query.bind(t.as_deref()),
                crate::commit::Arg::Int(i) => query.bind(*i),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// What a backend says its own way: how a batch begins, how each write runs on a connection, and
/// which writes are one statement (atomic without a transaction around them).
pub(crate) trait Backend: Database {
    /// The statement that opens a batch.
    const BEGIN: &'static str;

    /// Runs `write` on `conn`, inside the batch's transaction or (when `single_statement`) alone.
    fn apply<'c>(
        conn: &'c mut Self::Connection,
        write: &'c Write,
    ) -> impl Future<Output = Result<u64>> + Send + 'c;

    /// Whether `write` is one statement, so that alone it needs no `BEGIN` and `COMMIT`.
    fn single_statement(write: &Write) -> bool;
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<u64>>,
}

/// The queue into a store's committing task, or (`Committer::direct`) none.
pub(crate) struct Committer<DB: Database> {
    queue: Option<mpsc::Sender<Job>>,
    pool: Pool<DB>,
    counts: Arc<Counts>,
}

impl<DB: Database> Clone for Committer<DB> {
    fn clone(&self) -> Self {
        Committer {
            queue: self.queue.clone(),
            pool: self.pool.clone(),
            counts: self.counts.clone(),
        }
    }
}

/// How many commits group commit made and how many writes they held, since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCommits {
    /// Commits (a lone single-statement write counts as one).
    pub commits: u64,
    /// Writes committed.
    pub writes: u64,
}

#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Counts {
    fn committed(&self, writes: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes
            .fetch_add(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl<DB: Database> std::fmt::Debug for Committer<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer").finish_non_exhaustive()
    }
}

impl<DB: Backend> Committer<DB> {
    /// Starts the committing task on `pool` (the writer's). It ends when every `Committer` is gone.
    pub(crate) fn start(pool: Pool<DB>) -> Committer<DB> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run::<DB>(pool.clone(), jobs, counts.clone()));
        Committer {
            queue: Some(queue),
            pool,
            counts,
        }
    }

    /// No queue: each write commits on its own, in its caller's task, on any pooled connection.
    pub(crate) fn direct(pool: Pool<DB>) -> Committer<DB> {
        Committer {
            queue: None,
            pool,
            counts: Arc::new(Counts::default()),
        }
    }

    /// The commits made so far.
    pub(crate) fn counts(&self) -> GroupCommits {
        GroupCommits {
            commits: self.counts.commits.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Queues `write` and waits until the commit that holds it ended; its outcome.
    pub(crate) async fn write(&self, write: Write) -> Result<u64> {
        let Some(queue) = &self.queue else {
            return alone::<DB>(&self.pool, &write, &self.counts).await;
        };
        let (done, outcome) = oneshot::channel();
        queue
            .send(Job { write, done })
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?
    }
}

async fn run<DB: Backend>(pool: Pool<DB>, mut queue: mpsc::Receiver<Job>, counts: Arc<Counts>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // A request that stopped waiting (its client went away, or it timed out) is not written:
        // nobody would be told whether it was.
        jobs.retain(|job| !job.done.is_closed());
        commit::<DB>(&pool, &mut jobs, &counts).await;
    }
}

/// Commits `jobs` (emptying it) and answers each.
async fn commit<DB: Backend>(pool: &Pool<DB>, jobs: &mut Vec<Job>, counts: &Counts) {
    if jobs.len() <= 1 {
        for job in jobs.drain(..) {
            let outcome = alone::<DB>(pool, &job.write, counts).await;
            let _ = job.done.send(outcome);
        }
        return;
    }
    match batch::<DB>(pool, jobs.iter().map(|job| &job.write)).await {
        Ok(outcomes) => {
            counts.committed(outcomes.len());
            let mut outcomes = outcomes.into_iter();
            answer(jobs.drain(..), |_| {
                outcomes
                    .next()
                    .ok_or_else(|| StoreError::Corrupt("a batch lost an outcome".into()))
            });
        }
        Err(e) if rolled_back(&e) => {
            for job in jobs.drain(..) {
                let outcome = alone::<DB>(pool, &job.write, counts).await;
                let _ = job.done.send(outcome);
            }
        }
        Err(e) => answer(jobs.drain(..), |_| Err(shared(&e))),
    }
}

fn answer(jobs: impl Iterator<Item = Job>, mut outcome: impl FnMut(&Write) -> Result<u64>) {
    for job in jobs {
        // The requester may have stopped waiting since the batch began: nothing to tell it.
        let _ = job.done.send(outcome(&job.write));
    }
}

/// `writes` in one transaction: their outcomes in order, or the first error (nothing committed).
async fn batch<'w, DB: Backend>(
    pool: &Pool<DB>,
    writes: impl Iterator<Item = &'w Write>,
) -> Result<Vec<u64>> {
    let mut tx = pool.begin_with(DB::BEGIN).await?;
    let mut outcomes = Vec::with_capacity(MAX_BATCH);
    for write in writes {
        outcomes.push(DB::apply(&mut tx, write).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// One write alone: a single statement as it is, anything longer in a transaction of its own.
async fn alone<DB: Backend>(pool: &Pool<DB>, write: &Write, counts: &Counts) -> Result<u64> {
    let outcome = if DB::single_statement(write) {
        let mut conn = pool.acquire().await?;
        DB::apply(&mut conn, write).await?
    } else {
        batch::<DB>(pool, std::iter::once(write)).await?[0]
    };
    counts.committed(1);
    Ok(outcome)
}

/// Whether a batch that failed with `e` certainly committed nothing and may run again write by
/// write: a statement was refused, or PostgreSQL rolled the transaction back to resolve a deadlock
/// or a serialization failure. Anything else (a lost connection, a timeout) leaves the outcome
/// unknown or the database unable to serve.
fn rolled_back(e: &StoreError) -> bool {
    match e {
        StoreError::Database(_) | StoreError::Conflict(_) | StoreError::Corrupt(_) => true,
        StoreError::Unavailable(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

/// `e` for each write of a failed batch (`StoreError` is not `Clone`: it holds the driver's error).
fn shared(e: &StoreError) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Protocol(format!("a group commit failed: {e}")))
}
