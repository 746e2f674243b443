//! Schema status and migration on both backends, and how failures are classified.
use latchkey_store::testing::TestDatabase;
use latchkey_store::{ConnectOptions, HealthStore, Store, StoreError};

async fn behind_until_migrated(db: TestDatabase) {
    let store = Store::open(db.url(), &ConnectOptions::default())
        .await
        .unwrap();
    let status = store.schema().await.unwrap();
    assert!(status.pending.len() >= 7, "{status:?}");
    assert_eq!(status.pending[0], "0001_init");
    let err = store.check_schema().await.unwrap_err();
    assert!(matches!(err, StoreError::Schema(_)));
    assert!(
        err.to_string().contains("behind") && err.to_string().contains("latchkey migrate"),
        "{err}"
    );
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied, status.pending.len());
    store.check_schema().await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), 0, "nothing left to apply");
    store.close().await;
}

#[tokio::test]
async fn a_fresh_sqlite_database_is_behind_until_migrated() {
    behind_until_migrated(TestDatabase::sqlite()).await;
}

#[tokio::test]
async fn a_fresh_postgres_database_is_behind_until_migrated() {
    if let Some(db) = TestDatabase::postgres().await {
        behind_until_migrated(db).await;
    }
}

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_a_statement_error() {
    let db = TestDatabase::sqlite();
    let store = Store::connect(db.url()).await.unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_unavailable_within_the_acquire_timeout() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = ConnectOptions {
        acquire_timeout: std::time::Duration::from_millis(300),
        ..ConnectOptions::default()
    };
    let started = std::time::Instant::now();
    let err = Store::open(&format!("postgres://postgres@127.0.0.1:{port}/x"), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_statement_error_is_not_unavailability() {
    assert!(matches!(
        StoreError::from(sqlx::Error::RowNotFound),
        StoreError::Database(_)
    ));
    assert!(matches!(
        StoreError::from(sqlx::Error::PoolTimedOut),
        StoreError::Unavailable(_)
    ));
}
