//! Failed-login throttling per account and per client IP: after a few failures each attempt waits
//! longer, and after more the key is locked for a while. Unknown usernames are counted exactly like
//! known ones, so the answers never reveal whether an account exists.
//!
//! The counters live in this instance's memory: several instances each enforce the limits on the
//! attempts they see.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use latchkey_core::throttle::ThrottleKey;
use latchkey_core::types::Timestamp;
use latchkey_store::{Store, StoreError, ThrottleStore};

use crate::client_address::ClientAddress;

/// Limits for one kind of key.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failures before attempts start to wait.
    pub delay_after: u32,
    /// Failures before the key is locked.
    pub lock_after: u32,
    /// How long a lock lasts, and how long failures are remembered, in seconds.
    pub lock_seconds: u64,
}

/// Throttling settings.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    /// Per username.
    pub account: Limits,
    /// Per client IP address: higher, since one address may serve many people.
    pub address: Limits,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Timestamp,
    locked_until: Option<Timestamp>,
}

/// What to do with a login attempt before checking its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check it, after waiting this long.
    Proceed(Duration),
    /// Refuse it without checking: the account or address is locked.
    Locked,
}

/// The counters.
#[derive(Debug)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Beyond this many keys, stale ones are swept on the next failure, so memory stays bounded.
const SWEEP_ABOVE: usize = 10_000;

impl LoginThrottle {
    /// New, empty counters.
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Decides whether an attempt for `username` from `address` may proceed.
    pub fn check(&self, username: &str, address: &str, now: Timestamp) -> Verdict {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, limits) in self.pairs(username, address) {
            let Some(entry) = entries.get(&key) else {
                continue;
            };
            if entry.locked_until.is_some_and(|until| now < until) {
                return Verdict::Locked;
            }
            if now >= entry.last_failure.plus(limits.lock_seconds) {
                continue;
            }
            if entry.failures >= limits.delay_after {
                // 250 ms, doubling per further failure, capped at 4 s.
                let extra = (entry.failures - limits.delay_after).min(4);
                wait = wait.max(Duration::from_millis(250 << extra));
            }
        }
        Verdict::Proceed(wait)
    }

    /// Counts a failed attempt.
    pub fn record_failure(&self, username: &str, address: &str, now: Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > SWEEP_ABOVE {
            let horizon = self
                .settings
                .account
                .lock_seconds
                .max(self.settings.address.lock_seconds);
            entries.retain(|_, e| {
                now < e.last_failure.plus(horizon) || e.locked_until.is_some_and(|u| now < u)
            });
        }
        for (key, limits) in self.pairs(username, address) {
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            if now >= entry.last_failure.plus(limits.lock_seconds) {
                entry.failures = 0;
                entry.locked_until = None;
            }
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures >= limits.lock_after {
                entry.locked_until = Some(now.plus(limits.lock_seconds));
            }
        }
    }

    /// Clears the account's counter after a successful login. The address keeps its count: a
    /// success for one account says nothing about guesses at others from the same address.
    pub fn record_success(&self, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&account_key(username));
    }

    fn pairs(&self, username: &str, address: &str) -> [(String, Limits); 2] {
        [
            (account_key(username), self.settings.account),
            (format!("ip:{address}"), self.settings.address),
        ]
    }
}

/// Counts a registration from `address` in the database and says whether it is within
/// `registration.rate_limit` for this clock minute. The window is shared by every instance on the
/// database, so N instances do not give N times the limit.
pub(crate) async fn allow_registration(
    store: &Store,
    address: &ClientAddress,
    per_minute: u32,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let key = ThrottleKey::event("register", &address.limit_key().to_string());
    let window_start = Timestamp(now.0 - now.0.rem_euclid(60));
    Ok(store.count_event(&key, window_start).await? <= per_minute)
}

fn account_key(username: &str) -> String {
    format!("user:{username}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleSettings {
            account: Limits {
                delay_after: 3,
                lock_after: 5,
                lock_seconds: 900,
            },
            address: Limits {
                delay_after: 10,
                lock_after: 20,
                lock_seconds: 900,
            },
        })
    }

    #[test]
    fn failures_slow_down_then_lock_and_expire() {
        let t = throttle();
        let now = Timestamp(1000);
        for _ in 0..3 {
            assert_eq!(
                t.check("alice", "1.2.3.4", now),
                Verdict::Proceed(Duration::ZERO)
            );
            t.record_failure("alice", "1.2.3.4", now);
        }
        assert_eq!(
            t.check("alice", "1.2.3.4", now),
            Verdict::Proceed(Duration::from_millis(250))
        );
        t.record_failure("alice", "1.2.3.4", now);
        assert_eq!(
            t.check("alice", "1.2.3.4", now),
            Verdict::Proceed(Duration::from_millis(500))
        );
        t.record_failure("alice", "1.2.3.4", now);
        assert_eq!(
            t.check("alice", "5.6.7.8", now),
            Verdict::Locked,
            "the account, from anywhere"
        );
        assert_eq!(
            t.check("bob", "1.2.3.4", now),
            Verdict::Proceed(Duration::ZERO)
        );
        assert_eq!(
            t.check("alice", "1.2.3.4", now.plus(900)),
            Verdict::Proceed(Duration::ZERO)
        );
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked() {
        let t = throttle();
        let now = Timestamp(1000);
        for i in 0..20 {
            t.record_failure(&format!("user{i}"), "9.9.9.9", now);
        }
        assert_eq!(t.check("someone-new", "9.9.9.9", now), Verdict::Locked);
        assert_eq!(
            t.check("someone-new", "8.8.8.8", now),
            Verdict::Proceed(Duration::ZERO)
        );
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let t = throttle();
        let now = Timestamp(1000);
        for _ in 0..4 {
            t.record_failure("alice", "1.2.3.4", now);
        }
        t.record_success("alice");
        assert_eq!(
            t.check("alice", "10.0.0.1", now),
            Verdict::Proceed(Duration::ZERO)
        );
    }
}
