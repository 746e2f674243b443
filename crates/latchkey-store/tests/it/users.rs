//! `UserStore` and `SessionStore` behaviour.
use latchkey_core::client::ClientAuth;
use latchkey_core::password::Password;
use latchkey_core::secret::{ClientSecret, SecretHash};
use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};
use latchkey_core::user::{Address, User, UserAttributes, Username};
use latchkey_store::{ClientStore, Session, SessionStore, Store, StoreError, UserStore};

use crate::store_test;

pub(crate) fn sample_user(name: &str) -> User {
    User {
        user_id: User::generate_id(),
        username: Username::parse(name).unwrap(),
        email: Some(format!("{name}@example.com")),
        name: None,
        password_hash: Password::new("correct horse".into()).hash(),
        created_at: Timestamp(100),
        attributes: UserAttributes::default(),
        updated_at: Timestamp(100),
    }
}

store_test!(
    users_round_trip_and_usernames_are_unique,
    |store: Store| async move {
        let alice = sample_user("alice");
        store.insert_user(&alice).await.unwrap();
        let loaded = store
            .find_user_by_username(&alice.username)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded.user_id, alice.user_id);
        assert_eq!(loaded.email.as_deref(), Some("alice@example.com"));
        assert!(Password::new("correct horse".into()).verify(&loaded.password_hash));
        assert_eq!(
            store
                .find_user(&alice.user_id)
                .await
                .unwrap()
                .unwrap()
                .username,
            alice.username
        );
        let err = store.insert_user(&sample_user("alice")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(
            store
                .find_user_by_username(&Username::parse("bob").unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }
);

store_test!(
    set_password_ends_sessions_and_delete_removes_everything,
    |store: Store| async move {
        let alice = sample_user("alice");
        store.insert_user(&alice).await.unwrap();
        let cookie = SecretHash::of(b"session cookie");
        let session = Session {
            user_id: alice.user_id.clone(),
            auth_time: Timestamp(100),
            expires_at: Timestamp(200),
            sid: Some("sid-1".into()),
        };
        store.insert_session(&cookie, &session).await.unwrap();
        assert_eq!(
            store.find_session(&cookie, Timestamp(150)).await.unwrap(),
            Some(session.clone())
        );
        assert_eq!(
            store.find_session(&cookie, Timestamp(200)).await.unwrap(),
            None,
            "expired"
        );

        let new_hash = Password::new("battery staple".into()).hash();
        assert!(
            store
                .set_password(&alice.username, &new_hash, None)
                .await
                .unwrap()
        );
        assert_eq!(
            store.find_session(&cookie, Timestamp(150)).await.unwrap(),
            None
        );
        let loaded = store.find_user(&alice.user_id).await.unwrap().unwrap();
        assert!(Password::new("battery staple".into()).verify(&loaded.password_hash));
        assert!(
            !store
                .set_password(&Username::parse("nobody").unwrap(), &new_hash, None)
                .await
                .unwrap()
        );

        store.insert_session(&cookie, &session).await.unwrap();
        store.delete_session(&cookie).await.unwrap();
        assert_eq!(
            store.find_session(&cookie, Timestamp(150)).await.unwrap(),
            None
        );

        store.insert_session(&cookie, &session).await.unwrap();
        assert!(store.delete_user(&alice.username).await.unwrap());
        assert!(!store.delete_user(&alice.username).await.unwrap());
        assert_eq!(
            store.find_session(&cookie, Timestamp(150)).await.unwrap(),
            None
        );
        assert!(store.list_users().await.unwrap().is_empty());
    }
);

store_test!(
    consent_is_per_user_client_and_resource,
    |store: Store| async move {
        let alice = sample_user("alice");
        store.insert_user(&alice).await.unwrap();
        let mut client = crate::clients::sample_client("app", &ClientSecret::generate());
        client.auth = ClientAuth::Public;
        store.insert_client(&client).await.unwrap();
        let id = ClientId::parse("app").unwrap();
        let api = ResourceUri::parse("https://api.example/").unwrap();
        assert_eq!(
            store.find_consent(&alice.user_id, &id, None).await.unwrap(),
            None
        );
        store
            .save_consent(
                &alice.user_id,
                &id,
                None,
                &Scope::parse("read").unwrap(),
                Timestamp(1),
            )
            .await
            .unwrap();
        store
            .save_consent(
                &alice.user_id,
                &id,
                None,
                &Scope::parse("read write").unwrap(),
                Timestamp(2),
            )
            .await
            .unwrap();
        assert_eq!(
            store.find_consent(&alice.user_id, &id, None).await.unwrap(),
            Some(Scope::parse("read write").unwrap())
        );
        assert_eq!(
            store
                .find_consent(&alice.user_id, &id, Some(&api))
                .await
                .unwrap(),
            None
        );
        // Withdrawn for one resource, it stays for the others.
        store
            .save_consent(
                &alice.user_id,
                &id,
                Some(&api),
                &Scope::parse("read").unwrap(),
                Timestamp(3),
            )
            .await
            .unwrap();
        assert!(
            store
                .delete_consent(&alice.user_id, &id, Some(&api))
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_consent(&alice.user_id, &id, Some(&api))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .find_consent(&alice.user_id, &id, Some(&api))
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .find_consent(&alice.user_id, &id, None)
                .await
                .unwrap()
                .is_some()
        );
        // Deleting the client forgets the consent given to it.
        store.delete_client(&id).await.unwrap();
        assert_eq!(
            store.find_consent(&alice.user_id, &id, None).await.unwrap(),
            None
        );
        // A public client reads back as public.
        store.insert_client(&client).await.unwrap();
        assert!(store.find_client(&id).await.unwrap().unwrap().is_public());
    }
);

store_test!(
    user_attributes_round_trip_and_update_in_place,
    |store: Store| async move {
        let mut maria = sample_user("maria");
        maria.name = Some("María García".into());
        maria.attributes = UserAttributes {
            given_name: Some("María".into()),
            family_name: Some("García".into()),
            email_verified: Some(true),
            locale: Some("es-ES".into()),
            phone_number: Some("+34 600 000 000".into()),
            address: Some(Address {
                locality: Some("Madrid".into()),
                country: Some("España".into()),
                ..Address::default()
            }),
            ..UserAttributes::default()
        };
        store.insert_user(&maria).await.unwrap();
        let loaded = store.find_user(&maria.user_id).await.unwrap().unwrap();
        assert_eq!(loaded.attributes, maria.attributes);
        assert_eq!(loaded.updated_at, Timestamp(100));

        let mut changed = loaded.clone();
        changed.email = Some("maria@example.org".into());
        changed.attributes.email_verified = Some(false);
        changed.attributes.address = None;
        changed.updated_at = Timestamp(300);
        assert!(store.update_user(&changed).await.unwrap());
        let reloaded = store
            .find_user_by_username(&maria.username)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reloaded.email.as_deref(), Some("maria@example.org"));
        assert_eq!(reloaded.attributes, changed.attributes);
        assert_eq!(reloaded.updated_at, Timestamp(300));
        assert!(
            Password::new("correct horse".into()).verify(&reloaded.password_hash),
            "the password is untouched"
        );
        let mut ghost = sample_user("ghost");
        ghost.user_id = "nobody".into();
        assert!(!store.update_user(&ghost).await.unwrap());

        // Pages read the session with its user and its public id in one query.
        let cookie = SecretHash::of(b"maria's browser");
        let session = Session {
            user_id: maria.user_id.clone(),
            auth_time: Timestamp(100),
            expires_at: Timestamp(200),
            sid: Some("sid-maria".into()),
        };
        store.insert_session(&cookie, &session).await.unwrap();
        let (found, user) = store
            .find_signed_in(&cookie, Timestamp(150))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, session);
        assert_eq!(user.attributes, changed.attributes);
    }
);
