//! Rate limits per endpoint group (metadata and JWKS, token, introspection and revocation, authorization
//! and its pages, registration): a keyed GCRA (governor) per group, `limit` requests per `window`, keyed
//! by the authenticated client where there is one and by the client address otherwise. Every response of
//! a limited group carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds
//! until the budget is whole again); beyond the limit the answer is 429 with `Retry-After`.
//!
//! Limits are per instance: several instances behind one load balancer each enforce them on the
//! requests they see.
//!
//! # Security
//! The keyed state lives in [`BoundedStore`], never larger than `max_keys` entries per group: keys whose
//! state is indistinguishable from a fresh one are swept every few seconds, and while a flood of distinct
//! keys (addresses, invented client ids cannot get here) fills the store, every key it cannot hold shares
//! one overflow budget, so the flood is limited as one client and memory stays bounded. Keys already
//! known keep their own budgets.
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;

use super::client_address::ClientAddress;
use crate::http_error::{ErrorShape, HttpError};
use crate::settings::{Limit, RateLimitSettings};

/// How often stale keys are swept out of every group's store.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A group of endpoints sharing one limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The metadata document and the JWKS, per address.
    Discovery,
    /// The token endpoint, per authenticated client.
    Token,
    /// Introspection and revocation, per authenticated client.
    IntrospectionRevocation,
    /// The authorization endpoint, login and consent, per address.
    Authorization,
    /// Registration and its client URIs, per address.
    Registration,
}

impl Group {
    /// Every group, in the order of `RateLimitSettings`.
    pub const ALL: [Group; 5] = [
        Group::Discovery,
        Group::Token,
        Group::IntrospectionRevocation,
        Group::Authorization,
        Group::Registration,
    ];

    /// Whether requests are keyed by the client they authenticate (the address otherwise, and for
    /// public clients, which prove nothing, and failed authentications).
    pub fn keyed_by_client(self) -> bool {
        matches!(self, Group::Token | Group::IntrospectionRevocation)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whose budget a request spends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// An authenticated (confidential) client.
    Client(String),
    /// A client address, IPv6 grouped by /64 (`ClientAddress::limit_key`).
    Address(IpAddr),
}

/// The outcome of one check, and the headers that report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: seconds until the whole budget is back.
    pub reset: u64,
    /// `Retry-After`, when refused: seconds until one more request is allowed (at least 1).
    pub retry_after: u64,
}

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

impl Decision {
    /// Adds the rate-limit headers (and `Retry-After` when refused).
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(REMAINING.clone(), HeaderValue::from(self.remaining));
        headers.insert(RESET.clone(), HeaderValue::from(self.reset));
        if !self.allowed {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after));
        }
    }

    /// The 429 answer, in the configured error shape.
    pub fn refuse(&self, shape: ErrorShape) -> Response {
        let mut response = HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {} s", self.retry_after),
        )
        .respond(shape);
        self.apply(response.headers_mut());
        response
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One group's limiter.
pub struct GroupLimiter<C: Clock = DefaultClock> {
    limiter: governor::RateLimiter<LimitKey, BoundedStore, C, StateInformationMiddleware>,
    limit: Limit,
    period: Duration,
}

impl<C: Clock> std::fmt::Debug for GroupLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl GroupLimiter {
    /// A limiter on the monotonic clock.
    pub fn new(limit: Limit, max_keys: usize) -> GroupLimiter {
        GroupLimiter::with_clock(limit, max_keys, DefaultClock::default())
    }
}

impl<C: Clock> GroupLimiter<C> {
    /// A limiter on `clock` (tests use a fake one).
    pub fn with_clock(limit: Limit, max_keys: usize, clock: C) -> GroupLimiter<C> {
        // The configuration refuses a window shorter than its limit in nanoseconds.
        let period = limit.period().unwrap_or(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("the period is not zero")
            .allow_burst(limit.limit);
        GroupLimiter {
            limiter:
                governor::RateLimiter::<LimitKey, BoundedStore, C, StateInformationMiddleware>::new(
                    quota,
                    BoundedStore::new(max_keys),
                    clock,
                ),
            limit,
            period,
        }
    }

    /// Spends one request of `key`'s budget, if there is one left.
    pub fn check(&self, key: &LimitKey) -> Decision {
        let limit = self.limit.limit.get();
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit,
                    remaining,
                    reset: ceil_secs(self.period * (limit - remaining.min(limit))),
                    retry_after: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Decision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset: ceil_secs(wait + self.period * (limit - 1)),
                    retry_after: ceil_secs(wait).max(1),
                }
            }
        }
    }

    /// Drops keys whose budget is whole again (they are no different from unknown keys).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// Every group's limiter.
