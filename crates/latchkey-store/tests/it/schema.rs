//! Schema status and migration on both backends, and how failures are classified.
use latchkey_core::throttle::ThrottleKey;
use latchkey_store::testing::TestDatabase;
use latchkey_store::{ConnectOptions, HealthStore, Store, StoreError, ThrottleStore};
use sqlx::Connection as _;

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

const HOLD_ROW: &str = "INSERT INTO login_throttle VALUES ($1, 0, 0, NULL, 0, 0)";

fn short_statements() -> ConnectOptions {
    ConnectOptions {
        statement_timeout: std::time::Duration::from_millis(300),
        ..ConnectOptions::default()
    }
}

/// While another connection holds `key`'s counter row, the store gives up after
/// `database.statement_timeout` and says the database is unavailable.
async fn gives_up_after_the_statement_timeout(store: &Store, key: ThrottleKey) {
    let started = std::time::Instant::now();
    let err = store
        .update_counters(&[key], |c| Ok::<_, ()>((c.to_vec(), ())))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        waited >= std::time::Duration::from_millis(250)
            && waited < std::time::Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn sqlite_writes_give_up_after_the_statement_timeout() {
    let db = TestDatabase::sqlite();
    let store = Store::open(db.url(), &short_statements()).await.unwrap();
    store.migrate().await.unwrap();
    let key = ThrottleKey::account("held");
    let mut other = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query(HOLD_ROW)
        .bind(&key.as_bytes()[..])
        .execute(&mut other)
        .await
        .unwrap();
    gives_up_after_the_statement_timeout(&store, key).await;
    other.close().await.ok();
    store.close().await;
}

#[tokio::test]
async fn postgres_statements_are_cancelled_after_the_statement_timeout() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let store = Store::open(db.url(), &short_statements()).await.unwrap();
    store.migrate().await.unwrap();
    let key = ThrottleKey::account("held");
    let mut other = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(HOLD_ROW)
        .bind(&key.as_bytes()[..])
        .execute(&mut other)
        .await
        .unwrap();
    gives_up_after_the_statement_timeout(&store, key).await;
    other.close().await.ok();
    store.close().await;
}

#[tokio::test]
async fn issue_24_the_sqlite_synchronous_setting_reaches_the_connections() {
    use latchkey_store::Synchronous;
    use latchkey_store::testing::sqlite_synchronous;
    for (setting, pragma) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
        let db = TestDatabase::sqlite();
        let options = ConnectOptions {
            sqlite_synchronous: setting,
            ..ConnectOptions::default()
        };
        let store = Store::open(db.url(), &options).await.unwrap();
        assert_eq!(
            sqlite_synchronous(&store).await,
            Some(pragma),
            "{setting:?}"
        );
        store.close().await;
    }
}
