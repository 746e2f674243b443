//! Throwaway databases for tests: a fresh SQLite file or a fresh PostgreSQL database per test.
//!
//! PostgreSQL tests read `LATCHKEY_TEST_POSTGRES_URL` (a URL whose user may create databases). Without
//! it they report "skipped" locally; under `CI` a missing URL is a failure, so CI never silently skips.
use std::path::PathBuf;

use sqlx::Connection;
use url::Url;

/// A database that exists for one test and is removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "LATCHKEY_TEST_POSTGRES_URL";

impl TestDatabase {
    /// A new SQLite file in a fresh temporary directory.
    pub fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("latchkey-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("temporary directory is writable");
        let url = format!("sqlite://{}", dir.join("latchkey.db").display());
        TestDatabase {
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A new, empty PostgreSQL database, or `None` (after saying so) when no server is configured
    /// outside CI.
    ///
    /// # Panics
    /// Under `CI` when `LATCHKEY_TEST_POSTGRES_URL` is unset, and whenever the server cannot create the
    /// database.
    pub async fn postgres() -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{POSTGRES_URL_VAR} is not set: PostgreSQL tests must run in CI"
            );
            eprintln!("skipped: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        let name = format!("latchkey_test_{}", unique_suffix());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL test server reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("test database created");
        admin.close().await.ok();
        let mut url = Url::parse(&admin_url).expect("LATCHKEY_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(TestDatabase {
            url: url.to_string(),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// The URL to give to `Store::connect` or to `latchkey --database`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived runtime
                // on its own thread does the cleanup.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await
                            .ok()
                    })
                })
                .join();
                if !matches!(dropped, Ok(Some(_))) {
                    eprintln!("warning: could not drop test database {}", self.url);
                }
            }
        }
    }
}

fn unique_suffix() -> String {
    let bytes: [u8; 8] = latchkey_core::secret::random_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SQLite's `synchronous` setting on the writer connection (1 NORMAL, 2 FULL); `None` on PostgreSQL.
pub async fn sqlite_synchronous(store: &crate::Store) -> Option<i64> {
    match store {
        crate::Store::Sqlite(s) => Some(
            sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(s.write_pool())
                .await
                .expect("PRAGMA synchronous answers"),
        ),
        crate::Store::Postgres(_) => None,
    }
}