#[derive(Debug)]
pub struct RateLimits {
    groups: [Option<GroupLimiter>; 5],
    /// The shape of a 429's body.
    shape: ErrorShape,
}

impl RateLimits {
    /// Limiters for the groups that are on; refusals answer in `shape`.
    pub fn new(settings: &RateLimitSettings, shape: ErrorShape) -> RateLimits {
        RateLimits {
            groups: settings
                .groups
                .map(|limit| limit.map(|l| GroupLimiter::new(l, settings.max_keys))),
            shape,
        }
    }

    /// The 429 for a refused `decision`.
    pub(crate) fn refuse(&self, decision: Decision) -> Response {
        decision.refuse(self.shape)
    }

    /// The group's limiter, when it is limited.
    pub fn group(&self, group: Group) -> Option<&GroupLimiter> {
        self.groups[group.index()].as_ref()
    }

    /// Sweeps every group.
    pub fn sweep(&self) {
        for limiter in self.groups.iter().flatten() {
            limiter.sweep();
        }
    }
}

/// Keyed GCRA state with a hard bound: 16 shards of at most `max_keys / 16` keys each, and one overflow
/// state shared by the keys that find their shard full.
pub struct BoundedStore {
    shards: Box<[Mutex<HashMap<LimitKey, u64>>]>,
    per_shard: usize,
    overflow: Mutex<Option<u64>>,
    hasher: RandomState,
}

const SHARDS: usize = 16;

impl BoundedStore {
    fn new(max_keys: usize) -> BoundedStore {
        BoundedStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            overflow: Mutex::new(None),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &LimitKey) -> std::sync::MutexGuard<'_, HashMap<LimitKey, u64>> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StateStore for BoundedStore {
    type Key = LimitKey;

    fn measure_and_replace<T, F, E>(&self, key: &LimitKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut shard = self.shard(key);
        if let Some(tat) = shard.get_mut(key) {
            let (outcome, next) = f(Some(Nanos::from(*tat)))?;
            *tat = next.as_u64();
            return Ok(outcome);
        }
        if shard.len() < self.per_shard {
            let (outcome, next) = f(None)?;
            shard.insert(key.clone(), next.as_u64());
            return Ok(outcome);
        }
        drop(shard);
        let mut overflow = self
            .overflow
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (outcome, next) = f(overflow.map(Nanos::from))?;
        *overflow = Some(next.as_u64());
        Ok(outcome)
    }
}

