//! `Fleet`: several real `latchkey serve` processes (the built binary) on one database, each on its own
//! loopback port, driven over HTTP the way a load balancer spreads requests; and `PrivatePostgres`, a
//! PostgreSQL server of a test's own, which the test may stop and start without disturbing the
//! machine's shared server that other tests use.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_store::Store;
use serde_json::Value;

use crate::harness::{MASTER_KEY, form_encode};

/// Configuration every fleet gets. The issuer is shared, as by instances behind one load balancer
/// (nothing listens there: tests speak to each instance's own port); changes and keys reach instances
/// quickly, a request gives up on an unreachable database fast, and no access log floods the output.
/// Request-rate limits are per instance and would answer the load tests' bursts from one loopback
/// address with 429; they are tested on their own (`rate_limits.rs`).
const BASE_TOML: &str = "issuer = \"http://127.0.0.1:9\"\n\
    [cache]\nrefresh_interval = \"50ms\"\n\
    [keys]\nrefresh_interval = \"1s\"\n\
    [database]\nacquire_timeout = \"500ms\"\nstatement_timeout = \"5s\"\n\
    [log]\naccess = false\n\
    [rate_limits]\nenabled = false\n\
    [scopes.read]\ndescription = \"Read your data\"\n";

/// One `latchkey serve` process.
pub(crate) struct Instance {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) origin: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn spawn(config: &Path, database_url: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
            .env("LATCHKEY_DATABASE_URL", database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Instance {
            child: Some(child),
            origin: String::new(),
            log,
        }
    }

    /// Waits for the "serving" line and reads the bound address from it.
    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|line| {
                line.contains("latchkey is serving")
                    .then(|| line.split("listen=").nth(1))
                    .flatten()
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_owned)
            });
            if let Some(listen) = found {
                self.origin = format!("http://{listen}");
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "latchkey serve did not start ({exited:?}):\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Everything the process wrote to stderr so far.
    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGKILL: no shutdown, no draining, whatever was in flight is lost.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several instances on one database.
pub(crate) struct Fleet {
    dir: PathBuf,
    config: PathBuf,
    database_url: String,
    pub(crate) instances: Vec<Instance>,
    pub(crate) http: reqwest::Client,
    /// The database, opened as the CLI opens it, for setting up users and clients.
    pub(crate) store: Store,
}

impl Fleet {
    /// Starts `n` instances at the same moment on `database_url` (which may be empty: they migrate it),
    /// with `toml` added to the fleet's configuration.
    pub(crate) async fn start(database_url: &str, n: usize, toml: &str) -> Fleet {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-fleet-{}",
            latchkey_core::secret::random_base64url(8)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("latchkey.toml");
        std::fs::write(&config, format!("{BASE_TOML}{toml}\n")).unwrap();
        let mut instances: Vec<Instance> = (0..n)
            .map(|_| Instance::spawn(&config, database_url))
            .collect();
        for instance in &mut instances {
            instance.ready().await;
        }
        let store = Store::connect(database_url).await.unwrap();
        Fleet {
            dir,
            config,
            database_url: database_url.to_owned(),
            instances,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store,
        }
    }

    /// Instance `i`.
    pub(crate) fn at(&self, i: usize) -> &Instance {
        &self.instances[i % self.instances.len()]
    }

    /// Kills instance `i` with SIGKILL.
    pub(crate) fn kill(&mut self, i: usize) {
        self.instances[i].kill();
    }

    /// Starts a new process in place of instance `i` (on a new port) and waits until it serves.
    pub(crate) async fn restart(&mut self, i: usize) {
        let mut instance = Instance::spawn(&self.config, &self.database_url);
        instance.ready().await;
        self.instances[i] = instance;
    }

    /// POSTs a form to instance `i`'s `path`, with an optional `Authorization` header.
    pub(crate) async fn post_form(
        &self,
        i: usize,
        path: &str,
        form: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .http
            .post(self.at(i).url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await
    }

    /// POSTs JSON to instance `i`'s `path`.
    pub(crate) async fn post_json(
        &self,
        i: usize,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(self.at(i).url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
    }

    /// Stops every instance and closes the store.
    pub(crate) async fn stop(mut self) {
        for instance in &mut self.instances {
            instance.kill();
        }
        self.store.close().await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            instance.kill();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Reads a JSON body, whatever the status.
pub(crate) async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Runs a command, as `user` when given (through `runuser`, which only root may use).
fn run(user: Option<&str>, program: &Path, args: &[&str]) -> std::process::Output {
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
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// A PostgreSQL server of one test's own: `initdb` into a temporary directory and `pg_ctl` on a free
/// loopback port, stopped and removed on drop.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    /// initdb refuses to run as root; then the server runs as the `postgres` system user.
    user: Option<&'static str>,
    port: u16,
}

impl PrivatePostgres {
    /// Starts a fresh server, or says why it cannot (`None` locally; a panic under `CI`).
    pub(crate) async fn start() -> Option<PrivatePostgres> {
        let unavailable = |why: String| {
            assert!(
                std::env::var_os("CI").is_none(),
                "a private PostgreSQL server is needed under CI: {why}"
            );
            eprintln!("skipped: {why}");
        };
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .max()
        else {
            unavailable("no initdb under /usr/lib/postgresql/*/bin".into());
            return None;
        };
        let uid = Command::new("id").arg("-u").output().unwrap();
        let user = (String::from_utf8_lossy(&uid.stdout).trim() == "0").then_some("postgres");
        let data = std::env::temp_dir().join(format!(
            "latchkey-pg-{}",
            latchkey_core::secret::random_base64url(8).replace(['-', '_'], "x")
        ));
        std::fs::create_dir_all(&data).unwrap();
        if let Some(user) = user {
            let chown = Command::new("chown")
                .args([user, data.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(chown.success(), "chown {user} {}", data.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres {
            bin,
            data,
            user,
            port,
        };
        let init = run(
            pg.user,
            &pg.bin.join("initdb"),
            &[
                "-D",
                pg.data.join("db").to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        if !init.status.success() {
            unavailable(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr)
            ));
            return None;
        }
        pg.start_server();
        Some(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let db = self.data.join("db");
        let log = self.data.join("server.log");
        let mut all = vec!["-D", db.to_str().unwrap(), "-l", log.to_str().unwrap()];
        all.extend_from_slice(args);
        run(self.user, &self.bin.join("pg_ctl"), &all)
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.display()
        );
        let started = self.pg_ctl(&["-w", "-o", &options, "start"]);
        assert!(
            started.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&started.stdout),
            std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server (`-m fast`: open connections are terminated, as in a failover or a restart).
    pub(crate) fn stop_server(&self) {
        let stopped = self.pg_ctl(&["-w", "-m", "fast", "stop"]);
        assert!(
            stopped.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&stopped.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
        std::fs::remove_dir_all(&self.data).ok();
    }
}
