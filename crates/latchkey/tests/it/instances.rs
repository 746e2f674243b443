//! Issue 15: several `latchkey serve` processes on one PostgreSQL database behave as one server. What one
//! instance issues, revokes, registers, rotates or signs in is honoured by the others; instances started
//! together on an empty database migrate it once.
use std::time::{Duration, Instant};

use latchkey_core::client::ClientPolicy;
use latchkey_core::password::Password;
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_core::user::{User, Username};
use latchkey_store::UserStore;
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::browser::{Browser, pkce};
use crate::fleet::{Fleet, json};
use crate::harness::{TestClient, basic, insert_client};

pub(crate) const CALLBACK: &str = "http://127.0.0.1:6274/callback";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// The clients and the user a flow test needs.
pub(crate) struct App {
    /// A public client with the authorization code and refresh token grants.
    pub(crate) public: TestClient,
    /// A confidential client that may introspect any token (a resource server).
    pub(crate) resource_server: TestClient,
    /// A confidential client_credentials client.
    pub(crate) machine: TestClient,
}

impl App {
    pub(crate) async fn setup(fleet: &Fleet) -> App {
        add_user(fleet, "alice").await;
        let public = insert_client(
            &fleet.store,
            AuthMethod::None,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "read",
            &[CALLBACK],
            ClientPolicy::default(),
        )
        .await;
        let resource_server = insert_client(
            &fleet.store,
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            "read",
            &[],
            ClientPolicy {
                introspect_any: true,
                ..ClientPolicy::default()
            },
        )
        .await;
        let machine = insert_client(
            &fleet.store,
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            "read",
            &[],
            ClientPolicy::default(),
        )
        .await;
        App {
            public,
            resource_server,
            machine,
        }
    }
}

/// Adds a user with `PASSWORD`, as `latchkey user add` does.
pub(crate) async fn add_user(fleet: &Fleet, username: &str) {
    let user = User {
        user_id: User::generate_id(),
        username: Username::parse(username).unwrap(),
        email: None,
        name: None,
        password_hash: Password::new(PASSWORD.into()).hash(),
        created_at: latchkey_server::clock::Clock::system().now(),
        attributes: Default::default(),
        updated_at: latchkey_server::clock::Clock::system().now(),
    };
    fleet.store.insert_user(&user).await.unwrap();
}

/// An authorization request for `client_id`, with a fresh PKCE pair.
pub(crate) fn authorize_path(client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "read"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    (format!("/authorize?{query}"), verifier)
}

/// Signs alice in at instance `login_at`, approves at `consent_at`: the browser then holds a session
/// and the consent is remembered. Returns the code and its verifier.
pub(crate) async fn sign_in(
    fleet: &Fleet,
    browser: &mut Browser,
    login_at: usize,
    consent_at: usize,
    client_id: &str,
) -> (String, String) {
    let (path, verifier) = authorize_path(client_id);
    let login = browser.get(&fleet.at(login_at).url(&path)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .sign_in_at(&fleet.at(login_at).origin, &login, "alice", PASSWORD)
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let back = browser
        .decide_at(&fleet.at(consent_at).origin, &consent, "approve")
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    (back.redirect_params()["code"].clone(), verifier)
}

/// With a session and remembered consent, a code from instance `at` without a page.
pub(crate) async fn code(
    fleet: &Fleet,
    browser: &mut Browser,
    at: usize,
    client_id: &str,
) -> Result<(String, String), u16> {
    let (path, verifier) = authorize_path(client_id);
    let page = browser.get(&fleet.at(at).url(&path)).await;
    match page.status {
        303 => Ok((page.redirect_params()["code"].clone(), verifier)),
        status => Err(status),
    }
}

/// Redeems a code at instance `at`.
pub(crate) async fn redeem(
    fleet: &Fleet,
    at: usize,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
        ("client_id", client_id),
    ];
    Ok(json(fleet.post_form(at, "/token", &form, None).await?).await)
}

