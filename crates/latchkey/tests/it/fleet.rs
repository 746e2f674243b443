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

/// A PostgreSQL server of one test's own, which it may stop and start.
pub(crate) use latchkey_store::testing::PrivatePostgres;

/// Configuration every fleet gets. The issuer is shared, as by instances behind one load balancer
/// (nothing listens there: tests speak to each instance's own port); changes and keys reach instances
/// quickly, a request gives up on an unreachable database fast, and no access log floods the output.
/// Request-rate limits are per instance and beside the point here (the loads exceed them on purpose):
/// they are off.
const BASE_TOML: &str = "issuer = \"http://127.0.0.1:9\"\n\
    [cache]\nrefresh_interval = \"50ms\"\n\
    [keys]\nrefresh_interval = \"1s\"\n\
    [database]\nacquire_timeout = \"500ms\"\nstatement_timeout = \"5s\"\n\
    [log]\naccess = false\n\
    [scopes.read]\ndescription = \"Read your data\"\n\
    [rate_limits]\nenabled = false\n";

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
