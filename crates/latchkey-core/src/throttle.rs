//! Failed-login throttling (OWASP ASVS V2.2.1, NIST SP 800-63B §5.2.2): after a few failures for an
//! account or a client address each attempt waits longer, and after more the key is locked for a while.
//!
//! An attempt is *reserved* before its password is checked and counted as a failure from that moment;
//! settling it as a success undoes that. So parallel guesses cannot all pass one check before any of
//! them counts, an attempt whose request is cancelled mid-check stays a failure, and a cap on attempts
//! in flight per key keeps a burst from queueing thousands of checks. The counters live wherever the
//! caller keeps them (the database, shared by every instance); these functions only decide.
use std::time::Duration;

use aws_lc_rs::digest;

use crate::types::Timestamp;

/// The limits for one kind of key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Failures before attempts start to wait.
    pub delay_after: u32,
    /// Failures before the key is locked.
    pub lock_after: u32,
    /// How long a lock lasts, and how long failures are remembered, in seconds.
    pub lock_seconds: u64,
    /// Attempts that may be in flight (reserved, not settled) at once; 0 for no cap.
    pub max_in_flight: u32,
}

impl Limits {
    /// The same limits without a lock or an in-flight cap, for a key shared by many people (a trusted
    /// proxy's own address): they may be slowed down, never shut out as a whole.
    pub fn delay_only(self) -> Limits {
        Limits {
            lock_after: u32::MAX,
            max_in_flight: 0,
            ..self
        }
    }
}

/// What one key's counter holds. A key never seen before is `Counter::default()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Failures within the memory window, counting attempts in flight.
    pub failures: u32,
    /// When the last attempt was reserved.
    pub last_failure: Timestamp,
    /// Until when the key is locked.
    pub locked_until: Option<Timestamp>,
    /// Attempts reserved and not yet settled.
    pub in_flight: u32,
    /// When `in_flight` stops counting: an attempt whose process died is never settled, so reservations
    /// expire once no request could still be running.
    pub in_flight_until: Timestamp,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            failures: 0,
            last_failure: Timestamp(0),
            locked_until: None,
            in_flight: 0,
            in_flight_until: Timestamp(0),
        }
    }
}

/// Why an attempt may not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The account or the address is locked.
    Locked,
    /// Too many attempts for the account or address are being checked right now.
    Busy,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right.
    Success,
    /// The password was wrong, or the check never finished (the request was cancelled).
    Failure,
}

/// Which key a counter belongs to; an account's success clears it, an address's does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A username.
    Account,
    /// A client address (an IPv4 address or an IPv6 /64).
    Address,
}

/// A counter's key as stored: SHA-256 of its kind and value, so every key has one size whatever a
/// client typed as username, and stored keys name no one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThrottleKey([u8; 32]);

impl ThrottleKey {
    /// The key of an account.
    pub fn account(username: &str) -> ThrottleKey {
        ThrottleKey::of("account", username)
    }

    /// The key of a client address.
    pub fn address(address: &str) -> ThrottleKey {
        ThrottleKey::of("address", address)
    }

    /// The key of a rate-limited event from an address, e.g. `("register", "192.0.2.1")`.
    pub fn event(kind: &str, address: &str) -> ThrottleKey {
        ThrottleKey::of(&format!("event:{kind}"), address)
    }