/// Uses a refresh token at instance `at`.
pub(crate) async fn refresh(
    fleet: &Fleet,
    at: usize,
    client_id: &str,
    refresh_token: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    Ok(json(fleet.post_form(at, "/token", &form, None).await?).await)
}

/// A client_credentials token for `client` at instance `at`.
pub(crate) async fn client_credentials(
    fleet: &Fleet,
    at: usize,
    client: &TestClient,
) -> Result<(u16, Value), reqwest::Error> {
    let auth = basic(&client.id, &client.secret);
    let form = [("grant_type", "client_credentials")];
    Ok(json(fleet.post_form(at, "/token", &form, Some(&auth)).await?).await)
}

/// Whether instance `at` says `token` is active, asked by the resource server.
pub(crate) async fn active(fleet: &Fleet, at: usize, app: &App, token: &str) -> bool {
    let auth = basic(&app.resource_server.id, &app.resource_server.secret);
    let (status, body) = json(
        fleet
            .post_form(at, "/introspect", &[("token", token)], Some(&auth))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["active"] == json!(true)
}

/// Revokes `token` at instance `at` as `client`.
pub(crate) async fn revoke(
    fleet: &Fleet,
    at: usize,
    client: &TestClient,
    token: &str,
) -> Result<u16, reqwest::Error> {
    let (form, auth) = match client.secret.as_str() {
        "" => (
            vec![("token", token), ("client_id", client.id.as_str())],
            None,
        ),
        secret => (vec![("token", token)], Some(basic(&client.id, secret))),
    };
    Ok(fleet
        .post_form(at, "/revoke", &form, auth.as_deref())
        .await?
        .status()
        .as_u16())
}

/// Until `check` passes or `limit` passes; how long it took.
pub(crate) async fn within<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_what_one_instance_does_the_other_honours() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let fleet = Fleet::start(db.url(), 2, "[registration]\npolicy = \"open\"").await;
    let app = App::setup(&fleet).await;

    // A token issued by A is active at B; revoked at B, it is inactive at A within the bound
    // (`cache.refresh_interval`, 50 ms here).
    let (status, issued) = client_credentials(&fleet, 0, &app.machine).await.unwrap();
    assert_eq!(status, 200);
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert!(active(&fleet, 0, &app, &token).await);
    assert!(active(&fleet, 1, &app, &token).await);
    assert_eq!(revoke(&fleet, 1, &app.machine, &token).await.unwrap(), 200);
    let took = within(
        "a revocation at B reaching A",
        Duration::from_secs(2),
        || {
            let token = token.clone();
            let (fleet, app) = (&fleet, &app);
            async move { !active(fleet, 0, app, &token).await }
        },
    )
    .await;
    eprintln!("revocation at B seen at A after {took:?}");

    // A client created by the CLI works at both at once.
    let created = crate::command::json_of(&crate::command::latchkey(
        &db,
        &["client", "create", "--name", "Fresh", "--json"],
    ));
    let fresh = TestClient {
        id: created["client_id"].as_str().unwrap().into(),
        secret: created["client_secret"].as_str().unwrap().into(),
    };
    assert_eq!(client_credentials(&fleet, 1, &fresh).await.unwrap().0, 200);
    assert_eq!(client_credentials(&fleet, 0, &fresh).await.unwrap().0, 200);

    // A client registered at A is readable with its registration token at B, and usable there.
    let (status, registered) = json(
        fleet
            .post_json(
                0,
                "/register",
                &json!({"redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none"}),
            )
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["client_id"].as_str().unwrap();
    let read = fleet
        .http
        .get(fleet.at(1).url(&format!("/register/{id}")))
        .bearer_auth(registered["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let (path, _) = authorize_path(id);
    let page = fleet.http.get(fleet.at(1).url(&path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "B shows its login page for it");

    // A browser session made at A is honoured by B: login at A, consent at B, code redeemed at A.
    let mut browser = Browser::new();
    let (code, verifier) = sign_in(&fleet, &mut browser, 0, 1, &app.public.id).await;
    let (status, tokens) = redeem(&fleet, 0, &app.public.id, &code, &verifier)
        .await
        .unwrap();
    assert_eq!(status, 200, "{tokens}");
    // …and B hands out codes for that session without asking again.
    assert!(code_at_b(&fleet, &mut browser, &app).await);

    // A key rotated by the CLI (against A's database) signs at B within keys.refresh_interval (1 s).
    let before = kids(&fleet.store).await;
    crate::command::stdout_of(&crate::command::latchkey(&db, &["keys", "rotate"]));
    let new_kid = kids(&fleet.store)
        .await
        .into_iter()
        .find(|k| !before.contains(k))
        .unwrap();
    let took = within(
        "B signing with the rotated key",
        Duration::from_secs(3),
        || {
            let (fleet, app, new_kid) = (&fleet, &app, new_kid.clone());
            async move {
                let (_, issued) = client_credentials(fleet, 1, &app.machine).await.unwrap();
                let token = issued["access_token"].as_str().unwrap();
                crate::harness::header_of(token)["kid"] == json!(new_kid)
            }
        },
    )
    .await;
    eprintln!("key rotated by the CLI signing at B after {took:?}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_24_opaque_introspection_is_served_from_memory_until_a_revocation_anywhere() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let toml = "[resources.\"https://opaque.example/\"]\nformat = \"opaque\"";
    let fleet = Fleet::start(db.url(), 2, toml).await;
    let app = App::setup(&fleet).await;
    let auth = basic(&app.machine.id, &app.machine.secret);
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "https://opaque.example/"),
    ];
    let (status, issued) = json(
        fleet
            .post_form(0, "/token", &form, Some(&auth))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains('.'), "opaque");
    for i in 0..2 {
        assert!(active(&fleet, i, &app, &token).await);
    }
    // The stored row goes behind the instances' backs (nothing in the server deletes a live one):
    // both still answer from memory, so introspecting a known opaque token reads no row.
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    sqlx::query("DELETE FROM opaque_tokens")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    for i in 0..2 {
        assert!(active(&fleet, i, &app, &token).await, "instance {i}");
    }
    // A revocation at B reaches A within `cache.refresh_interval` (50 ms here).
    assert_eq!(revoke(&fleet, 1, &app.machine, &token).await.unwrap(), 200);
    assert!(!active(&fleet, 1, &app, &token).await);
    within(
        "a revocation at B reaching A",
        Duration::from_secs(2),
        || {
            let (fleet, app, token) = (&fleet, &app, token.clone());
            async move { !active(fleet, 0, app, &token).await }
        },
    )
    .await;
    fleet.stop().await;
}

async fn code_at_b(fleet: &Fleet, browser: &mut Browser, app: &App) -> bool {
    code(fleet, browser, 1, &app.public.id).await.is_ok()
}

async fn kids(store: &latchkey_store::Store) -> Vec<String> {
    latchkey_store::KeyStore::list_keys(store)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_three_instances_started_together_on_an_empty_database_migrate_it_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let started = Instant::now();
    let fleet = Fleet::start(db.url(), 3, "").await;
    eprintln!("three instances serving after {:?}", started.elapsed());
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let rows: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = fleet.store.schema().await.unwrap();
    assert!(expected.pending.is_empty() && expected.unknown.is_empty());
    assert!(rows.iter().all(|(_, ok)| *ok), "{rows:?}");
    let versions: Vec<i64> = rows.iter().map(|(v, _)| *v).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "each migration recorded once");
    let active: (i64,) = sqlx::query_as("SELECT count(*) FROM signing_keys WHERE active = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(active.0, 1, "one first key, whoever created it");
    pool.close().await;
    // All three serve, and publish the same key.
    let mut jwks = Vec::new();
    for i in 0..3 {
        let (status, body) = json(
            fleet
                .http
                .get(fleet.at(i).url("/jwks"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        jwks.push(body);
        let ready = fleet
            .http
            .get(fleet.at(i).url("/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");
    fleet.stop().await;
}
