//! `Store::copy_into`: an SQLite database copied into PostgreSQL, every table, in one transaction.
use latchkey_core::keys::KeyAlg;
use latchkey_core::resource::Resource;
use latchkey_core::secret::SecretHash;
use latchkey_core::throttle::ThrottleKey;
use latchkey_core::token::RefreshTokenRecord;
use latchkey_core::types::{ClientId, ResourceUri, Scope, Timestamp};
use latchkey_store::testing::TestDatabase;
use latchkey_store::{
    AuditStore, ClientStore, GrantStore, KeyStore, RegistrationStore, ResourceStore, Session,
    SessionStore, Store, StoreError, StoredKey, ThrottleStore, TokenStore, UserStore,
};
use sqlx::Row as _;

/// An SQLite database with a row in every table this build has.
async fn populated_sqlite() -> (TestDatabase, Store) {
    let db = TestDatabase::sqlite();
    let store = Store::connect(db.url()).await.unwrap();
    let code = crate::grants::setup(&store).await;
    let refresh = RefreshTokenRecord {
        hash: SecretHash::of(b"refresh"),
        grant_id: code.grant.grant_id.clone(),
        client_id: code.grant.client_id.clone(),
        created_at: Timestamp(10),
        expires_at: Timestamp(4_000_000_000),
    };
    store
        .record_issued(
            "jti-1",
            &code.grant.grant_id,
            Timestamp(4_000_000_000),
            Some(&refresh),
        )
        .await
        .unwrap();
    store
        .revoke_jti("revoked-jti", Timestamp(4_000_000_000))
        .await
        .unwrap();
    store
        .insert_audit(&[latchkey_store::AuditRecord::new(
            latchkey_store::AuditEvent::ClientCreated,
            "operator",
            1_000,
        )
        .client("app")])
        .await
        .unwrap();
    store
        .insert_opaque(&SecretHash::of(b"opaque"), &crate::tokens::claims("op-1"))
        .await
        .unwrap();
    let user_id = code.grant.user_id.clone();
    store
        .insert_session(
            &SecretHash::of(b"session"),
            &Session {
                user_id: user_id.clone(),
                auth_time: Timestamp(5),
                expires_at: Timestamp(4_000_000_000),
                sid: Some("sid-1".into()),
            },
        )
        .await
        .unwrap();
    store
        .save_consent(
            &user_id,
            &code.grant.client_id,
            None,
            &Scope::parse("read").unwrap(),
            Timestamp(5),
        )
        .await
        .unwrap();
    store
        .insert_first_key(&StoredKey {
            kid: "k1".into(),
            alg: KeyAlg::ES256,
            sealed_private: vec![1, 2, 3],
            created_at: Timestamp(1),
            retired_at: None,
            active: true,
        })
        .await
        .unwrap();
    store
        .insert_resource(
            &Resource {
                uri: ResourceUri::parse("https://api.example/").unwrap(),
                scopes: Scope::parse("read").unwrap(),
                format: None,
                access_token_ttl: None,
            },
            Timestamp(1),
        )
        .await
        .unwrap();
    store
        .insert_initial_access_token(
            &SecretHash::of(b"iat"),
            Timestamp(1),
            Timestamp(4_000_000_000),
        )
        .await
        .unwrap();
    store
        .record_assertion(
            &code.grant.client_id,
            "assertion-jti",
            Timestamp(4_000_000_000),
        )
        .await
        .unwrap();
    store
        .count_event(&ThrottleKey::event("register", "192.0.2.1"), Timestamp(60))
        .await
        .unwrap();
    store
        .update_counters(&[ThrottleKey::account("alice")], |c| {
            Ok::<_, ()>((
                vec![latchkey_core::throttle::Counter {
                    failures: 2,
                    ..c[0]
                }],
                (),
            ))
        })
        .await
        .unwrap()
        .unwrap();
    (db, store)
}

/// Row counts of every SQLite table but sqlx's own.
async fn sqlite_counts(db: &TestDatabase) -> Vec<(String, u64)> {
    let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT IN ('_sqlx_migrations', 'change_counters') ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("name"))
    .collect();
    let mut counts = Vec::new();
    for name in names {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM {name}"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        counts.push((name, row.get::<i64, _>("n") as u64));
    }
    pool.close().await;
    counts
}

#[tokio::test]
async fn every_table_is_copied_and_reads_back_on_postgres() {
    let Some(target_db) = TestDatabase::postgres().await else {
        return;
    };
    let (source_db, source) = populated_sqlite().await;
    let counts = sqlite_counts(&source_db).await;
    assert!(
        counts.iter().all(|(_, n)| *n > 0),
        "the fixture leaves no table empty: {counts:?}"
    );
    let target = Store::open(target_db.url(), &Default::default())
        .await
        .unwrap();
    let report = source.copy_into(&target, false).await.unwrap();
    assert_eq!(
        report.tables.into_iter().collect::<Vec<_>>(),
        counts,
        "every table, every row"
    );
    // What was copied works: the client, the key, the code (still unused) and the deny-list.
    assert!(
        target
            .find_client(&ClientId::parse("app").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        target.list_keys().await.unwrap()[0].sealed_private,
        vec![1, 2, 3]
    );
    assert!(target.is_revoked("revoked-jti").await.unwrap());
    assert!(
        target
            .use_refresh_token(&SecretHash::of(b"refresh"), Timestamp(20))
            .await
            .unwrap()
    );
    assert_eq!(target.list_users().await.unwrap().len(), 1);

    // A second copy into the now non-empty database is refused, and changes nothing…
    let err = source.copy_into(&target, false).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    assert!(err.to_string().contains("--force"), "{err}");
    // …unless forced, which replaces the contents (the refresh token is unused again).
    source.copy_into(&target, true).await.unwrap();
    assert!(
        target
            .use_refresh_token(&SecretHash::of(b"refresh"), Timestamp(20))
            .await
            .unwrap()
    );
    source.close().await;
    target.close().await;
}

#[tokio::test]
async fn only_sqlite_into_postgres_is_a_copy() {
    let a = TestDatabase::sqlite();
    let b = TestDatabase::sqlite();
    let a = Store::connect(a.url()).await.unwrap();
    let b = Store::connect(b.url()).await.unwrap();
    let err = a.copy_into(&b, false).await.unwrap_err();
    assert!(err.to_string().contains("into PostgreSQL"), "{err}");
}
