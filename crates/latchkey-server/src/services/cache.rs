//! Bounded in-memory caches on `quick_cache`, with the two policies the services need: entries that
//! stand until an invalidation ([`Invalidated`]), and fetched values, or why they could not be had,
//! that expire by the server's clock ([`Expiring`], with one load per key at a time).
//!
//! `quick_cache` rather than `moka`: every dependency it has is already in the tree (moka brings
//! crossbeam's channel and epoch, tagptr and more), its S3-FIFO eviction keeps the entries in use when
//! a flood of new keys arrives (never a cliff where the whole map is emptied), and its placeholder
//! guards give the single flight that replaced a hand-written in-flight map. Expiry is ours, by the
//! server's `Clock`, so a test can let an entry expire without sleeping.
use std::borrow::Borrow;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Equivalent;
use quick_cache::sync::Cache;

use super::clock::Clock;

/// A cache emptied by invalidation. A load that began before an invalidation can never be read after
/// it: entries are keyed by the epoch they were loaded in, and every invalidation starts a new one.
pub(crate) struct Invalidated<K, V> {
    epoch: AtomicU64,
    map: Cache<Epoched<K>, V>,
}

/// A key and the epoch it was loaded in.
#[derive(Clone, PartialEq, Eq)]
struct Epoched<K>(u64, K);

/// A borrowed [`Epoched`] key, so a lookup by `&str` allocates no `String` (the hot paths look up a
/// token id or a whole token per request).
struct Lookup<'a, Q: ?Sized>(u64, &'a Q);

impl<K: Hash> Hash for Epoched<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl<Q: ?Sized + Hash> Hash for Lookup<'_, Q> {
    // The same sequence as `Epoched`'s: `K: Borrow<Q>` promises that a key and its borrowed form hash
    // alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl<K: Borrow<Q>, Q: ?Sized + Eq> Equivalent<Epoched<K>> for Lookup<'_, Q> {
    fn equivalent(&self, key: &Epoched<K>) -> bool {
        self.0 == key.0 && self.1 == key.1.borrow()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Invalidated<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Invalidated {
            epoch: AtomicU64::new(0),
            map: Cache::new(capacity),
        }
    }

    /// The current epoch, to be read before loading a value that will be [`Invalidated::insert`]ed.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.map.get(&Lookup(self.epoch(), key))
    }

    /// Remembers `value`, loaded in `epoch`: after an invalidation since, it is never read.
    pub(crate) fn insert(&self, epoch: u64, key: K, value: V) {
        self.map.insert(Epoched(epoch, key), value);
    }

    /// Forgets everything; loads under way land in an epoch nobody reads.
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.map.clear();
    }
}

/// What an [`Expiring`] cache holds: the value, or a reason safe to show, until `until_ms`.
type Remembered<V> = (Result<V, String>, i64);

/// Why a load failed: `Remember` is an answer about the key itself (a document that is not
/// acceptable), kept for the negative time; `Forget` is not (a database failure, a rate limit).
pub(crate) enum LoadError<E> {
    Remember(String),
    Forget(E),
}

/// Fetched values (or why they could not be fetched) until they expire by the clock; concurrent
/// lookups of one key wait for the first one's load.
pub(crate) struct Expiring<K, V> {
    clock: Clock,
    map: Cache<K, Remembered<V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Expiring<K, V> {
    pub(crate) fn new(capacity: usize, clock: Clock) -> Self {
        Expiring {
            clock,
            map: Cache::new(capacity),
        }
    }

    /// The remembered answer for `key`, if it has not expired.
    pub(crate) fn get(&self, key: &K) -> Option<Result<V, String>> {
        let now = self.clock.now_ms();
        self.map
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(found, _)| found)
    }

