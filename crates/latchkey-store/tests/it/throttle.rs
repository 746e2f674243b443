//! `ThrottleStore` behaviour: counters read and written under row locks (so concurrent reservations
//! never pass one check), refusals that leave no trace, event windows, and pruning.
use std::time::Duration;

use latchkey_core::throttle::{
    self, AttemptKey, Counter, KeyKind, Limits, Outcome, Refusal, ThrottleKey,
};
use latchkey_core::types::Timestamp;
use latchkey_store::{Store, ThrottleStore};

use crate::store_test;

const LIMITS: Limits = Limits {
    delay_after: 2,
    lock_after: 5,
    lock_seconds: 900,
    max_in_flight: 0,
};

fn account(name: &str, limits: Limits) -> AttemptKey {
    AttemptKey {
        key: ThrottleKey::account(name),
        kind: KeyKind::Account,
        limits,
    }
}

fn address(ip: &str, limits: Limits) -> AttemptKey {
    AttemptKey {
        key: ThrottleKey::address(ip),
        kind: KeyKind::Address,
        limits,
    }
}

async fn reserve(store: &Store, keys: &[AttemptKey], now: Timestamp) -> Result<Duration, Refusal> {
    let ids: Vec<ThrottleKey> = keys.iter().map(|k| k.key).collect();
    store
        .update_counters(&ids, |counters| throttle::reserve(keys, counters, now, 20))
        .await
        .unwrap()
}

async fn settle(store: &Store, keys: &[AttemptKey], outcome: Outcome, now: Timestamp) {
    let ids: Vec<ThrottleKey> = keys.iter().map(|k| k.key).collect();
    store
        .update_counters(&ids, |counters| {
            Ok::<_, ()>((throttle::settle(keys, counters, outcome, now), ()))
        })
        .await
        .unwrap()
        .unwrap();
}

async fn counters(store: &Store, keys: &[AttemptKey]) -> Vec<Counter> {
    let ids: Vec<ThrottleKey> = keys.iter().map(|k| k.key).collect();
    store
        .update_counters(&ids, |c| Err::<(Vec<Counter>, ()), _>(c.to_vec()))
        .await
        .unwrap()
        .unwrap_err()
}

store_test!(
    counters_keep_what_was_written_and_refusals_write_nothing,
    |store: Store| async move {
        let now = Timestamp(10_000);
        let keys = [account("alice", LIMITS), address("192.0.2.1", LIMITS)];
        assert_eq!(
            counters(&store, &keys).await,
            vec![Counter::default(); 2],
            "a key never seen reads as the default"
        );
        for _ in 0..5 {
            reserve(&store, &keys, now).await.unwrap();
            settle(&store, &keys, Outcome::Failure, now).await;
        }
        let stored = counters(&store, &keys).await;
        assert_eq!(stored[0].failures, 5);
        assert_eq!(stored[0].in_flight, 0);
        assert_eq!(stored[0].locked_until, Some(now.plus(900)));
        assert_eq!(
            reserve(&store, &keys, now).await,
            Err(Refusal::Locked),
            "locked after lock_after failures"
        );
        // A refused attempt from a new address counts nothing against that address.
        let elsewhere = [account("alice", LIMITS), address("198.51.100.7", LIMITS)];
        assert_eq!(reserve(&store, &elsewhere, now).await, Err(Refusal::Locked));
        assert_eq!(counters(&store, &elsewhere).await[1], Counter::default());
    }
);

store_test!(
    success_clears_the_account_and_the_order_of_keys_does_not_matter,
    |store: Store| async move {
        let now = Timestamp(10_000);
        let keys = [address("192.0.2.1", LIMITS), account("bob", LIMITS)];
        for _ in 0..3 {
            reserve(&store, &keys, now).await.unwrap();
            settle(&store, &keys, Outcome::Failure, now).await;
        }
        assert_eq!(
            reserve(&store, &keys, now).await,
            Ok(Duration::from_millis(500))
        );
        settle(&store, &keys, Outcome::Success, now).await;
        let stored = counters(&store, &keys).await;
        assert_eq!(stored[0].failures, 3, "the address keeps earlier failures");
        assert_eq!(stored[1].failures, 0, "the account is cleared");
    }
);

