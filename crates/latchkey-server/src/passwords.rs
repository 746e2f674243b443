//! Password checks for the login page: Argon2id off the async workers, at most one per core at a time,
//! each with working memory taken from a small pool, so concurrent logins neither starve other
//! requests nor grow the process by 19 MiB each.
use std::sync::{Arc, Mutex, OnceLock};

use latchkey_core::password::{HashMemory, Password, PasswordHash};
use tokio::sync::Semaphore;

/// The pool.
#[derive(Debug)]
pub(crate) struct PasswordChecker {
    permits: Semaphore,
    memory: Mutex<Vec<HashMemory>>,
    decoy: OnceLock<PasswordHash>,
}

impl PasswordChecker {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            permits: Semaphore::new(cores),
            memory: Mutex::new(Vec::new()),
            decoy: OnceLock::new(),
        }
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user) against a decoy, so the
    /// time taken does not tell whether the username exists.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        password: Password,
        stored: Option<PasswordHash>,
    ) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let this = self.clone();
        let (result, memory) = tokio::task::spawn_blocking(move || {
            let decoy = this
                .decoy
                .get_or_init(|| PasswordHash::decoy(&mut memory))
                .clone();
            let matches = password.verify_with(stored.as_ref().unwrap_or(&decoy), &mut memory);
            (stored.is_some() && matches, memory)
        })
        .await
        .unwrap_or_else(|_| (false, HashMemory::new()));
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
        result
    }
}
