//! Password checks for the login page: Argon2id off the async workers, at most one per core at a time,
//! each with working memory taken from a small pool, so concurrent logins neither starve other
//! requests nor grow the process by 19 MiB each.
//!
//! # Security
//! `spawn_blocking` runs to the end even when the request that started it is dropped (a client that
//! disconnects, the request timeout). So the concurrency permit and the working memory belong to the
//! blocking task itself: the permit is released and the memory returned to the pool only when the hash
//! is done, never when the request goes away. Otherwise a client sending logins and hanging up a few
//! milliseconds later would start unbounded parallel 19 MiB hashes (M4).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use latchkey_core::password::{HashMemory, Password, PasswordHash};
use tokio::sync::Semaphore;

/// The pool.
#[derive(Debug)]
pub(crate) struct PasswordChecker {
    permits: Arc<Semaphore>,
    memory: Mutex<Vec<HashMemory>>,
    decoy: OnceLock<PasswordHash>,
    /// Hashes running now, and the most ever running at once.
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl PasswordChecker {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_permits(cores)
    }

    fn with_permits(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            memory: Mutex::new(Vec::new()),
            decoy: OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user) against a decoy, so the
    /// time taken does not tell whether the username exists.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        password: Password,
        stored: Option<PasswordHash>,
    ) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the hash is done, whether or not anyone still waits for the answer.
            let _permit = permit;
            let running = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            this.peak.fetch_max(running, Ordering::SeqCst);
            let mut memory = this.take_memory();
            let decoy = this
                .decoy
                .get_or_init(|| PasswordHash::decoy(&mut memory))
                .clone();
            let matches = password.verify_with(stored.as_ref().unwrap_or(&decoy), &mut memory);
            this.memory
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(memory);
            this.in_flight.fetch_sub(1, Ordering::SeqCst);
            stored.is_some() && matches
        })
        .await
        .unwrap_or(false)
    }

    fn take_memory(&self) -> HashMemory {
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Peak resident set of this process, in KiB (Linux).
    fn peak_rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn m4_dropped_logins_cannot_start_unbounded_hashes() {
        let checker = Arc::new(PasswordChecker::with_permits(2));
        let stored = Password::new("correct horse".into()).hash();
        let before = peak_rss_kib();
        // Sixty logins whose requests go away a moment after they start hashing.
        for _ in 0..60 {
            let (checker, stored) = (checker.clone(), stored.clone());
            let login = tokio::spawn(async move {
                checker
                    .verify(Password::new("guess".into()), Some(stored))
                    .await
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
            login.abort();
        }
        // Every hash still finishes, two at a time, and gives its memory back to the pool.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while checker.in_flight.load(Ordering::SeqCst) > 0
            || checker.permits.available_permits() < 2
        {
            assert!(tokio::time::Instant::now() < deadline, "hashes never ended");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let peak = checker.peak.load(Ordering::SeqCst);
        assert!(peak <= 2, "{peak} hashes ran at once");
        assert!(checker.memory.lock().unwrap().len() <= 2, "memory reused");
        if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
            // Two 19 MiB working areas, with room for the allocator: nowhere near 60 × 19 MiB.
            assert!(
                after.saturating_sub(before) < 160 * 1024,
                "peak RSS grew by {} KiB",
                after - before
            );
        }
        assert!(
            checker
                .verify(Password::new("correct horse".into()), Some(stored))
                .await
        );
    }
}
