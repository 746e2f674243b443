//! Throwaway databases for tests: a fresh SQLite file or a fresh PostgreSQL database per test, and
//! PostgreSQL servers of a test process's own.
//!
//! PostgreSQL tests read `LATCHKEY_TEST_POSTGRES_URL` (a URL whose user may create databases). Without
//! it, a test process starts one throwaway server of its own (`initdb` and `pg_ctl`, on a loopback
//! port, stopped when the process exits) when PostgreSQL's programs are installed, so a fresh clone
//! runs every variant. Where they are not, the variants skip and say so in one line the test
//! harness does not capture; under `CI` that is a failure instead, so CI never silently skips.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Once, OnceLock};

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
    /// Without `LATCHKEY_TEST_POSTGRES_URL`, the database is made on this process's own server (see
    /// the module's documentation).
    ///
    /// # Panics
    /// Under `CI` when there is neither `LATCHKEY_TEST_POSTGRES_URL` nor a server of its own, and
    /// whenever the server cannot create the database.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) => url,
            Err(_) => match shared_server() {
                Ok(url) => url.to_owned(),
                Err(why) => {
                    skip(&format!("{POSTGRES_URL_VAR} is not set and {why}"));
                    return None;
                }
            },
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

/// Says a PostgreSQL test did not run: in its captured output, and once per process in a line the
/// harness does not capture (written to the stderr handle, not through `eprintln!`), so whoever reads
/// a run's summary learns that "ok" did not mean PostgreSQL was tried.
///
/// # Panics
/// Under `CI`: there a skip is a failure.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "PostgreSQL tests must run under CI: {why}"
    );
    eprintln!("skipped: {why}");
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let line = format!(
            "note: this run skips its PostgreSQL tests: {why} (set {POSTGRES_URL_VAR} or install PostgreSQL)\n"
        );
        std::io::stderr().write_all(line.as_bytes()).ok();
    });
}

/// This process's own server for `TestDatabase::postgres`, started by the first test that asks:
/// its admin URL, or why there is none.
fn shared_server() -> Result<&'static str, &'static str> {
    static SHARED: OnceLock<Result<String, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let pg = PrivatePostgres::create()?;
            pg.stop_when_process_exits()
        })
        .as_deref()
        .map_err(String::as_str)
}

/// A PostgreSQL server of its own: `initdb` into a temporary directory and `pg_ctl` on a free
/// loopback port, stopped and removed on drop. Tests that stop and start the database under a
/// running server use one; `TestDatabase::postgres` shares one per process when no server is named.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    /// initdb refuses to run as root; then the server runs as the `postgres` system user.
    user: Option<&'static str>,
    port: u16,
}

impl PrivatePostgres {
    /// Starts a fresh server, or says why it cannot (`None` locally, after saying so).
    ///
    /// # Panics
    /// Under `CI` when the server cannot be made.
    pub async fn start() -> Option<PrivatePostgres> {
        PrivatePostgres::create().map_err(|why| skip(&why)).ok()
    }

    fn create() -> Result<PrivatePostgres, String> {
        let bin = postgres_bin().ok_or("PostgreSQL's initdb is not installed")?;
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        let user = (String::from_utf8_lossy(&uid.stdout).trim() == "0").then_some("postgres");
        let data = std::env::temp_dir().join(format!("latchkey-pg-{}", unique_suffix()));
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        // Made before anything can fail, so its drop removes the directory whatever fails next.
        let mut pg = PrivatePostgres {
            bin,
            data,
            user,
            port: 0,
        };
        if let Some(user) = user {
            let chown = Command::new("chown")
                .arg(user)
                .arg(&pg.data)
                .status()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !chown.success() {
                return Err(format!("chown {user} {} failed", pg.data.display()));
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        pg.port = port;
        let db = pg.data.join("db");
        let init = run(
            pg.user,
            &pg.bin.join("initdb"),
            &[
                "-D",
                &db.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        if !init.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr).trim()
            ));
        }
        pg.start_server();
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let db = self.data.join("db").to_string_lossy().into_owned();
        let log = self.data.join("server.log").to_string_lossy().into_owned();
        let mut all = vec!["-D", &db, "-l", &log];
        all.extend_from_slice(args);
        run(self.user, &self.bin.join("pg_ctl"), &all)
    }

    /// Starts the server and waits until it accepts connections. Durability is off (`fsync`): the
    /// data is thrown away, and tests are what it must be fast for.
    ///
    /// # Panics
    /// When the server does not start.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.data.display()
        );
        let started = self
            .pg_ctl(&["-w", "-o", &options, "start"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            started.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&started.stdout),
            std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server (`-m fast`: open connections are terminated, as in a failover or a restart).
    ///
    /// # Panics
    /// When the server does not stop.
    pub fn stop_server(&self) {
        let stopped = self
            .pg_ctl(&["-w", "-m", "fast", "stop"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stopped.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&stopped.stderr)
        );
    }

    /// Hands the server to a watcher that stops it and removes its files once this process is gone,
    /// however it ends (a static is never dropped, and a test binary may be killed); its URL.
    fn stop_when_process_exits(self) -> Result<String, String> {
        const WATCH: &str = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
            if [ -n \"$4\" ]; then runuser -u \"$4\" -- \"$3\" -D \"$2/db\" -w -m immediate stop; \
            else \"$3\" -D \"$2/db\" -w -m immediate stop; fi; rm -rf \"$2\"";
        Command::new("sh")
            .args(["-c", WATCH, "sh"])
            .arg(std::process::id().to_string())
            .arg(&self.data)
            .arg(self.bin.join("pg_ctl"))
            .arg(self.user.unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot watch the test server: {e}"))?;
        let url = self.url();
        // The watcher owns the server now; dropping it here would stop it.
        std::mem::forget(self);
        Ok(url)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]).ok();
        std::fs::remove_dir_all(&self.data).ok();
    }
}

/// PostgreSQL's programs: the newest `/usr/lib/postgresql/*/bin` (Debian's layout, where they are
/// not on the `PATH`), or wherever the `PATH` has `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .max();
    debian.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

/// Runs a command, as `user` when given (through `runuser`, which only root may use).
fn run(user: Option<&str>, program: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    let mut command = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))
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
