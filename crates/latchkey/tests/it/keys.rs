//! Signing keys: rotation keeps tokens signed by the old key verifiable, and a restart keeps clients
//! and keys.
use std::time::Duration;

use latchkey_core::keys::KeyAlg;
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_server::keyring;
use latchkey_store::testing::TestDatabase;

use crate::harness::{TestServer, eventually, header_of, server_test, verify};

server_test!(
    rotation_keeps_old_tokens_verifiable_and_signs_new_ones_with_the_new_key,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[keys]\nrefresh_interval = \"100ms\"")
            .start(&db)
            .await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let old = server.client_credentials(&client).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let old_kid = header_of(&old)["kid"].as_str().unwrap().to_owned();

        // What `latchkey keys rotate --alg EdDSA` does, from outside the server.
        let master = server.config.master_key().unwrap();
        let now = latchkey_server::clock::Clock::system().now();
        let window = server.config.settings.keys.publish_window;
        let new_kid = keyring::rotate(&server.store, &master, KeyAlg::EdDSA, now, window)
            .await
            .unwrap();
        assert_ne!(new_kid, old_kid);

        // The server notices within its refresh interval.
        let mut keys = server.jwks().await;
        for _ in 0..50 {
            if keys.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            keys = server.jwks().await;
        }
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert!(
            kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
            "{kids:?}"
        );
        for key in &keys {
            assert_eq!(key.use_, "sig");
        }

        let new = server.client_credentials(&client).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (header, _) = verify(&new, &keys);
        assert_eq!(header["kid"], new_kid);
        assert_eq!(header["alg"], "EdDSA");
        let (header, claims) = verify(&old, &keys);
        assert_eq!(header["kid"], old_kid);
        assert_eq!(claims["sub"], client.id);
        server.stop().await;
    }
);

server_test!(
    retired_keys_leave_the_jwks_after_their_tokens_expire,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[tokens]\naccess_token_ttl = \"5m\"")
            .start(&db)
            .await;
        let master = server.config.master_key().unwrap();
        let window = server.config.settings.keys.publish_window;
        assert_eq!(window, 300 + 60, "token lifetime plus clock leeway");
        let first = server.jwks().await[0].kid.clone();
        let now = latchkey_server::clock::Clock::system().now();
        keyring::rotate(&server.store, &master, KeyAlg::ES256, now, window)
            .await
            .unwrap();
        let stored = latchkey_store::KeyStore::list_keys(&server.store)
            .await
            .unwrap();
        let retired = stored.iter().find(|k| k.kid == first).unwrap();
        assert!(keyring::is_published(retired, now.plus(window - 1), window));
        assert!(!keyring::is_published(retired, now.plus(window), window));
        // A later rotation prunes what can no longer verify anything.
        keyring::rotate(
            &server.store,
            &master,
            KeyAlg::ES256,
            now.plus(window + 1),
            window,
        )
        .await
        .unwrap();
        let stored = latchkey_store::KeyStore::list_keys(&server.store)
            .await
            .unwrap();
        assert!(stored.iter().all(|k| k.kid != first));
        server.stop().await;
    }
);

server_test!(
    a_restart_keeps_clients_and_keys,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretPost,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let before = server.client_credentials_post(&client).await;
        let kid = header_of(before["access_token"].as_str().unwrap())["kid"].clone();
        server.stop().await;

        let restarted = TestServer::start(&db).await;
        let after = restarted.client_credentials_post(&client).await;
        let token = after["access_token"].as_str().unwrap();
        assert_eq!(
            header_of(token)["kid"],
            kid,
            "the same key signs after a restart"
        );
        let keys = restarted.jwks().await;
        assert_eq!(keys.len(), 1);
        verify(before["access_token"].as_str().unwrap(), &keys);
        restarted.stop().await;
    }
);

server_test!(
    l6_retired_keys_stay_published_for_the_longest_resource_ttl,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[tokens]\naccess_token_ttl = \"5m\"\n[resources.\"https://reports.example/\"]\nttl = \"2h\"")
            .start(&db)
            .await;
        let configured = server.config.settings.keys.publish_window;
        assert_eq!(configured, 7200 + 60, "the configured resource's lifetime");
        // A resource added to the database later with a longer lifetime counts too.
        let now = latchkey_server::clock::Clock::system().now();
        latchkey_store::ResourceStore::insert_resource(
            &server.store,
            &latchkey_core::resource::Resource {
                uri: latchkey_core::types::ResourceUri::parse("https://ledger.example/").unwrap(),
                scopes: latchkey_core::types::Scope::default(),
                format: None,
                access_token_ttl: Some(86_400),
            },
            now,
        )
        .await
        .unwrap();
        let window = keyring::publish_window(&server.store, configured)
            .await
            .unwrap();
        assert_eq!(window, 86_400 + 60);
        let master = server.config.master_key().unwrap();
        let first = server.jwks().await[0].kid.clone();
        keyring::rotate(&server.store, &master, KeyAlg::ES256, now, configured)
            .await
            .unwrap();
        // Twelve hours on, a token of the ledger signed before the rotation still verifies.
        let later = keyring::load(&server.store, &master, now.plus(12 * 3600), configured)
            .await
            .unwrap();
        assert!(later.published.iter().any(|k| k.kid == first));
        server.stop().await;
    }
);

server_test!(
    i7_a_revoked_key_stops_verifying_at_once_cached_or_not,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[keys]\nrefresh_interval = \"100ms\"")
            .start(&db)
            .await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let token = server.client_credentials(&client).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
        let introspect = || async {
            let body: serde_json::Value = server
                .http
                .post(server.url("/introspect"))
                .header(
                    "authorization",
                    crate::harness::basic(&client.id, &client.secret),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(crate::harness::form_encode(&[("token", &token)]))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["active"].as_bool().unwrap()
        };
        assert!(introspect().await, "verified once, and cached");
        // `latchkey keys revoke KID` from outside the server; an unknown id is a one-line error.
        let revoke = |kid: &str| crate::command::latchkey(&db, &["keys", "revoke", kid]);
        let unknown = revoke("no-such-kid");
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-kid"));
        // A kid is a thumbprint and may start with `-`: still the kid, not an option.
        let dashed = revoke("-no-such-kid");
        assert_eq!(
            String::from_utf8_lossy(&dashed.stderr).trim(),
            "error: keys revoke: no key has the id `-no-such-kid`"
        );
        let done = revoke(&kid);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        eventually("the revoked key leaves the JWKS", || async {
            server.jwks().await.iter().all(|k| k.kid != kid)
        })
        .await;
        assert!(
            !introspect().await,
            "the cached verification went with the key"
        );
        let fresh = server.client_credentials(&client).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(header_of(&fresh)["kid"], kid.as_str(), "a new key signs");
        // The operator's removal is in the audit trail.
        let trail =
            crate::command::stdout_of(&crate::command::latchkey(&db, &["audit", "list", "--json"]));
        let record = trail
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["event"] == "key.revoked")
            .expect("a key.revoked record");
        assert_eq!(record["actor"], "operator");
        assert!(record["reason"].as_str().unwrap().contains(&kid));
        server.stop().await;
    }
);