    fn of(kind: &str, value: &str) -> ThrottleKey {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(kind.as_bytes());
        context.update(&[0]);
        context.update(value.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(context.finish().as_ref());
        ThrottleKey(bytes)
    }

    /// A key as read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> ThrottleKey {
        ThrottleKey(bytes)
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// One key of an attempt: what it is, and its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptKey {
    /// The key.
    pub key: ThrottleKey,
    /// Account or address.
    pub kind: KeyKind,
    /// Its limits.
    pub limits: Limits,
}

/// The wait before a check, given the failures already counted: 250 ms once `delay_after` is reached,
/// doubling per further failure, capped at 4 s.
fn wait_for(failures: u32, limits: &Limits) -> Duration {
    if failures < limits.delay_after {
        return Duration::ZERO;
    }
    let extra = (failures - limits.delay_after).min(4);
    Duration::from_millis(250 << extra)
}

/// The counter as it stands at `now`: failures older than the memory window and expired locks and
/// reservations forgotten.
fn current(counter: Counter, limits: &Limits, now: Timestamp) -> Counter {
    let mut c = counter;
    if c.locked_until.is_some_and(|until| now >= until) {
        c.locked_until = None;
    }
    if c.locked_until.is_none() && now >= c.last_failure.plus(limits.lock_seconds) {
        c.failures = 0;
    }
    if now >= c.in_flight_until {
        c.in_flight = 0;
    }
    c
}

/// Reserves an attempt under every one of `keys` (whose counters are `counters`, in the same order):
/// the new counters and the wait before checking, or why not. A refusal changes nothing.
///
/// `hold_seconds` is how long the reservation counts as in flight if it is never settled: longer than
/// any request may run.
pub fn reserve(
    keys: &[AttemptKey],
    counters: &[Counter],
    now: Timestamp,
    hold_seconds: u64,
) -> Result<(Vec<Counter>, Duration), Refusal> {
    let current: Vec<Counter> = keys
        .iter()
        .zip(counters)
        .map(|(k, c)| current(*c, &k.limits, now))
        .collect();
    if current.iter().any(|c| c.locked_until.is_some()) {
        return Err(Refusal::Locked);
    }
    let busy = keys
        .iter()
        .zip(&current)
        .any(|(k, c)| k.limits.max_in_flight > 0 && c.in_flight >= k.limits.max_in_flight);
    if busy {
        return Err(Refusal::Busy);
    }
    let mut wait = Duration::ZERO;
    let reserved = keys
        .iter()
        .zip(current)
        .map(|(k, c)| {
            wait = wait.max(wait_for(c.failures, &k.limits));
            let failures = c.failures.saturating_add(1);
            Counter {
                failures,
                last_failure: now,
                locked_until: (failures >= k.limits.lock_after)
                    .then(|| now.plus(k.limits.lock_seconds)),
                in_flight: c.in_flight.saturating_add(1),
                in_flight_until: now.plus(hold_seconds),
            }
        })
        .collect();
    Ok((reserved, wait))
}

/// Settles an attempt reserved under `keys`: a success clears the account and takes back the failure the
/// reservation counted against the address (a success for one account says nothing about guesses at
/// others from the same address); a failure stays counted.
pub fn settle(
    keys: &[AttemptKey],
    counters: &[Counter],
    outcome: Outcome,
    now: Timestamp,
) -> Vec<Counter> {
    keys.iter()
        .zip(counters)
        .map(|(k, c)| {
            let mut c = *c;
            // A reservation that already expired was released by time; releasing it again would
            // release someone else's.
            if now < c.in_flight_until {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
            match (outcome, k.kind) {
                (Outcome::Failure, _) => {}
                (Outcome::Success, KeyKind::Account) => {
                    c.failures = 0;
                    c.locked_until = None;
                }
                (Outcome::Success, KeyKind::Address) => {
                    c.failures = c.failures.saturating_sub(1);
                    if c.failures < k.limits.lock_after {
                        c.locked_until = None;
                    }
                }
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: Limits = Limits {
        delay_after: 3,
        lock_after: 5,
        lock_seconds: 900,
        max_in_flight: 2,
    };
    const ADDRESS: Limits = Limits {
        delay_after: 10,
        lock_after: 20,
        lock_seconds: 900,
        max_in_flight: 8,
    };

    fn keys(user: &str, address: &str) -> [AttemptKey; 2] {
        [
            AttemptKey {
                key: ThrottleKey::account(user),
                kind: KeyKind::Account,
                limits: ACCOUNT,
            },
            AttemptKey {
                key: ThrottleKey::address(address),
                kind: KeyKind::Address,
                limits: ADDRESS,
            },
        ]
    }

    /// Reserves and settles one failed attempt, as a login with a wrong password does.
    fn fail(keys: &[AttemptKey], counters: &mut Vec<Counter>, now: Timestamp) -> Duration {
        let (reserved, wait) = reserve(keys, counters, now, 20).unwrap();
        *counters = settle(keys, &reserved, Outcome::Failure, now);
        wait
    }

    #[test]
    fn failures_slow_down_then_lock_and_expire() {
        let k = keys("alice", "192.0.2.1");
        let mut c = vec![Counter::default(); 2];
        let now = Timestamp(1000);
        let waits: Vec<Duration> = (0..5).map(|_| fail(&k, &mut c, now)).collect();
        assert_eq!(
            waits,
            [0, 0, 0, 250, 500].map(Duration::from_millis),
            "the fourth and fifth attempts wait"
        );
        assert_eq!(reserve(&k, &c, now, 20), Err(Refusal::Locked));
        let other_address = keys("alice", "198.51.100.1");
        let c2 = vec![c[0], Counter::default()];
        assert_eq!(
            reserve(&other_address, &c2, now, 20),
            Err(Refusal::Locked),
            "the account is locked from anywhere"
        );
        let (_, wait) = reserve(&k, &c, now.plus(900), 20).unwrap();
        assert_eq!(wait, Duration::ZERO, "lock and failures expire together");
    }

    #[test]
    fn an_attempt_counts_as_a_failure_before_its_check_ends() {
        let k = keys("alice", "192.0.2.1");
        let now = Timestamp(1000);
        let (reserved, _) = reserve(&k, &[Counter::default(); 2], now, 20).unwrap();
        assert_eq!(reserved[0].failures, 1);
        assert_eq!(reserved[0].in_flight, 1);
        // Never settled (the request was dropped): once the hold ends, the slot is free again but
        // the failure stays.
        let later = now.plus(21);
        let (again, _) = reserve(&k, &reserved, later, 20).unwrap();
        assert_eq!(again[0].failures, 2);
        assert_eq!(again[0].in_flight, 1);
    }

    #[test]
    fn at_most_max_in_flight_attempts_per_account_run_at_once() {
        let k = keys("alice", "192.0.2.1");
        let now = Timestamp(1000);
        let (one, _) = reserve(&k, &[Counter::default(); 2], now, 20).unwrap();
        let (two, _) = reserve(&k, &one, now, 20).unwrap();
        assert_eq!(reserve(&k, &two, now, 20), Err(Refusal::Busy));
        let settled = settle(&k, &two, Outcome::Failure, now);
        assert!(reserve(&k, &settled, now, 20).is_ok());
    }

    #[test]
    fn parallel_reservations_lock_after_exactly_lock_after_attempts() {
        // However the attempts interleave, the lock_after-th reservation locks the key: no more than
        // lock_after passwords are ever checked within the window.
        let k = keys("alice", "192.0.2.1");
        let now = Timestamp(1000);
        let mut c = vec![Counter::default(); 2];
        let mut checked = 0;
        loop {
            match reserve(&k, &c, now, 20) {
                Ok((reserved, _)) => {
                    c = reserved;
                    checked += 1;
                }
                // One of the checks in flight ends, wrong.
                Err(Refusal::Busy) => c = settle(&k, &c, Outcome::Failure, now),
                Err(Refusal::Locked) => break,
            }
        }
        assert_eq!(checked, ACCOUNT.lock_after);
    }

    #[test]
    fn success_clears_the_account_and_takes_back_the_address_failure() {
        let k = keys("alice", "192.0.2.1");
        let now = Timestamp(1000);
        let mut c = vec![Counter::default(); 2];
        for _ in 0..4 {
            fail(&k, &mut c, now);
        }
        let (reserved, _) = reserve(&k, &c, now, 20).unwrap();
        assert!(
            reserved[0].locked_until.is_some(),
            "the fifth reserves the lock"
        );
        let settled = settle(&k, &reserved, Outcome::Success, now);
        assert_eq!(settled[0].failures, 0);
        assert_eq!(settled[0].locked_until, None);
        assert_eq!(settled[0].in_flight, 0);
        assert_eq!(
            settled[1].failures, 4,
            "only this attempt's failure is taken back"
        );
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked() {
        let now = Timestamp(1000);
        let mut address = Counter::default();
        for i in 0..20 {
            let k = keys(&format!("user{i}"), "192.0.2.9");
            let mut c = vec![Counter::default(), address];
            fail(&k, &mut c, now);
            address = c[1];
        }
        let k = keys("someone-new", "192.0.2.9");
        assert_eq!(
            reserve(&k, &[Counter::default(), address], now, 20),
            Err(Refusal::Locked)
        );
    }

    #[test]
    fn a_shared_address_slows_down_but_is_never_locked_or_capped() {
        let shared = AttemptKey {
            key: ThrottleKey::address("10.0.0.1"),
            kind: KeyKind::Address,
            limits: ADDRESS.delay_only(),
        };
        let now = Timestamp(1000);
        let mut c = vec![Counter::default()];
        for _ in 0..1000 {
            let (reserved, _) = reserve(&[shared], &c, now, 20).unwrap();
            c = reserved;
        }
        let (_, wait) = reserve(&[shared], &c, now, 20).unwrap();
        assert_eq!(wait, Duration::from_secs(4));
    }

    #[test]
    fn keys_of_different_kinds_never_collide() {
        assert_ne!(
            ThrottleKey::account("1.2.3.4"),
            ThrottleKey::address("1.2.3.4")
        );
        assert_ne!(
            ThrottleKey::event("register", "1.2.3.4"),
            ThrottleKey::address("1.2.3.4")
        );
        assert_eq!(ThrottleKey::account("bob"), ThrottleKey::account("bob"));
    }
}
