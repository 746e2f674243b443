//! The storage conformance suite: every behaviour is written once, generic over the role traits, and
//! `store_test!` runs it on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

mod clients;
mod copy;
mod grants;
mod keys;
mod schema;
mod throttle;
mod tokens;
mod users;

use latchkey_store::Store;
use latchkey_store::testing::TestDatabase;

/// Defines `mod $name { fn sqlite(); fn postgres(); }`, each running `$body(store)` on a fresh database.
macro_rules! store_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = latchkey_store::testing::TestDatabase::sqlite();
                let store = crate::open(&db).await;
                ($body)(store.clone()).await;
                store.close().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(db) = latchkey_store::testing::TestDatabase::postgres().await else {
                    return;
                };
                let store = crate::open(&db).await;
                ($body)(store.clone()).await;
                store.close().await;
            }
        }
    };
}
pub(crate) use store_test;

pub(crate) async fn open(db: &TestDatabase) -> Store {
    Store::connect(db.url()).await.unwrap()
}

#[tokio::test]
async fn reconnecting_to_a_migrated_database_keeps_its_data() {
    use latchkey_core::secret::ClientSecret;
    use latchkey_store::ClientStore;
    let db = TestDatabase::sqlite();
    let store = open(&db).await;
    store
        .insert_client(&clients::sample_client("kept", &ClientSecret::generate()))
        .await
        .unwrap();
    store.close().await;
    let reopened = open(&db).await;
    assert_eq!(reopened.list_clients().await.unwrap().len(), 1);
    reopened.close().await;
}

#[tokio::test]
async fn reconnecting_to_a_migrated_postgres_database_keeps_its_data() {
    use latchkey_core::secret::ClientSecret;
    use latchkey_store::ClientStore;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let store = open(&db).await;
    store
        .insert_client(&clients::sample_client("kept", &ClientSecret::generate()))
        .await
        .unwrap();
    store.close().await;
    let reopened = open(&db).await;
    assert_eq!(reopened.list_clients().await.unwrap().len(), 1);
    reopened.close().await;
}

#[tokio::test]
async fn unknown_url_scheme_is_refused_with_a_clear_message() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(
        err.to_string().contains("unsupported database URL scheme"),
        "{err}"
    );
}
