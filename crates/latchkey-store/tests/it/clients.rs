//! `ClientStore` behaviour.
use std::collections::BTreeSet;

use latchkey_core::client::{Client, ClientAuth};
use latchkey_core::secret::ClientSecret;
use latchkey_core::types::{AuthMethod, ClientId, GrantType, RedirectUri, Scope, Timestamp};
use latchkey_store::{ClientStore, Store, StoreError};

use crate::store_test;

pub(crate) fn sample_client(id: &str, secret: &ClientSecret) -> Client {
    Client {
        client_id: ClientId::parse(id).unwrap(),
        name: format!("client {id}"),
        auth: ClientAuth::Secret {
            method: AuthMethod::ClientSecretBasic,
            hash: secret.hash(),
        },
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scope: Scope::parse("read write").unwrap(),
        redirect_uris: vec![RedirectUri::parse("https://app.example.com/cb").unwrap()],
        created_at: Timestamp(1_700_000_000),
        policy: latchkey_core::client::ClientPolicy::default(),
    }
}

store_test!(
    inserted_client_reads_back_identically,
    |store: Store| async move {
        let secret = ClientSecret::generate();
        store
            .insert_client(&sample_client("c1", &secret))
            .await
            .unwrap();
        let loaded = store
            .find_client(&ClientId::parse("c1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded.name, "client c1");
        assert_eq!(loaded.scope.to_string(), "read write");
        assert_eq!(
            loaded.grant_types,
            BTreeSet::from([GrantType::ClientCredentials])
        );
        assert_eq!(
            loaded.redirect_uris[0].as_str(),
            "https://app.example.com/cb"
        );
        assert_eq!(loaded.created_at, Timestamp(1_700_000_000));
        let ClientAuth::Secret { method, hash } = &loaded.auth else {
            panic!("a secret client reads back as one")
        };
        assert_eq!(*method, AuthMethod::ClientSecretBasic);
        assert!(secret.verify(hash));
    }
);

store_test!(
    unknown_client_is_none_not_an_error,
    |store: Store| async move {
        assert!(
            store
                .find_client(&ClientId::parse("nobody").unwrap())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            !store
                .delete_client(&ClientId::parse("nobody").unwrap())
                .await
                .unwrap()
        );
    }
);

store_test!(
    duplicate_client_id_is_a_conflict,
    |store: Store| async move {
        let secret = ClientSecret::generate();
        store
            .insert_client(&sample_client("dup", &secret))
            .await
            .unwrap();
        let err = store
            .insert_client(&sample_client("dup", &secret))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
);

store_test!(list_delete_and_rotate_secret, |store: Store| async move {
    let (a, b) = (ClientSecret::generate(), ClientSecret::generate());
    store.insert_client(&sample_client("a", &a)).await.unwrap();
    store.insert_client(&sample_client("b", &b)).await.unwrap();
    let ids: Vec<_> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id.to_string())
        .collect();
    assert_eq!(ids, ["a", "b"]);

    let fresh = ClientSecret::generate();
    let id = ClientId::parse("a").unwrap();
    assert!(
        store
            .set_client_secret(&id, AuthMethod::ClientSecretPost, &fresh.hash())
            .await
            .unwrap()
    );
    let ClientAuth::Secret { method, hash } = store.find_client(&id).await.unwrap().unwrap().auth
    else {
        panic!("a secret client reads back as one")
    };
    assert_eq!(method, AuthMethod::ClientSecretPost);
    assert!(fresh.verify(&hash) && !a.verify(&hash));

    assert!(store.delete_client(&id).await.unwrap());
    assert!(store.find_client(&id).await.unwrap().is_none());
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
});

store_test!(
    every_client_or_resource_change_bumps_the_registry_version,
    |store: Store| async move {
        use latchkey_store::{HealthStore, ResourceStore};
        let v0 = store.versions().await.unwrap().registry;
        let secret = ClientSecret::generate();
        store
            .insert_client(&sample_client("v", &secret))
            .await
            .unwrap();
        let v1 = store.versions().await.unwrap().registry;
        assert!(v1 > v0);
        let id = ClientId::parse("v").unwrap();
        store
            .set_client_secret(
                &id,
                AuthMethod::ClientSecretBasic,
                &ClientSecret::generate().hash(),
            )
            .await
            .unwrap();
        let v2 = store.versions().await.unwrap().registry;
        assert!(v2 > v1);
        store.delete_client(&id).await.unwrap();
        let v3 = store.versions().await.unwrap().registry;
        assert!(v3 > v2);
        let resource = latchkey_core::resource::Resource {
            uri: latchkey_core::types::ResourceUri::parse("https://api.example/").unwrap(),
            scopes: Scope::default(),
            format: None,
            access_token_ttl: None,
        };
        store
            .insert_resource(&resource, Timestamp(1))
            .await
            .unwrap();
        assert!(store.versions().await.unwrap().registry > v3);
    }
);

store_test!(
    dynamic_clients_update_activate_and_expire_unused,
    |store: Store| async move {
        use latchkey_core::client::DynamicRegistration;
        use latchkey_store::RegistrationStore;
        let token = ClientSecret::generate();
        let mut dynamic = sample_client("dyn", &ClientSecret::generate());
        dynamic.created_at = Timestamp(100);
        dynamic.policy.registration = Some(DynamicRegistration {
            token_hash: token.hash(),
            activated_at: None,
        });
        let mut used = sample_client("used", &ClientSecret::generate());
        used.created_at = Timestamp(100);
        used.policy.registration = dynamic.policy.registration.clone();
        store.insert_client(&dynamic).await.unwrap();
        store.insert_client(&used).await.unwrap();
        store
            .insert_client(&sample_client("static", &ClientSecret::generate()))
            .await
            .unwrap();

        let loaded = store
            .find_client(&dynamic.client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded.policy.registration, dynamic.policy.registration);
        let mut changed = loaded.clone();
        changed.name = "renamed".into();
        changed.scope = Scope::parse("read").unwrap();
        assert!(store.update_client_metadata(&changed).await.unwrap());
        let loaded = store
            .find_client(&dynamic.client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (loaded.name.as_str(), loaded.scope.to_string().as_str()),
            ("renamed", "read")
        );

        store
            .activate_client(&used.client_id, Timestamp(150))
            .await
            .unwrap();
        store
            .activate_client(&used.client_id, Timestamp(160))
            .await
            .unwrap();
        let activated = store.find_client(&used.client_id).await.unwrap().unwrap();
        assert_eq!(
            activated.policy.registration.unwrap().activated_at,
            Some(Timestamp(150))
        );

        assert_eq!(store.prune_unused_clients(Timestamp(200)).await.unwrap(), 1);
        assert!(
            store
                .find_client(&dynamic.client_id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.find_client(&used.client_id).await.unwrap().is_some());
        assert!(
            store
                .find_client(&ClientId::parse("static").unwrap())
                .await
                .unwrap()
                .is_some()
        );

        let initial = latchkey_core::secret::SecretHash::of(b"initial");
        store
            .insert_initial_access_token(&initial, Timestamp(0), Timestamp(100))
            .await
            .unwrap();
        assert!(
            store
                .initial_access_token_valid(&initial, Timestamp(99))
                .await
                .unwrap()
        );
        assert!(
            !store
                .initial_access_token_valid(&initial, Timestamp(100))
                .await
                .unwrap()
        );
    }
);

store_test!(
    openid_client_metadata_reads_back_and_updates,
    |store: Store| async move {
        use latchkey_core::keys::KeyAlg;
        use latchkey_core::oidc::client::OpenIdClient;
        use latchkey_core::oidc::subject::SubjectType;
        use latchkey_store::RegistrationStore;
        let mut client = sample_client("rp", &ClientSecret::generate());
        client.policy.openid = OpenIdClient {
            id_token_signed_response_alg: KeyAlg::ES256,
            userinfo_signed_response_alg: Some(KeyAlg::RS256),
            subject_type: SubjectType::Pairwise {
                sector: "app.example.com".into(),
            },
            default_max_age: Some(600),
            require_auth_time: true,
            post_logout_redirect_uris: vec![
                RedirectUri::parse("https://app.example.com/bye").unwrap(),
            ],
            logo_uri: Some("https://app.example.com/logo.png".into()),
            contacts: vec!["ops@app.example.com".into()],
            ..OpenIdClient::default()
        };
        store.insert_client(&client).await.unwrap();
        let id = ClientId::parse("rp").unwrap();
        let loaded = store.find_client(&id).await.unwrap().unwrap();
        assert_eq!(loaded.policy.openid, client.policy.openid);

        let mut changed = loaded.clone();
        changed.policy.openid = OpenIdClient::default();
        assert!(store.update_client_metadata(&changed).await.unwrap());
        let reloaded = store.find_client(&id).await.unwrap().unwrap();
        assert_eq!(reloaded.policy.openid, OpenIdClient::default());
        // A client that registered nothing for OpenID gets the defaults.
        store
            .insert_client(&sample_client("plain", &ClientSecret::generate()))
            .await
            .unwrap();
        let plain = store
            .find_client(&ClientId::parse("plain").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(plain.policy.openid, OpenIdClient::default());
    }
);

store_test!(
    m6_document_clients_are_written_whole_apart_from_registered_ones,
    |store: Store| async move {
        use latchkey_store::{HealthStore, RegistrationStore};
        let id = "https://app.example/client.json";
        let mut doc = sample_client(id, &ClientSecret::generate());
        doc.policy.metadata_document = true;
        doc.auth = ClientAuth::PrivateKeyJwt {
            jwks: vec![],
            jwks_uri: Some("https://app.example/jwks".into()),
        };
        let before = store.versions().await.unwrap().registry;
        assert!(store.upsert_document_client(&doc).await.unwrap());
        // The document changes its auth method: keys and method change together (no corrupt row).
        doc.auth = ClientAuth::Public;
        doc.name = "renamed".into();
        doc.created_at = Timestamp(1_800_000_000);
        assert!(store.upsert_document_client(&doc).await.unwrap());
        let stored = store.find_client(&doc.client_id).await.unwrap().unwrap();
        assert!(stored.is_public() && stored.policy.metadata_document);
        assert_eq!(stored.name, "renamed");
        assert!(store.list_clients().await.is_ok(), "every row still reads");
        assert_eq!(
            store.versions().await.unwrap().registry,
            before,
            "document writes do not flush every instance's caches"
        );
        // An operator's client with a URL id is never overwritten by a document.
        let operator = sample_client("https://ops.example/client.json", &ClientSecret::generate());
        store.insert_client(&operator).await.unwrap();
        let mut impostor = operator.clone();
        impostor.policy.metadata_document = true;
        impostor.auth = ClientAuth::Public;
        assert!(!store.upsert_document_client(&impostor).await.unwrap());
        let kept = store
            .find_client(&operator.client_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!kept.is_public() && !kept.policy.metadata_document);
        // Unused document clients are pruned once fetched long enough ago; operator clients never.
        assert_eq!(
            store
                .prune_document_clients(Timestamp(1_800_000_001))
                .await
                .unwrap(),
            1
        );
        assert!(store.find_client(&doc.client_id).await.unwrap().is_none());
        assert!(
            store
                .find_client(&operator.client_id)
                .await
                .unwrap()
                .is_some()
        );
    }
);