    /// The remembered answer, or `load`'s: `Ok((value, ttl_ms))` is kept for `ttl_ms`, a
    /// `LoadError::Remember` for `negative_ms`, a `LoadError::Forget` not at all. One load per key
    /// runs at a time; the others wait for it and read what it left.
    pub(crate) async fn get_or_load<E, F, Fut>(
        &self,
        key: &K,
        negative_ms: i64,
        load: F,
    ) -> Result<Result<V, String>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, i64), LoadError<E>>>,
    {
        if let Some(found) = self.get(key) {
            return Ok(found);
        }
        // Expired: out, so the next lookup loads (unless a fresh entry took its place meanwhile).
        let now = self.clock.now_ms();
        self.map.remove_if(key, |(_, until)| *until <= now);
        match self.map.get_value_or_guard_async(key).await {
            Ok((found, _)) => Ok(found),
            Err(guard) => {
                let start = self.clock.now_ms();
                match load().await {
                    Ok((value, ttl_ms)) => {
                        let _ = guard.insert((Ok(value.clone()), start + ttl_ms));
                        Ok(Ok(value))
                    }
                    Err(LoadError::Remember(why)) => {
                        let _ = guard.insert((Err(why.clone()), start + negative_ms));
                        Ok(Err(why))
                    }
                    Err(LoadError::Forget(e)) => Err(e),
                }
            }
        }
    }

    /// Takes `key`'s entry out, to put it back with [`Expiring::restore`] if a new load fails.
    pub(crate) fn take(&self, key: &K) -> Option<(Result<V, String>, i64)> {
        self.map.remove(key).map(|(_, entry)| entry)
    }

    /// Puts back an entry taken with [`Expiring::take`], unless a new one is there already.
    pub(crate) fn restore(&self, key: K, entry: (Result<V, String>, i64)) {
        if self.map.get(&key).is_none() {
            self.map.insert(key, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use latchkey_core::types::Timestamp;

    use super::*;

    #[test]
    fn a_full_cache_evicts_one_time_keys_and_keeps_the_ones_in_use() {
        let cache: Invalidated<u32, u32> = Invalidated::new(100);
        let hot: Vec<u32> = (0..20).collect();
        for &k in &hot {
            cache.insert(cache.epoch(), k, k);
        }
        // A flood of keys, each seen once (unknown resource ids, say), ten times the capacity, while
        // the hot keys keep being read.
        for k in 1_000..2_000 {
            cache.insert(cache.epoch(), k, k);
            if k % 10 == 0 {
                for &h in &hot {
                    assert_eq!(cache.get(&h), Some(h), "hot key {h} evicted at {k}");
                }
            }
        }
        assert!(cache.map.len() <= 110, "bounded: {}", cache.map.len());
        assert!(hot.iter().all(|h| cache.get(h).is_some()), "no cliff");
    }

    #[test]
    fn an_invalidation_hides_a_load_that_began_before_it() {
        let cache: Invalidated<&str, u32> = Invalidated::new(10);
        let before = cache.epoch();
        cache.invalidate();
        cache.insert(before, "client", 1);
        assert_eq!(cache.get(&"client"), None, "a row read before the change");
        cache.insert(cache.epoch(), "client", 2);
        assert_eq!(cache.get(&"client"), Some(2));
    }

    #[tokio::test]
    async fn expiring_entries_follow_the_clock_and_failures_are_remembered_briefly() {
        let clock = Clock::manual(Timestamp(1_000));
        let cache: Expiring<&str, u32> = Expiring::new(10, clock.clone());
        let loaded = cache
            .get_or_load(&"a", 60_000, || async {
                Ok::<_, LoadError<()>>((7, 1_000))
            })
            .await;
        assert_eq!(loaded, Ok(Ok(7)));
        let again = cache
            .get_or_load(&"a", 60_000, || async {
                Ok::<_, LoadError<()>>((8, 1_000))
            })
            .await;
        assert_eq!(again, Ok(Ok(7)), "cached");
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(cache.get(&"a"), None, "expired");
        let refreshed = cache
            .get_or_load(&"a", 60_000, || async {
                Ok::<_, LoadError<()>>((8, 1_000))
            })
            .await;
        assert_eq!(refreshed, Ok(Ok(8)));
        let refused = cache
            .get_or_load(&"b", 60_000, || async {
                Err::<(u32, i64), _>(LoadError::<()>::Remember("not a document".into()))
            })
            .await;
        assert_eq!(refused, Ok(Err("not a document".to_owned())));
        assert_eq!(cache.get(&"b"), Some(Err("not a document".to_owned())));
        let forgotten = cache
            .get_or_load(&"c", 60_000, || async {
                Err::<(u32, i64), _>(LoadError::Forget("database down"))
            })
            .await;
        assert_eq!(forgotten, Err("database down"));
        assert_eq!(cache.get(&"c"), None, "not an answer about the key");
        clock.advance(Duration::from_millis(60_000));
        assert_eq!(cache.get(&"b"), None, "negative entries expire too");
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_key_load_it_once() {
        let cache: std::sync::Arc<Expiring<&str, u32>> =
            std::sync::Arc::new(Expiring::new(10, Clock::manual(Timestamp(0))));
        let loads = std::sync::Arc::new(AtomicU64::new(0));
        let lookups = (0..8).map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(&"k", 1, || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, LoadError<()>>((1, 60_000))
                    })
                    .await
            })
        });
        for lookup in lookups.collect::<Vec<_>>() {
            assert_eq!(lookup.await.unwrap(), Ok(Ok(1)));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }
}
