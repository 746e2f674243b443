//! Issue 15: faults. An instance killed with SIGKILL under load loses nothing it answered; a PostgreSQL
//! server stopped under load turns database work into fast 503s while cached paths keep answering, and
//! everything recovers without a restart; an SQLite file that cannot be written gives a clear error and
//! no corruption. Issue 24: a kill while group commits are in flight keeps every answered write and
//! leaves no write in part.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::fleet::{Fleet, PrivatePostgres, json};
use crate::harness::{TestClient, basic, form_encode};
use crate::instances::{
    App, CALLBACK, active, authorize_path, client_credentials, redeem, sign_in, within,
};

/// Open registration of machine clients, so the load can register clients that then authenticate.
const TOML: &str = "[registration]\npolicy = \"open\"\nrate_limit = 100000\n\
    allow_client_credentials = true";

/// What one request got: an HTTP status, or no answer (connection refused or cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Status(u16),
    NoAnswer,
}

/// Every answer, by (operation, instance, answer).
#[derive(Default)]
struct Tally(Mutex<BTreeMap<(&'static str, usize, Answer), usize>>);

impl Tally {
    fn count(&self, operation: &'static str, instance: usize, answer: Answer) {
        *self
            .0
            .lock()
            .unwrap()
            .entry((operation, instance, answer))
            .or_insert(0) += 1;
    }

    fn report(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|((op, i, answer), n)| format!("{op}@{i} {answer:?}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Answers from `instance` matching `which`.
    fn count_where(&self, instance: usize, which: impl Fn(&str, Answer) -> bool) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((op, i, answer), _)| *i == instance && which(op, *answer))
            .map(|(_, n)| n)
            .sum()
    }
}

/// What the load was told succeeded, to check afterwards.
#[derive(Default)]
struct Successes {
    registered: Vec<TestClient>,
    revoked: Vec<String>,
    redeemed: Vec<(String, String)>,
}

/// A steady load of four kinds of request, round-robin over the instances, until `stop`: what a load
/// balancer that has not yet noticed a dead instance would send.
struct Load {
    origins: Arc<RwLock<Vec<String>>>,
    http: reqwest::Client,
    tally: Tally,
    successes: Mutex<Successes>,
    stop: AtomicBool,
}

impl Load {
    fn new(fleet: &Fleet) -> Arc<Load> {
        Arc::new(Load {
            origins: Arc::new(RwLock::new(
                fleet.instances.iter().map(|i| i.origin.clone()).collect(),
            )),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            tally: Tally::default(),
            successes: Mutex::new(Successes::default()),
            stop: AtomicBool::new(false),
        })
    }

    fn instances(&self) -> usize {
        self.origins.read().unwrap().len()
    }

    fn origin(&self, i: usize) -> String {
        let origins = self.origins.read().unwrap();
        origins[i % origins.len()].clone()
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    /// POSTs `body` to instance `i`, counts the answer, and returns it when there is one.
    async fn post(
        &self,
        op: &'static str,
        i: usize,
        path: &str,
        body: String,
        auth: Option<&str>,
    ) -> Option<(u16, Value)> {
        let content_type = match body.starts_with('{') {
            true => "application/json",
            false => "application/x-www-form-urlencoded",
        };
        let mut request = self
            .http
            .post(format!("{}{path}", self.origin(i)))
            .header("content-type", content_type)
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let answer = match request.send().await {
            Ok(response) => Some(json(response).await),
            Err(_) => None,
        };
        let counted = answer
            .as_ref()
            .map_or(Answer::NoAnswer, |(s, _)| Answer::Status(*s));
        self.tally.count(op, i % self.instances(), counted);
        answer
    }

    async fn registrations(self: Arc<Self>) {
        let body = json!({"grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic"})
        .to_string();
        let mut i = 0;
        while self.running() {
            if let Some((201, body)) = self
                .post("register", i, "/register", body.clone(), None)
                .await
            {
                self.successes.lock().unwrap().registered.push(TestClient {
                    id: body["client_id"].as_str().unwrap().into(),
                    secret: body["client_secret"].as_str().unwrap().into(),
                });
            }
            i += 1;
        }
    }

    /// client_credentials tokens; every other one revoked.
    async fn tokens_and_revocations(self: Arc<Self>, machine: TestClient) {
        let auth = basic(&machine.id, &machine.secret);
        let grant = form_encode(&[("grant_type", "client_credentials")]);
        let mut i = 0;
        while self.running() {
            let issued = self
                .post(
                    "client_credentials",
                    i,
                    "/token",
                    grant.clone(),
                    Some(&auth),
                )
                .await;
            if let Some((200, body)) = issued
                && i % 2 == 0
            {
                let token = body["access_token"].as_str().unwrap().to_owned();
                let form = form_encode(&[("token", &token)]);
                // i/2 + 1: the other instance, then the same one, in turn.
                let at = i / 2 + 1;
                if let Some((200, _)) = self.post("revoke", at, "/revoke", form, Some(&auth)).await
                {
                    self.successes.lock().unwrap().revoked.push(token);
                }
            }
            i += 1;
        }
    }

    /// A code from one instance (the browser is signed in and has consented), redeemed at the next.
    async fn code_redemptions(self: Arc<Self>, mut browser: Browser, client_id: String) {
        let mut i = 0;
        while self.running() {
            let (path, verifier) = authorize_path(&client_id);
            let page = browser.try_get(&format!("{}{path}", self.origin(i))).await;
            let counted = page
                .as_ref()
                .map_or(Answer::NoAnswer, |p| Answer::Status(p.status));
            self.tally.count("authorize", i % self.instances(), counted);
            if let Ok(page) = page
                && page.status == 303
            {
                let code = page.redirect_params()["code"].clone();
                let form = form_encode(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &verifier),
                    ("client_id", &client_id),
                ]);
                if let Some((200, _)) = self.post("redeem", i + 1, "/token", form, None).await {
                    self.successes
                        .lock()
                        .unwrap()
                        .redeemed
                        .push((code, verifier));
                }
            }
            i += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_an_instance_killed_under_load_loses_nothing_it_answered() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let mut fleet = Fleet::start(db.url(), 2, TOML).await;
    let app = App::setup(&fleet).await;
    let mut browser = Browser::new();
    sign_in(&fleet, &mut browser, 0, 1, &app.public.id).await;

    let load = Load::new(&fleet);
    let started = Instant::now();
    let tasks = [
        tokio::spawn(load.clone().registrations()),
        tokio::spawn(load.clone().tokens_and_revocations(app.machine.clone())),
        tokio::spawn(
            load.clone()
                .code_redemptions(browser, app.public.id.clone()),
        ),
    ];
    tokio::time::sleep(Duration::from_millis(1000)).await;
    fleet.kill(0);
    let killed_at = started.elapsed();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let restarting = Instant::now();
    fleet.restart(0).await;
    let restart_took = restarting.elapsed();
    load.origins.write().unwrap()[0] = fleet.at(0).origin.clone();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!(
        "killed instance 0 at {killed_at:?}, restarted in {restart_took:?}; load for {:?}: {}",
        started.elapsed(),
        load.tally.report()
    );

    // The survivor never answered 5xx; nor did the restarted instance.
    assert_eq!(
        load.tally
            .count_where(1, |_, a| matches!(a, Answer::Status(s) if s >= 500)),
        0,
        "{}",
        load.tally.report()
    );
    assert_eq!(
        load.tally
            .count_where(0, |_, a| matches!(a, Answer::Status(s) if s >= 500)),
        0,
        "{}",
        load.tally.report()
    );
    assert!(
        load.tally.count_where(0, |_, a| a == Answer::NoAnswer) > 0,
        "the kill happened under load"
    );

    let successes = std::mem::take(&mut *load.successes.lock().unwrap());
    eprintln!(
        "answered with success: {} registrations, {} revocations, {} code redemptions",
        successes.registered.len(),
        successes.revoked.len(),
        successes.redeemed.len()
    );
    assert!(!successes.registered.is_empty() && !successes.revoked.is_empty());
    assert!(!successes.redeemed.is_empty());
    // Every registered client exists and authenticates.
    for client in &successes.registered {
        let (status, body) = client_credentials(&fleet, 1, client).await.unwrap();
        assert_eq!(status, 200, "client {} lost: {body}", client.id);
    }
    // Every revocation holds, at both instances.
    for token in &successes.revoked {
        for i in 0..2 {
            assert!(!active(&fleet, i, &app, token).await, "revocation lost");
        }
    }
    // Every code answered with tokens stays spent.
    for (code, verifier) in &successes.redeemed {
        let (status, body) = redeem(&fleet, 1, &app.public.id, code, verifier)
            .await
            .unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    fleet.stop().await;
}

/// Sends `request` and measures it: status, `error`, time taken.
async fn timed(request: reqwest::RequestBuilder) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let (status, body) = json(response).await;
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_postgres_stopped_under_load_fails_fast_with_503_and_recovers_without_restart() {
    let Some(pg) = PrivatePostgres::start().await else {
        return;
    };
    let pg = Arc::new(pg);
    let fleet = Fleet::start(&pg.url(), 2, TOML).await;
    let app = App::setup(&fleet).await;
    // Warm each instance's client cache, as traffic would, once the setup's changes have reached them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..2 {
        assert_eq!(
            client_credentials(&fleet, i, &app.machine).await.unwrap().0,
            200
        );
    }
    // A person signed in before the outage: their pages need the database.
    let mut browser = Browser::new();
    sign_in(&fleet, &mut browser, 0, 1, &app.public.id).await;
    let registration = json!({"grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic"});
    let register = |i: usize| {
        fleet
            .http
            .post(fleet.at(i).url("/register"))
            .header("content-type", "application/json")
            .body(registration.to_string())
    };
    // Well-formed, so only the database can say it is unknown.
    let (unknown_code, verifier) = (
        latchkey_core::secret::random_base64url(32),
        latchkey_core::secret::random_base64url(32),
    );
    let bogus_code = [
        ("grant_type", "authorization_code"),
        ("code", unknown_code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
        ("client_id", app.public.id.as_str()),
    ];

    // A steady load through the outage and the recovery (tokens, and revocations that need the
    // database); the checks below run beside it. No client changes meanwhile: a change empties every
    // instance's client cache (within cache.refresh_interval), and what an instance has not cached it
    // cannot serve without the database.
    let load = Load::new(&fleet);
    let tasks = [tokio::spawn(
        load.clone().tokens_and_revocations(app.machine.clone()),
    )];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = pg.clone();
    tokio::task::spawn_blocking(move || stopping.stop_server())
        .await
        .unwrap();
    let down_since = Instant::now();
    let mut slowest_503 = Duration::ZERO;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |what: &str, status: u16| {
        *answers.entry(format!("{what} {status}")).or_insert(0) += 1;
    };
    // Three seconds of requests while the database is away.
    let mut round = 0;
    while down_since.elapsed() < Duration::from_secs(3) {
        let i = round % 2;
        round += 1;
        let (status, body, took) = timed(register(i)).await;
        note("register", status);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(
            body["error_description"], "the service is temporarily unavailable; try again shortly",
            "nothing about the cause reaches the client"
        );
        slowest_503 = slowest_503.max(took);
        let (status, body, took) = timed(
            fleet
                .http
                .post(fleet.at(i).url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(&bogus_code)),
        )
        .await;
        note("redeem", status);
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("temporarily_unavailable"))
        );
        slowest_503 = slowest_503.max(took);
        let (status, _, took) = timed(fleet.http.get(fleet.at(i).url("/health/ready"))).await;
        note("ready", status);
        assert_eq!(status, 503);
        slowest_503 = slowest_503.max(took);
        // What needs no database keeps answering from memory.
        for path in [
            "/.well-known/oauth-authorization-server",
            "/jwks",
            "/health/live",
        ] {
            let (status, _, _) = timed(fleet.http.get(fleet.at(i).url(path))).await;
            note(path, status);
            assert_eq!(status, 200, "{path}");
        }
        let (status, body) = client_credentials(&fleet, i, &app.machine).await.unwrap();
        note("client_credentials", status);
        assert_eq!(status, 200, "{body}");
        // The signed-in person's next page is an error page with 503, not a 500.
        let (path, _) = authorize_path(&app.public.id);
        let page = browser.get(&fleet.at(i).url(&path)).await;
        note("authorize page", page.status);
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(page.body.contains("temporarily_unavailable"));
    }
    eprintln!(
        "database down for {:?}: {answers:?}; slowest 503 {slowest_503:?}",
        down_since.elapsed()
    );
    assert!(
        slowest_503 < Duration::from_millis(1500),
        "503s are fast (acquire_timeout 500 ms): {slowest_503:?}"
    );

    let starting = pg.clone();
    tokio::task::spawn_blocking(move || starting.start_server())
        .await
        .unwrap();
    let back = Instant::now();
    for i in 0..2 {
        within(
            "registration working again",
            Duration::from_secs(10),
            || {
                let request = register(i);
                async move { timed(request).await.0 == 201 }
            },
        )
        .await;
        within("ready again", Duration::from_secs(10), || {
            let request = fleet.http.get(fleet.at(i).url("/health/ready"));
            async move { timed(request).await.0 == 200 }
        })
        .await;
    }
    let recovered = back.elapsed();
    eprintln!("both instances recovered {recovered:?} after the database returned");
    assert!(recovered < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!("load through the outage: {}", load.tally.report());
    for i in 0..2 {
        let wrong = load
            .tally
            .count_where(i, |_, a| !matches!(a, Answer::Status(200 | 201 | 503)));
        assert_eq!(wrong, 0, "only successes and 503s: {}", load.tally.report());
    }
    assert!(
        load.tally
            .count_where(0, |op, a| op == "revoke" && a == Answer::Status(503))
            > 0,
        "the load met the outage"
    );
    let (status, body) = redeem(&fleet, 0, &app.public.id, &unknown_code, &verifier)
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    fleet.stop().await;
}

/// Marks files immutable (`chattr +i`: even an open descriptor can no longer write them), and clears
/// the mark when dropped.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(files: &[std::path::PathBuf]) -> Result<Immutable, String> {
        for file in files {
            let out = std::process::Command::new("chattr")
                .arg("+i")
                .arg(file)
                .output()
                .map_err(|e| format!("chattr: {e}"))?;
            if !out.status.success() {
                Immutable(files.to_vec()).clear();
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        Ok(Immutable(files.to_vec()))
    }

    fn clear(&self) {
        for file in &self.0 {
            std::process::Command::new("chattr")
                .arg("-i")
                .arg(file)
                .output()
                .ok();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.clear();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_an_sqlite_file_that_cannot_be_written_gives_503_and_no_corruption() {
    // On the target directory's file system: temporary directories may be tmpfs, without chattr.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "readonly-{}",
        latchkey_core::secret::random_base64url(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latchkey.db");
    let url = format!("sqlite://{}", file.display());
    let fleet = Fleet::start(&url, 1, TOML).await;
    let app = App::setup(&fleet).await;
    let registration = json!({"grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic"});
    let (status, before) = json(
        fleet
            .post_json(0, "/register", &registration)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        client_credentials(&fleet, 0, &app.machine).await.unwrap().0,
        200
    );

    let wal = dir.join("latchkey.db-wal");
    let guard = match Immutable::set(&[file.clone(), wal]) {
        Ok(guard) => guard,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chattr +i is needed under CI: {why}"
            );
            eprintln!("skipped: cannot make the file immutable: {why}");
            return;
        }
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = json(
            fleet
                .post_json(0, "/register", &registration)
                .await
                .unwrap(),
        )
        .await;
        answers.push((status, started.elapsed()));
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("temporarily_unavailable"))
        );
    }
    // Reads keep working.
    assert_eq!(
        client_credentials(&fleet, 0, &app.machine).await.unwrap().0,
        200
    );
    let metadata = fleet
        .http
        .get(fleet.at(0).url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    // The log writer writes every 10 ms: the line may still be on its way.
    let logged = within(
        "the log names the cause",
        Duration::from_secs(2),
        || async { fleet.at(0).log_text().contains("database unavailable") },
    )
    .await;
    assert!(
        logged < Duration::from_secs(2),
        "{}",
        fleet.at(0).log_text()
    );
    eprintln!("writes to an immutable SQLite file: {answers:?}");

    drop(guard);
    let took = within("writes working again", Duration::from_secs(5), || {
        let request = fleet.post_json(0, "/register", &registration);
        async move { json(request.await.unwrap()).await.0 == 201 }
    })
    .await;
    eprintln!("writable again: registrations work after {took:?}, without a restart");
    let id = before["client_id"].as_str().unwrap().to_owned();
    fleet.stop().await;

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let (kept,): (i64,) = sqlx::query_as("SELECT count(*) FROM clients WHERE client_id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "what was written before is intact");
    let (registered,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM clients WHERE registration_token_hash IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        registered, 2,
        "the refused registrations left nothing half-written"
    );
    pool.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// An opaque resource, beside the fleet's JWT default.
const OPAQUE_TOML: &str = "[resources.\"https://opaque.example/\"]\nformat = \"opaque\"";

/// What a load was answered with: the writes that must be in the database.
#[derive(Default)]
struct Answered {
    opaque: Vec<String>,
    refresh: Vec<String>,
    codes: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_24_a_kill_during_group_commits_keeps_every_answered_write_and_no_half_of_another() {
    use latchkey_core::secret::SecretHash;
    use latchkey_store::{GrantStore, TokenStore};

    use crate::instances::code;

    let db = TestDatabase::sqlite();
    let mut fleet = Fleet::start(db.url(), 1, OPAQUE_TOML).await;
    let app = App::setup(&fleet).await;
    let mut browser = Browser::new();
    let (first, verifier) = sign_in(&fleet, &mut browser, 0, 0, &app.public.id).await;
    let mut chains = Vec::new();
    for i in 0..8 {
        let (code, verifier) = match i {
            0 => (first.clone(), verifier.clone()),
            _ => code(&fleet, &mut browser, 0, &app.public.id).await.unwrap(),
        };
        let (status, body) = redeem(&fleet, 0, &app.public.id, &code, &verifier)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        chains.push(body["refresh_token"].as_str().unwrap().to_owned());
    }

    // Concurrent writers, so that the server's commits hold several requests each: refresh token
    // rotations (a spend, then an access token's record with its refresh token), opaque access
    // tokens, and codes (a grant with its code).
    let answered = Arc::new(Mutex::new(Answered::default()));
    let origin = fleet.at(0).origin.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for mut current in chains {
        let (answered, http, origin) = (answered.clone(), http.clone(), origin.clone());
        let client_id = app.public.id.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let form = form_encode(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &current),
                    ("client_id", &client_id),
                ]);
                let sent = http
                    .post(format!("{origin}/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let (status, body) = json(response).await;
                if body.is_null() {
                    // The answer was cut by the kill: not answered.
                    break;
                }
                assert_eq!(status, 200, "{body}");
                current = body["refresh_token"].as_str().unwrap().to_owned();
                answered.lock().unwrap().refresh.push(current.clone());
            }
        }));
    }
    for _ in 0..8 {
        let (answered, http, origin) = (answered.clone(), http.clone(), origin.clone());
        let auth = basic(&app.machine.id, &app.machine.secret);
        tasks.push(tokio::spawn(async move {
            loop {
                let form = form_encode(&[
                    ("grant_type", "client_credentials"),
                    ("resource", "https://opaque.example/"),
                ]);
                let sent = http
                    .post(format!("{origin}/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", &auth)
                    .body(form)
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let (status, body) = json(response).await;
                if body.is_null() {
                    // The answer was cut by the kill: not answered.
                    break;
                }
                assert_eq!(status, 200, "{body}");
                let token = body["access_token"].as_str().unwrap().to_owned();
                answered.lock().unwrap().opaque.push(token);
            }
        }));
    }
    {
        let (answered, origin) = (answered.clone(), origin.clone());
        let client_id = app.public.id.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let (path, _) = authorize_path(&client_id);
                let Ok(page) = browser.try_get(&format!("{origin}{path}")).await else {
                    break;
                };
                assert_eq!(page.status, 303, "{}", page.body);
                let code = page.redirect_params()["code"].clone();
                answered.lock().unwrap().codes.push(code);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fleet.kill(0);
    for task in tasks {
        task.await.unwrap();
    }
    let answered = std::mem::take(&mut *answered.lock().unwrap());
    eprintln!(
        "answered before the kill: {} rotations, {} opaque tokens, {} codes",
        answered.refresh.len(),
        answered.opaque.len(),
        answered.codes.len()
    );
    assert!(
        !answered.refresh.is_empty() && !answered.opaque.is_empty() && !answered.codes.is_empty()
    );

    // Every answered write is there.
    let hash = |token: &String| SecretHash::of(token.as_bytes());
    for token in &answered.opaque {
        let found = fleet.store.find_opaque(&hash(token)).await.unwrap();
        assert!(found.is_some(), "an answered opaque token lost");
    }
    for token in &answered.refresh {
        let found = fleet.store.find_refresh_token(&hash(token)).await.unwrap();
        assert!(found.is_some(), "an answered rotation lost");
    }
    for code in &answered.codes {
        let found = fleet.store.find_code(&hash(code)).await.unwrap();
        assert!(found.is_some(), "an answered code lost");
    }
    // Nothing is there in part, answered or not: each grant has its code, and each access token
    // recorded from a grant came with its refresh token (every grant here issues both at once).
    let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
    let (without_code,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM grants g WHERE NOT EXISTS \
        (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.grant_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(without_code, 0, "a grant without its code");
    let (unpaired,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM grants g WHERE \
        (SELECT count(*) FROM issued_tokens i WHERE i.grant_id = g.grant_id) != \
        (SELECT count(*) FROM refresh_tokens r WHERE r.grant_id = g.grant_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        unpaired, 0,
        "an access token's record without its refresh token"
    );
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;

    // And the restarted server honours what it answered.
    fleet.restart(0).await;
    for token in answered.opaque.iter().rev().take(20) {
        assert!(
            active(&fleet, 0, &app, token).await,
            "answered, then forgotten"
        );
    }
    fleet.stop().await;
}
