//! `TokenStore` and `ResourceStore` behaviour: the deny-list, opaque tokens, the revocation cascade
//! from a grant to its access tokens, resources, and pruning.
use std::future::Future;

use latchkey_core::client::TokenFormat;
use latchkey_core::resource::Resource;
use latchkey_core::secret::SecretHash;
use latchkey_core::token::AccessTokenClaims;
use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};
use latchkey_store::{GrantStore, ResourceStore, Store, StoreError, TokenStore};

use crate::store_test;

pub(crate) fn claims(jti: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://as.example".into(),
        sub: "svc".into(),
        aud: "https://api.example/".into(),
        client_id: ClientId::parse("svc").unwrap(),
        scope: Scope::parse("read").unwrap(),
        iat: Timestamp(100),
        exp: Timestamp(700),
        jti: jti.into(),
        auth_time: None,
        act: None,
    }
}

store_test!(opaque_tokens_and_the_deny_list, |store: Store| async move {
    let hash = SecretHash::of(b"opaque-token");
    store.insert_opaque(&hash, &claims("j1")).await.unwrap();
    assert_eq!(store.find_opaque(&hash).await.unwrap(), Some(claims("j1")));
    assert_eq!(
        store.find_opaque(&SecretHash::of(b"other")).await.unwrap(),
        None
    );
    assert!(!store.is_revoked("j1").await.unwrap());
    let before = latchkey_store::HealthStore::versions(&store)
        .await
        .unwrap()
        .revocations;
    store.revoke_jti("j1", Timestamp(700)).await.unwrap();
    let after = latchkey_store::HealthStore::versions(&store)
        .await
        .unwrap()
        .revocations;
    assert!(after > before, "a revocation bumps the counter");
    store.revoke_jti("j1", Timestamp(700)).await.unwrap();
    assert!(store.is_revoked("j1").await.unwrap());
    // Pruned once the token could not be valid anyway.
    store.prune(Timestamp(701)).await.unwrap();
    assert!(!store.is_revoked("j1").await.unwrap());
    assert_eq!(store.find_opaque(&hash).await.unwrap(), None);
});

store_test!(
    revoking_a_grant_denies_its_access_tokens,
    |store: Store| async move {
        let code = crate::grants::setup(&store).await;
        store
            .record_issued("from-grant", &code.grant.grant_id, Timestamp(700), None)
            .await
            .unwrap();
        assert!(!store.is_revoked("from-grant").await.unwrap());
        store
            .revoke_grant(&code.grant.grant_id, Timestamp(200))
            .await
            .unwrap();
        assert!(store.is_revoked("from-grant").await.unwrap());
    }
);

store_test!(
    refresh_tokens_are_found_in_any_state,
    |store: Store| async move {
        let code = crate::grants::setup(&store).await;
        let client = latchkey_store::ClientStore::find_client(&store, &code.grant.client_id)
            .await
            .unwrap()
            .unwrap();
        let target = latchkey_core::resource::Target {
            audience: "https://as.example".into(),
            resource: None,
            scope: code.grant.scope.clone(),
            format: TokenFormat::Jwt,
            ttl: 600,
        };
        let refresh = crate::grants::policy()
            .issue_for_grant(&client, &code.grant, &target, Timestamp(30))
            .refresh
            .unwrap();
        store.insert_refresh_token(&refresh.record).await.unwrap();
        let found = store
            .find_refresh_token(&refresh.record.hash)
            .await
            .unwrap()
            .unwrap();
        assert!(!found.used);
        assert_eq!(found.grant.grant_id, code.grant.grant_id);
        store
            .use_refresh_token(&refresh.record.hash, Timestamp(40))
            .await
            .unwrap();
        assert!(
            store
                .find_refresh_token(&refresh.record.hash)
                .await
                .unwrap()
                .unwrap()
                .used
        );
        assert!(
            store
                .find_refresh_token(&SecretHash::of(b"x"))
                .await
                .unwrap()
                .is_none()
        );
    }
);