store_test!(
    fifty_concurrent_reservations_pass_lock_after_and_no_more,
    |store: Store| async move {
        // Nothing settles: each task is a password check still running. Only the row lock stands
        // between them and a read-then-write race.
        let now = Timestamp(10_000);
        let keys = [account("carol", LIMITS), address("203.0.113.5", LIMITS)];
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let store = store.clone();
            tasks.spawn(async move { reserve(&store, &keys, now).await });
        }
        let mut passed = 0;
        let mut locked = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => passed += 1,
                Err(Refusal::Locked) => locked += 1,
                Err(Refusal::Busy) => unreachable!("no in-flight cap here"),
            }
        }
        assert_eq!((passed, locked), (5, 45));
        assert_eq!(counters(&store, &keys).await[0].failures, 5);
    }
);

store_test!(
    the_in_flight_cap_holds_across_concurrent_reservations,
    |store: Store| async move {
        let now = Timestamp(10_000);
        let capped = Limits {
            max_in_flight: 2,
            lock_after: 1000,
            ..LIMITS
        };
        let keys = [account("dave", capped)];
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let store = store.clone();
            tasks.spawn(async move { reserve(&store, &keys, now).await });
        }
        let mut passed = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => passed += 1,
                Err(refusal) => assert_eq!(refusal, Refusal::Busy),
            }
        }
        assert_eq!(passed, 2);
        // A reservation never settled (its process died) stops counting once its hold ends.
        assert!(reserve(&store, &keys, now.plus(21)).await.is_ok());
    }
);

store_test!(
    events_are_counted_per_key_and_window,
    |store: Store| async move {
        let key = ThrottleKey::event("register", "192.0.2.1");
        let other = ThrottleKey::event("register", "192.0.2.2");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let store = store.clone();
            tasks.spawn(async move { store.count_event(&key, Timestamp(600)).await.unwrap() });
        }
        let mut seen = Vec::new();
        while let Some(count) = tasks.join_next().await {
            seen.push(count.unwrap());
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=30).collect::<Vec<u32>>(),
            "each event counted once"
        );
        assert_eq!(store.count_event(&other, Timestamp(600)).await.unwrap(), 1);
        assert_eq!(
            store.count_event(&key, Timestamp(660)).await.unwrap(),
            1,
            "a new window starts over"
        );
    }
);

store_test!(
    pruning_removes_only_what_has_nothing_left_to_remember,
    |store: Store| async move {
        let now = Timestamp(10_000);
        let stale = [account("stale", LIMITS)];
        let locked = [account(
            "locked",
            Limits {
                lock_after: 1,
                ..LIMITS
            },
        )];
        let recent = [account("recent", LIMITS)];
        reserve(&store, &stale, now.minus(1000)).await.unwrap();
        settle(&store, &stale, Outcome::Failure, now.minus(1000)).await;
        reserve(&store, &locked, now.minus(1000)).await.unwrap();
        reserve(&store, &recent, now.minus(10)).await.unwrap();
        store
            .count_event(&ThrottleKey::event("register", "a"), Timestamp(9_900))
            .await
            .unwrap();
        store
            .count_event(&ThrottleKey::event("register", "b"), Timestamp(9_960))
            .await
            .unwrap();
        // `locked` reserved at now-1000 was locked until now-100: expired, and its hold too.
        let removed = store
            .prune_throttle(now.minus(900), now, Timestamp(9_960))
            .await
            .unwrap();
        assert_eq!(removed, 3, "stale, locked-and-expired, and the old window");
        assert_eq!(counters(&store, &recent).await[0].failures, 1);
        assert_eq!(counters(&store, &stale).await[0], Counter::default());
    }
);
