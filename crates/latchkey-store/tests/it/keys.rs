//! `KeyStore` behaviour.
use latchkey_core::keys::KeyAlg;
use latchkey_core::types::Timestamp;
use latchkey_store::{KeyStore, Store, StoredKey};

use crate::store_test;

fn key(kid: &str, created: i64) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: KeyAlg::ES256,
        sealed_private: vec![1, 2, 3, kid.len() as u8],
        created_at: Timestamp(created),
        retired_at: None,
        active: true,
    }
}

fn alg_key(kid: &str, alg: KeyAlg, created: i64) -> StoredKey {
    StoredKey {
        alg,
        active: false,
        ..key(kid, created)
    }
}

store_test!(only_one_first_key_wins, |store: Store| async move {
    assert!(store.insert_first_key(&key("k1", 10)).await.unwrap());
    // A second instance starting at the same moment must not create a second active key.
    assert!(!store.insert_first_key(&key("k2", 11)).await.unwrap());
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "k1");
    assert_eq!(keys[0].sealed_private, vec![1, 2, 3, 2]);
    assert_eq!(keys[0].retired_at, None);
});

store_test!(rotation_retires_the_active_key, |store: Store| async move {
    store.insert_first_key(&key("k1", 10)).await.unwrap();
    store
        .rotate_keys(&[key("k2", 20)], Timestamp(20))
        .await
        .unwrap();
    store
        .rotate_keys(&[key("k3", 30)], Timestamp(30))
        .await
        .unwrap();
    let keys = store.list_keys().await.unwrap();
    let summary: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.retired_at))
        .collect();
    assert_eq!(
        summary,
        [
            ("k3", None),
            ("k2", Some(Timestamp(30))),
            ("k1", Some(Timestamp(20)))
        ]
    );
});

store_test!(
    prune_removes_only_keys_retired_before_the_cutoff,
    |store: Store| async move {
        store.insert_first_key(&key("k1", 10)).await.unwrap();
        store
            .rotate_keys(&[key("k2", 20)], Timestamp(20))
            .await
            .unwrap();
        store
            .rotate_keys(&[key("k3", 30)], Timestamp(30))
            .await
            .unwrap();
        assert_eq!(store.prune_keys(Timestamp(25)).await.unwrap(), 1);
        let kids: Vec<_> = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["k3", "k2"]);
    }
);

// Regression: a rotation in the same second as the key it retires listed the retired key first on SQLite,
// which sorts NULL `active` before 1 where PostgreSQL sorts it after.
store_test!(
    the_active_key_lists_first_even_within_one_second,
    |store: Store| async move {
        store.insert_first_key(&key("zz-old", 10)).await.unwrap();
        store
            .rotate_keys(&[key("aa-new", 10)], Timestamp(10))
            .await
            .unwrap();
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys[0].kid, "aa-new");
        assert_eq!(keys[0].retired_at, None);
        assert_eq!(keys[1].kid, "zz-old");
    }
);

store_test!(
    one_current_key_per_algorithm_and_rotation_replaces_them_together,
    |store: Store| async move {
        store.insert_first_key(&key("es-1", 10)).await.unwrap();
        assert!(
            store
                .insert_key(&alg_key("rs-1", KeyAlg::RS256, 11))
                .await
                .unwrap()
        );
        // Two instances ensuring the RS256 key at once: one wins.
        assert!(
            !store
                .insert_key(&alg_key("rs-x", KeyAlg::RS256, 11))
                .await
                .unwrap()
        );
        // An algorithm that already has the active key gets no second current key.
        assert!(
            !store
                .insert_key(&alg_key("es-x", KeyAlg::ES256, 11))
                .await
                .unwrap()
        );
        let keys = store.list_keys().await.unwrap();
        let summary: Vec<_> = keys.iter().map(|k| (k.kid.as_str(), k.active)).collect();
        assert_eq!(summary, [("es-1", true), ("rs-1", false)]);

        // `keys rotate`: every current key is replaced; the active one stays with its algorithm.
        store
            .rotate_keys(
                &[key("es-2", 20), alg_key("rs-2", KeyAlg::RS256, 20)],
                Timestamp(20),
            )
            .await
            .unwrap();
        let keys = store.list_keys().await.unwrap();
        let current: Vec<_> = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| (k.kid.as_str(), k.active))
            .collect();
        assert_eq!(current, [("es-2", true), ("rs-2", false)]);
        assert_eq!(keys.iter().filter(|k| k.retired_at.is_some()).count(), 2);

        // `keys rotate --alg EdDSA`: access tokens move to a new EdDSA key, the ES256 one retires.
        let ed = StoredKey {
            alg: KeyAlg::EdDSA,
            ..key("ed-1", 30)
        };
        store
            .rotate_keys(&[ed, alg_key("rs-3", KeyAlg::RS256, 30)], Timestamp(30))
            .await
            .unwrap();
        let keys = store.list_keys().await.unwrap();
        let current: Vec<_> = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| (k.kid.as_str(), k.active))
            .collect();
        assert_eq!(current, [("ed-1", true), ("rs-3", false)]);
    }
);
