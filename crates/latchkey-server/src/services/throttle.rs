//! Failed-login throttling (per account and per client address) and the registration rate limit,
//! counted in the database so that every instance on it enforces one limit (issue 15). The rules live
//! in `latchkey_core::throttle`.
//!
//! # Security
//! An attempt is reserved, and counted as a failure, before its password is checked; a success settles
//! it back (review M3). Parallel guesses therefore cannot all pass one check, and an attempt whose request
//! is dropped mid-check stays a failure. A client address that is a trusted proxy's own (the request
//! could not be attributed further) is shared by everyone behind it: it slows down but is never locked
//! or capped as a whole (review M5). Nothing here sweeps on the request path: expired rows are pruned
//! by the server's periodic task (review L7).
use std::convert::Infallible;
use std::time::Duration;

use latchkey_core::throttle::{self, AttemptKey, KeyKind, Outcome, Refusal, ThrottleKey};
use latchkey_core::types::Timestamp;
use latchkey_store::{Store, StoreError, ThrottleStore};

pub use latchkey_core::throttle::Limits;

use super::client_address::ClientAddress;
use super::clock::Clock;
use crate::settings::ThrottleSettings;

/// A login attempt, reserved under its account and its address. Settle it with the outcome; if it is
/// dropped unsettled (the request was cancelled mid-check), its failure stays counted and its slot
/// is given back in the background.
pub(crate) struct Attempt {
    store: Store,
    clock: Clock,
    keys: Vec<AttemptKey>,
    settled: bool,
}

/// Failed-login throttling for the login page.
#[derive(Debug)]
pub struct LoginLockout {
    store: Store,
    clock: Clock,
    settings: ThrottleSettings,
    /// Seconds a reserved attempt holds its slot: longer than any request may run, so an attempt whose
    /// process died stops holding it then.
    hold: u64,
}

impl LoginLockout {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        settings: ThrottleSettings,
        request_timeout: Duration,
    ) -> Self {
        LoginLockout {
            store,
            clock,
            settings,
            hold: request_timeout.as_secs() + 1,
        }
    }

    /// Reserves a login attempt for `username` from `address`: the attempt and how long to wait
    /// before checking its password, or why it may not be made.
    pub(crate) async fn reserve(
        &self,
        username: &str,
        address: &ClientAddress,
    ) -> Result<Result<(Attempt, Duration), Refusal>, StoreError> {
        let settings = self.settings;
        let address_limits = match address.is_trusted_proxy() {
            true => settings.address.delay_only(),
            false => settings.address,
        };
        let keys = vec![
            AttemptKey {
                key: ThrottleKey::account(username),
                kind: KeyKind::Account,
                limits: settings.account,
            },
            AttemptKey {
                key: ThrottleKey::address(&address.limit_key().to_string()),
                kind: KeyKind::Address,
                limits: address_limits,
            },
        ];
        let now = self.clock.now();
        let ids: Vec<ThrottleKey> = keys.iter().map(|k| k.key).collect();
        let decided = self
            .store
            .update_counters(&ids, |counters| {
                throttle::reserve(&keys, counters, now, self.hold)
            })
            .await?;
        Ok(decided.map(|wait| {
            let attempt = Attempt {
                store: self.store.clone(),
                clock: self.clock.clone(),
                keys,
                settled: false,
            };
            (attempt, wait)
        }))
    }
}

impl Attempt {
    /// Records how the attempt ended.
    pub(crate) async fn settle(mut self, outcome: Outcome) -> Result<(), StoreError> {
        self.settled = true;
        settle(&self.store, &self.keys, outcome, self.clock.now()).await
    }
}

async fn settle(
    store: &Store,
    keys: &[AttemptKey],
    outcome: Outcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    let ids: Vec<ThrottleKey> = keys.iter().map(|k| k.key).collect();
    store
        .update_counters(&ids, |counters| {
            Ok::<_, Infallible>((throttle::settle(keys, counters, outcome, now), ()))
        })
        .await?
        .unwrap_or_else(|never| match never {});
    Ok(())
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, keys, now) = (
            self.store.clone(),
            std::mem::take(&mut self.keys),
            self.clock.now(),
        );
        // Without a runtime (shutdown) the hold expires the slot instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = settle(&store, &keys, Outcome::Failure, now).await {
                    tracing::warn!(error = %e, "settling a cancelled login attempt failed");
                }
            });
        }
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
    let window_start = now.minute_start();
    Ok(store.count_event(&key, window_start).await? <= per_minute)
}