store_test!(resources_round_trip, |store: Store| async move {
    let api = Resource {
        uri: ResourceUri::parse("https://api.example/").unwrap(),
        scopes: Scope::parse("read write").unwrap(),
        format: Some(TokenFormat::Opaque),
        access_token_ttl: Some(300),
    };
    store.insert_resource(&api, Timestamp(1)).await.unwrap();
    let err = store.insert_resource(&api, Timestamp(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    assert_eq!(
        store.find_resource(&api.uri).await.unwrap(),
        Some(api.clone())
    );
    let plain = Resource {
        uri: ResourceUri::parse("http://127.0.0.1:8788/mcp").unwrap(),
        scopes: Scope::default(),
        format: None,
        access_token_ttl: None,
    };
    store.insert_resource(&plain, Timestamp(2)).await.unwrap();
    assert_eq!(
        store.list_resources().await.unwrap(),
        vec![plain.clone(), api.clone()]
    );
    assert!(store.delete_resource(&api.uri).await.unwrap());
    assert!(!store.delete_resource(&api.uri).await.unwrap());
    assert_eq!(store.find_resource(&api.uri).await.unwrap(), None);
});

store_test!(
    an_assertion_jti_is_accepted_once_per_client,
    |store: Store| async move {
        use latchkey_store::RegistrationStore;
        let svc = ClientId::parse("svc").unwrap();
        let other = ClientId::parse("other").unwrap();
        assert!(
            store
                .record_assertion(&svc, "j", Timestamp(700))
                .await
                .unwrap()
        );
        assert!(
            !store
                .record_assertion(&svc, "j", Timestamp(700))
                .await
                .unwrap()
        );
        assert!(
            store
                .record_assertion(&other, "j", Timestamp(700))
                .await
                .unwrap()
        );
        // Forgotten once the assertion could not be valid anyway.
        store.prune(Timestamp(701)).await.unwrap();
        assert!(
            store
                .record_assertion(&svc, "j", Timestamp(900))
                .await
                .unwrap()
        );
    }
);

store_test!(
    l4_a_new_password_or_a_deletion_deny_lists_outstanding_access_tokens,
    |store: Store| async move {
        use latchkey_core::password::Password;
        use latchkey_store::{ClientStore, UserStore};
        // A user with a grant, a recorded JWT from it, and an opaque token of theirs.
        let code = crate::grants::setup(&store).await;
        let user = code.grant.user_id.clone();
        store
            .record_issued("users-jwt", &code.grant.grant_id, Timestamp(10_000), None)
            .await
            .unwrap();
        let mut opaque = claims("users-opaque");
        opaque.sub = user.clone();
        opaque.exp = Timestamp(10_000);
        store
            .insert_opaque(&SecretHash::of(b"users-opaque"), &opaque)
            .await
            .unwrap();
        let alice = latchkey_core::user::Username::parse("alice").unwrap();
        // --keep-grants: only the sessions end.
        let hash = Password::new("a new passphrase".into()).hash();
        store.set_password(&alice, &hash, None).await.unwrap();
        assert!(!store.is_revoked("users-jwt").await.unwrap());
        // By default the grants and every token they gave go.
        store
            .set_password(&alice, &hash, Some(Timestamp(50)))
            .await
            .unwrap();
        assert!(store.is_revoked("users-jwt").await.unwrap());
        assert!(store.is_revoked("users-opaque").await.unwrap());
        let grant = store.find_code(&code.record.hash).await.unwrap().unwrap();
        assert_eq!(grant.grant.revoked_at, Some(Timestamp(50)));

        // Deleting a user: their tokens are deny-listed before the cascade removes the records.
        let other = crate::grants::setup_named(&store, "bob").await;
        store
            .record_issued("bobs-jwt", &other.grant.grant_id, Timestamp(10_000), None)
            .await
            .unwrap();
        let bob = latchkey_core::user::Username::parse("bob").unwrap();
        assert!(store.delete_user(&bob).await.unwrap());
        assert!(store.is_revoked("bobs-jwt").await.unwrap());

        // Deleting a client: the tokens of its grants, and its own opaque tokens.
        let third = crate::grants::setup_named(&store, "carol").await;
        store
            .record_issued("carols-jwt", &third.grant.grant_id, Timestamp(10_000), None)
            .await
            .unwrap();
        let mut machine = claims("machine-opaque");
        machine.client_id = third.grant.client_id.clone();
        machine.sub = third.grant.client_id.to_string();
        machine.exp = Timestamp(10_000);
        store
            .insert_opaque(&SecretHash::of(b"machine-opaque"), &machine)
            .await
            .unwrap();
        assert!(store.delete_client(&third.grant.client_id).await.unwrap());
        assert!(store.is_revoked("carols-jwt").await.unwrap());
        assert!(store.is_revoked("machine-opaque").await.unwrap());
    }
);

store_test!(
    l8_expired_grants_refresh_tokens_and_initial_access_tokens_are_pruned,
    |store: Store| async move {
        use latchkey_store::RegistrationStore;
        // The grant of `setup` ends at 10 + 86 400 (the policy's absolute lifetime).
        let code = crate::grants::setup(&store).await;
        let client = latchkey_store::ClientStore::find_client(&store, &code.grant.client_id)
            .await
            .unwrap()
            .unwrap();
        let target = latchkey_core::resource::Target {
            audience: "https://as.example".into(),
            resource: None,
            scope: code.grant.scope.clone(),
            format: TokenFormat::Jwt,
            ttl: 600,
        };
        let refresh = crate::grants::policy()
            .issue_for_grant(&client, &code.grant, &target, Timestamp(30))
            .refresh
            .unwrap();
        store.insert_refresh_token(&refresh.record).await.unwrap();
        store
            .record_issued("l8-jti", &code.grant.grant_id, Timestamp(200_000), None)
            .await
            .unwrap();
        let initial = SecretHash::of(b"initial");
        store
            .insert_initial_access_token(&initial, Timestamp(0), Timestamp(100))
            .await
            .unwrap();
        // Nothing unexpired goes.
        store.prune(Timestamp(99)).await.unwrap();
        assert!(
            store
                .initial_access_token_valid(&initial, Timestamp(50))
                .await
                .unwrap()
        );
        assert!(
            store
                .find_refresh_token(&refresh.record.hash)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.find_grant_of_token("l8-jti").await.unwrap().is_some());
        // Past the grant's end: the grant, its code and refresh token, and the initial token.
        store.prune(Timestamp(86_411)).await.unwrap();
        assert!(
            !store
                .initial_access_token_valid(&initial, Timestamp(50))
                .await
                .unwrap()
        );
        assert!(
            store
                .find_refresh_token(&refresh.record.hash)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store.find_grant_of_token("l8-jti").await.unwrap().is_none(),
            "the grant is gone, and its records with it"
        );
    }
);

/// Runs `writes` concurrently, each as its own task (as concurrent requests would).
async fn concurrently<T: Send + 'static>(
    writes: impl IntoIterator<Item = impl Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = writes.into_iter().map(tokio::spawn).collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

store_test!(
    issue_24_concurrent_writes_share_commits,
    |store: Store| async move {
        let before = store.group_commits();
        let writes = (0..64).map(|i| {
            let store = store.clone();
            async move {
                let hash = SecretHash::of(format!("shared-{i}").as_bytes());
                store.insert_opaque(&hash, &claims(&format!("s{i}"))).await
            }
        });
        for outcome in concurrently(writes).await {
            outcome.unwrap();
        }
        for i in 0..64 {
            let hash = SecretHash::of(format!("shared-{i}").as_bytes());
            assert_eq!(
                store.find_opaque(&hash).await.unwrap(),
                Some(claims(&format!("s{i}"))),
                "every answered write is there"
            );
        }
        let after = store.group_commits();
        assert_eq!(after.writes - before.writes, 64);
        // PostgreSQL commits each write on its own (see `PgStore`'s `commit`).
        if store.backend() == "sqlite" {
            assert!(
                after.commits - before.commits < 64,
                "64 concurrent writes took fewer commits: {before:?} → {after:?}"
            );
        }
    }
);

store_test!(
    issue_24_a_write_that_fails_in_a_batch_fails_alone,
    |store: Store| async move {
        let taken = SecretHash::of(b"taken");
        store.insert_opaque(&taken, &claims("t")).await.unwrap();
        let writes = (0..32).map(|i| {
            let store = store.clone();
            async move {
                // The 17th reuses a stored hash: its insert is refused, and only it fails.
                let hash = match i {
                    16 => SecretHash::of(b"taken"),
                    _ => SecretHash::of(format!("batched-{i}").as_bytes()),
                };
                store.insert_opaque(&hash, &claims(&format!("b{i}"))).await
            }
        });
        let outcomes = concurrently(writes).await;
        for (i, outcome) in outcomes.iter().enumerate() {
            match i {
                16 => assert!(
                    matches!(outcome, Err(StoreError::Database(_))),
                    "{outcome:?}"
                ),
                _ => assert!(outcome.is_ok(), "write {i}: {outcome:?}"),
            }
        }
        for i in (0..32).filter(|&i| i != 16) {
            let hash = SecretHash::of(format!("batched-{i}").as_bytes());
            assert!(
                store.find_opaque(&hash).await.unwrap().is_some(),
                "write {i}"
            );
        }
        assert_eq!(store.find_opaque(&taken).await.unwrap(), Some(claims("t")));
    }
);
