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
        .rotate_key(&key("k2", 20), Timestamp(20))
        .await
        .unwrap();
    store
        .rotate_key(&key("k3", 30), Timestamp(30))
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
            .rotate_key(&key("k2", 20), Timestamp(20))
            .await
            .unwrap();
        store
            .rotate_key(&key("k3", 30), Timestamp(30))
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
            .rotate_key(&key("aa-new", 10), Timestamp(10))
            .await
            .unwrap();
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys[0].kid, "aa-new");
        assert_eq!(keys[0].retired_at, None);
        assert_eq!(keys[1].kid, "zz-old");
    }
);
