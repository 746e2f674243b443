//! `TestServer`: the server started in-process exactly as `latchkey serve` starts it, on an ephemeral
//! loopback port, stopped when dropped; and `server_test!`, which runs a test on both backends.
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey::cli::serve::{Prepared, prepare_with_clock};
use latchkey::config::{self, Config, Flags};
use latchkey_core::client::{Client, ClientAuth, ClientPolicy};
use latchkey_core::keys::Jwk;
use latchkey_core::secret::ClientSecret;
use latchkey_core::token::jwt;
use latchkey_core::types::{AuthMethod, ClientId, GrantType, RedirectUri, Scope};
use latchkey_server::clock::Clock;
use latchkey_store::ClientStore;
use latchkey_store::testing::TestDatabase;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The master key every test server uses, so a restarted server opens the keys its predecessor sealed.
pub(crate) const MASTER_KEY: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Runs `$body(db: TestDatabase)` once on a fresh SQLite file and once on a fresh PostgreSQL database.
macro_rules! server_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = latchkey_store::testing::TestDatabase::sqlite();
                ($body)(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = latchkey_store::testing::TestDatabase::postgres().await else {
                    return;
                };
                ($body)(db).await;
            }
        }
    };
}
pub(crate) use server_test;

/// How to start a server: extra TOML and an issuer path, or a whole profile file.
#[derive(Default)]
pub(crate) struct Builder {
    toml: String,
    issuer_path: String,
    profile: Option<(String, Vec<String>)>,
    issuer: Option<String>,
    clock: Option<Clock>,
}

/// Until `check` passes or 3 s pass: for effects that reach a running server within its cache refresh
/// interval (50 ms in tests).
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..60 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 3 s");
}

impl Builder {
    /// Serves with this clock (servers of one test can share one), instead of a clock of its own.
    pub(crate) fn clock(mut self, clock: &Clock) -> Self {
        self.clock = Some(clock.clone());
        self
    }

    /// Adds configuration file text.
    pub(crate) fn toml(mut self, text: &str) -> Self {
        self.toml.push_str(text);
        self.toml.push('\n');
        self
    }

    /// Uses this issuer rather than the server's own origin, as a server that replaces another one
    /// (on a new port) keeps its predecessor's issuer.
    pub(crate) fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// Gives the issuer a path component, e.g. `/v3/oauth`.
    pub(crate) fn issuer_path(mut self, path: &str) -> Self {
        self.issuer_path = path.to_owned();
        self
    }

    /// Serves a whole configuration file, its issuer included, with extra TOML appended. Each origin
    /// in `mapped` (such as `https://api.scalev.com`) is first replaced by this server's loopback
    /// origin, so a profile can be served with a loopback issuer and its own paths; with none mapped,
    /// it is served exactly as written (requests then reach its endpoints by their paths).
    pub(crate) fn profile(mut self, text: &str, mapped: &[&str]) -> Self {
        self.profile = Some((
            text.to_owned(),
            mapped.iter().map(|o| (*o).to_owned()).collect(),
        ));
        self
    }