impl ShrinkableKeyedStateStore<LimitKey> for BoundedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        let drop_below = drop_below.as_u64();
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .retain(|_, tat| *tat > drop_below);
        }
    }

    fn shrink_to_fit(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Only after a flood has gone: steady traffic keeps its capacity.
            if shard.capacity() > 4 * shard.len().max(16) {
                shard.shrink_to_fit();
            }
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the client-keyed groups' middleware hands the client-authentication extractor: the request's
/// address and a place for the decision, made once the client is known.
#[derive(Debug)]
pub(crate) struct LimitSlot {
    group: Group,
    address: ClientAddress,
    decision: OnceLock<Decision>,
}

impl LimitSlot {
    pub(crate) fn new(group: Group, address: ClientAddress) -> Self {
        LimitSlot {
            group,
            address,
            decision: OnceLock::new(),
        }
    }

    /// The decision made for this request, if one was.
    pub(crate) fn decision(&self) -> Option<&Decision> {
        self.decision.get()
    }
}

impl LimitSlot {
    /// Spends the budget of an authenticated client (the address's for a public client, which proves
    /// nothing); `Err` is the 429 to answer.
    pub(crate) fn check_client(
        &self,
        limits: &RateLimits,
        client: &latchkey_core::client::Client,
    ) -> Result<(), Refused> {
        let key = if client.is_public() {
            LimitKey::Address(self.address.limit_key())
        } else {
            LimitKey::Client(client.client_id.as_str().to_owned())
        };
        self.decide(limits, &key)
    }

    /// Spends the address's budget for a request that did not authenticate a client.
    pub(crate) fn check_address(&self, limits: &RateLimits) -> Result<(), Refused> {
        if self.address.is_trusted_proxy() {
            return Ok(());
        }
        self.decide(limits, &LimitKey::Address(self.address.limit_key()))
    }

    fn decide(&self, limits: &RateLimits, key: &LimitKey) -> Result<(), Refused> {
        let Some(limiter) = limits.group(self.group) else {
            return Ok(());
        };
        let decision = limiter.check(key);
        self.decision.set(decision).ok();
        if decision.allowed {
            Ok(())
        } else {
            Err(Refused {
                decision,
                shape: limits.shape,
            })
        }
    }
}

/// A refused request: answered 429.
#[derive(Debug)]
pub(crate) struct Refused {
    decision: Decision,
    shape: ErrorShape,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.decision.refuse(self.shape)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(
        limit: u32,
        window_secs: u64,
        max_keys: usize,
    ) -> (GroupLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limit = Limit {
            limit: NonZeroU32::new(limit).unwrap(),
            window: Duration::from_secs(window_secs),
        };
        (
            GroupLimiter::with_clock(limit, max_keys, clock.clone()),
            clock,
        )
    }

    fn address(n: u32) -> LimitKey {
        LimitKey::Address(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn a_key_gets_its_limit_per_window_then_waits() {
        let (limiter, clock) = limiter(3, 60, 100);
        let key = LimitKey::Client("svc".into());
        let remaining: Vec<u32> = (0..3).map(|_| limiter.check(&key).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check(&key);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 20, "one request comes back every 20 s");
        assert_eq!(refused.reset, 60);
        assert!(limiter.check(&LimitKey::Client("other".into())).allowed);
        clock.advance(Duration::from_secs(20));
        let again = limiter.check(&key);
        assert!(again.allowed);
        assert_eq!((again.remaining, again.reset), (0, 60));
        clock.advance(Duration::from_secs(60));
        assert_eq!(limiter.check(&key).remaining, 2, "the whole budget is back");
    }

    #[test]
    fn headers_report_the_decision() {
        let (limiter, _) = limiter(1, 10, 100);
        let mut headers = HeaderMap::new();
        limiter.check(&address(1)).apply(&mut headers);
        assert_eq!(headers["x-ratelimit-limit"], "1");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["x-ratelimit-reset"], "10");
        assert!(headers.get("retry-after").is_none());
        let refused = limiter.check(&address(1));
        refused.apply(&mut headers);
        assert_eq!(headers["retry-after"], "10");
    }

    #[test]
    fn a_flood_of_distinct_keys_cannot_grow_the_store_and_is_limited_as_one() {
        let (limiter, clock) = limiter(5, 60, 64);
        let known = address(0);
        assert!(limiter.check(&known).allowed);
        let allowed = (1..100_000)
            .filter(|n| limiter.check(&address(*n)).allowed)
            .count();
        assert!(limiter.len() <= 64, "{} keys held", limiter.len());
        // The keys the store could hold got their own budgets, the rest shared one budget of 5.
        assert!(allowed <= limiter.len() + 5, "{allowed} allowed");
        assert!(
            limiter.check(&known).allowed,
            "a key known before the flood keeps its own budget"
        );
        // Once the flood's keys are whole again, a sweep frees the store.
        clock.advance(Duration::from_secs(61));
        limiter.sweep();
        assert!(limiter.is_empty(), "{} keys left", limiter.len());
        assert!(limiter.check(&address(7)).allowed);
    }

    #[test]
    fn a_sweep_keeps_keys_that_are_still_spending() {
        let (limiter, clock) = limiter(2, 60, 100);
        limiter.check(&address(1));
        limiter.check(&address(2));
        clock.advance(Duration::from_secs(31));
        limiter.check(&address(2));
        clock.advance(Duration::from_secs(31));
        limiter.sweep();
        assert_eq!(
            limiter.len(),
            1,
            "address 1 is whole again, address 2 is not"
        );
    }
}