    pub(crate) async fn start(self, db: &TestDatabase) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let origin = format!("http://{addr}");
        let flags = Flags {
            issuer: self.profile.is_none().then(|| {
                self.issuer
                    .clone()
                    .unwrap_or_else(|| format!("{origin}{}", self.issuer_path))
            }),
            listen: Some(addr.to_string()),
            database: Some(db.url().to_owned()),
            ..Flags::default()
        };
        let env = BTreeMap::from([("LATCHKEY_MASTER_KEY".to_owned(), MASTER_KEY.to_owned())]);
        // Changes made outside the server (the CLI, the store) reach it quickly in tests.
        let cache = "[cache]\nrefresh_interval = \"50ms\"\n";
        let toml = match &self.profile {
            None => format!("{cache}{}", self.toml),
            Some((text, mapped)) => {
                let text = mapped.iter().fold(text.clone(), |text, from| {
                    text.replace(from.as_str(), &origin)
                });
                format!("{text}\n{cache}{}", self.toml)
            }
        };
        let mut toml = toml;
        if self.issuer.is_some() {
            // Another issuer than this origin: the endpoints are still served here.
            toml.push_str(&format!("\n[endpoints]\nbase_url = \"{origin}\"\n"));
        }
        let config = config::from_parts(&toml, &env, &flags).unwrap();
        let clock = self.clock.unwrap_or_else(Clock::shifted);
        let Prepared { store, state, .. } =
            prepare_with_clock(&config, clock.clone()).await.unwrap();
        // `metrics.listen = "127.0.0.1:0"` in a test: its own ephemeral port, as `serve` binds it.
        let mut metrics_origin = None;
        if let Some(addr) = config.metrics.listen {
            let listener = TcpListener::bind(addr).await.unwrap();
            metrics_origin = Some(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(latchkey_server::serve_metrics(
                listener,
                state.clone(),
                std::future::pending(),
            ));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(latchkey_server::serve(listener, state, async {
            stopped.await.ok();
        }));
        TestServer {
            origin,
            clock,
            metrics_origin,
            issuer: config.settings.features.issuer.as_str().to_owned(),
            config,
            store,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// A running server.
pub(crate) struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) origin: String,
    /// The server's clock: the system's time, which a test moves ahead instead of sleeping.
    pub(crate) clock: Clock,
    /// The metrics listener's origin, when `metrics.listen` is configured.
    pub(crate) metrics_origin: Option<String>,
    /// The configured issuer (origin plus any path).
    pub(crate) issuer: String,
    pub(crate) config: Config,
    pub(crate) store: latchkey_store::Store,
    pub(crate) http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A client registered for a test, with its secret in clear.
#[derive(Clone)]
pub(crate) struct TestClient {
    pub(crate) id: String,
    pub(crate) secret: String,
}

impl TestServer {
    pub(crate) fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) async fn start(db: &TestDatabase) -> TestServer {
        Builder::default().start(db).await
    }

    /// Stops the server gracefully and closes its store.
    pub(crate) async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.store.close().await;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Registers a client the way `latchkey client create` does.
    pub(crate) async fn create_client(
        &self,
        method: AuthMethod,
        grants: &[GrantType],
        scope: &str,
    ) -> TestClient {
        self.create_app(method, grants, scope, &[]).await
    }

    /// Registers a client with redirect URIs; `AuthMethod::None` makes a public one (empty secret).
    pub(crate) async fn create_app(
        &self,
        method: AuthMethod,
        grants: &[GrantType],
        scope: &str,
        redirect_uris: &[&str],
    ) -> TestClient {
        self.create_app_with(
            method,
            grants,
            scope,
            redirect_uris,
            ClientPolicy::default(),
        )
        .await
    }

    /// `create_app` with a client policy (resource-server role, token format, allowed resources).
    pub(crate) async fn create_app_with(
        &self,
        method: AuthMethod,
        grants: &[GrantType],
        scope: &str,
        redirect_uris: &[&str],
        policy: ClientPolicy,
    ) -> TestClient {
        insert_client(&self.store, method, grants, scope, redirect_uris, policy).await
    }

    pub(crate) async fn metadata(&self) -> Value {
        let url = format!(
            "{}/.well-known/oauth-authorization-server{}",
            self.origin,
            latchkey_core::types::Issuer::parse(&self.issuer)
                .unwrap()
                .path()
        );
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn jwks(&self) -> Vec<Jwk> {
        let metadata = self.metadata().await;
        let jwks: Value = self
            .http
            .get(metadata["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(jwks["keys"].clone()).unwrap()
    }

    /// POSTs a form to the token endpoint, with optional extra headers.
    pub(crate) async fn token_request(
        &self,
        form: &[(&str, &str)],
        authorization: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.config.settings.features.endpoints.token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }

    /// A client_credentials token for `client` by client_secret_basic; panics unless it is issued.
    pub(crate) async fn client_credentials(&self, client: &TestClient) -> Value {
        let response = self
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(&client.id, &client.secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

impl TestServer {
    /// A client_credentials token for `client` by client_secret_post; panics unless it is issued.
    pub(crate) async fn client_credentials_post(&self, client: &TestClient) -> Value {
        let response = self
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client.id),
                    ("client_secret", &client.secret),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// Registers a client in `store` the way `latchkey client create` does; `AuthMethod::None` makes a
/// public one (empty secret).
pub(crate) async fn insert_client(
    store: &latchkey_store::Store,
    method: AuthMethod,
    grants: &[GrantType],
    scope: &str,
    redirect_uris: &[&str],
    policy: ClientPolicy,
) -> TestClient {
    let secret = ClientSecret::generate();
    let client = Client {
        client_id: ClientId::generate(),
        name: "Test App".into(),
        auth: match method {
            AuthMethod::None => ClientAuth::Public,
            method => ClientAuth::Secret {
                method,
                hash: secret.hash(),
            },
        },
        grant_types: grants.iter().copied().collect::<BTreeSet<_>>(),
        scope: Scope::parse(scope).unwrap(),
        redirect_uris: redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(*u).unwrap())
            .collect(),
        created_at: latchkey_server::clock::Clock::system().now(),
        policy,
    };
    store.insert_client(&client).await.unwrap();
    TestClient {
        id: client.client_id.to_string(),
        secret: match method {
            AuthMethod::None => String::new(),
            _ => secret.expose().to_owned(),
        },
    }
}

/// `application/x-www-form-urlencoded` body.
pub(crate) fn form_encode(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// `Authorization: Basic` with id and secret form-encoded first, as RFC 6749 §2.3.1 says.
pub(crate) fn basic(id: &str, secret: &str) -> String {
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

/// Verifies a JWT against a JWKS and returns its header and claims.
pub(crate) fn verify(token: &str, keys: &[Jwk]) -> (Value, Value) {
    let (header, claims): (jwt::Header, Value) = jwt::verify(token, keys).unwrap();
    (serde_json::to_value(header).unwrap(), claims)
}

/// The unverified JOSE header of a compact JWS.
pub(crate) fn header_of(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
