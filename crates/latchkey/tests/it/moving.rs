//! Issue 15: the database's schema and the move from SQLite to PostgreSQL, with the real binary:
//! `latchkey migrate`, `serve --no-migrate`, and `latchkey store copy` of a database that went through
//! every flow, whose tokens keep working on a server over the copy.
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use latchkey_core::client::ClientPolicy;
use latchkey_core::keys::{KeyAlg, SigningKey};
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use latchkey_store::{RegistrationStore, ResourceStore};
use serde_json::{Value, json};

use crate::assertions::{assertion, claims, token_with};
use crate::browser::{Browser, pkce};
use crate::command::{latchkey_args, one_line_error, stdout_of};
use crate::harness::{MASTER_KEY, TestClient, TestServer, basic, server_test};

/// Starts `latchkey serve --no-migrate` and waits until it serves (then stops it) or exits.
fn serve_no_migrate(db: &TestDatabase) -> Result<(), Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--no-migrate",
            "--listen",
            "127.0.0.1:0",
            "--database",
        ])
        .arg(db.url())
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tx.send(line).ok();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) if line.contains("latchkey is serving") => {
                child.kill().ok();
                child.wait().ok();
                return Ok(());
            }
            Ok(line) => lines.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait().unwrap() {
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        lines.push(line);
                    }
                    return Err(Output {
                        status,
                        stdout: Vec::new(),
                        stderr: (lines.join("\n") + "\n").into_bytes(),
                    });
                }
            }
            // Its stderr closed: it exited, or is about to.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                return Err(Output {
                    status,
                    stdout: Vec::new(),
                    stderr: (lines.join("\n") + "\n").into_bytes(),
                });
            }
        }
    }
    child.kill().ok();
    child.wait().ok();
    panic!("serve --no-migrate neither served nor exited: {lines:?}");
}

server_test!(
    issue_15_serve_no_migrate_refuses_a_database_behind_until_latchkey_migrate,
    |db: TestDatabase| async move {
        let refused = serve_no_migrate(&db).unwrap_err();
        let line = one_line_error(&refused);
        assert!(
            line.contains("the database is behind this build")
                && line.contains("0001_init")
                && line.contains("run `latchkey migrate` first"),
            "{line}"
        );
        let migrated = stdout_of(&latchkey_args(&["migrate", "--database", db.url()]));
        assert!(
            migrated.starts_with("applied ") && migrated.contains("up to date"),
            "{migrated}"
        );
        assert_eq!(
            stdout_of(&latchkey_args(&["migrate", "--database", db.url()])).trim(),
            "the database is up to date"
        );
        serve_no_migrate(&db).unwrap();
    }
);

const CALLBACK: &str = "https://app.example/callback";
const CONFIG: &str = "[registration]\npolicy = \"open\"\nallow_client_credentials = true\n\
    [scopes.read]\n\
    [resources.\"https://opaque.example/\"]\nformat = \"opaque\"";

/// What the SQLite server handed out before the move.
struct Issued {
    issuer: String,
    machine: TestClient,
    resource_server: TestClient,
    registered: TestClient,
    public_id: String,
    jwt: String,
    revoked: String,
    opaque: String,
    user_access: String,
    refresh: String,
    browser: Browser,
}

async fn introspect(server: &TestServer, caller: &TestClient, token: &str) -> Value {
    let response = server
        .http
        .post(server.url("/introspect"))
        .header("authorization", basic(&caller.id, &caller.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::harness::form_encode(&[("token", token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every flow, on a server over `db`: operator and registered clients, client_credentials JWT and
/// opaque tokens, a revocation, a sign-in with consent and a refresh token, a private_key_jwt
/// assertion, a resource and an initial access token added by the operator, a failed login.
async fn every_flow(db: &TestDatabase) -> Issued {
    let server = TestServer::builder().toml(CONFIG).start(db).await;
    let machine = server
        .create_client(
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            "read",
        )
        .await;
    let resource_server = server
        .create_app_with(
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
    let jwt = server.client_credentials(&machine).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = server.client_credentials(&machine).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revocation = server
        .http
        .post(server.url("/revoke"))
        .header("authorization", basic(&machine.id, &machine.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::harness::form_encode(&[("token", &revoked)]))
        .send()
        .await
        .unwrap();
    assert_eq!(revocation.status(), 200);
    let opaque = server
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://opaque.example/"),
            ],
            Some(basic(&machine.id, &machine.secret)),
        )
        .await;
    assert_eq!(opaque.status(), 200);
    let opaque = opaque.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A registered machine client, and a private_key_jwt one that uses an assertion.
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(json!({"grant_types": ["client_credentials"]}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registered = TestClient {
        id: registered["client_id"].as_str().unwrap().into(),
        secret: registered["client_secret"].as_str().unwrap().into(),
    };
    let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
    let keyed: Value = server
        .http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(
            json!({"grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key.public_jwk()]}})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = latchkey_server::clock::Clock::system().now();
    let signed = assertion(
        &key,
        "ES256",
        claims(keyed["client_id"].as_str().unwrap(), &server.issuer, now.0),
    );
    assert_eq!(token_with(&server, &signed).await.status(), 200);

    // A person signs in (after one wrong password), consents, and gets tokens.
    let public = server
        .create_app(
            AuthMethod::None,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "read",
            &[CALLBACK],
        )
        .await;
    server.create_user("alice", "correct horse battery").await;
    let (verifier, challenge) = pkce();
    let url = server.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &public.id),
        ("redirect_uri", CALLBACK),
        ("scope", "read"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut browser = Browser::new();
    let login = browser.get(&url).await;
    let wrong = browser.sign_in(&server, &login, "alice", "wrong").await;
    assert_eq!(wrong.status, 401);
    let consent = browser
        .sign_in(&server, &login, "alice", "correct horse battery")
        .await;
    let back = browser.decide(&server, &consent, "approve").await;
    let code = back.redirect_params()["code"].clone();
    let tokens: Value = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
                ("client_id", &public.id),
            ],
            None,
        )
        .await
        .json()
        .await
        .unwrap();

    // What the operator adds with the CLI.
    server
        .store
        .insert_resource(
            &latchkey_core::resource::Resource {
                uri: latchkey_core::types::ResourceUri::parse("https://added.example/").unwrap(),
                scopes: latchkey_core::types::Scope::parse("read").unwrap(),
                format: None,
                access_token_ttl: None,
            },
            now,
        )
        .await
        .unwrap();
    server
        .store
        .insert_initial_access_token(
            &latchkey_core::secret::SecretHash::of(b"initial"),
            now,
            now.plus(3600),
        )
        .await
        .unwrap();
    let issuer = server.issuer.clone();
    server.stop().await;
    Issued {
        issuer,
        machine,
        resource_server,
        registered,
        public_id: public.id,
        jwt,
        revoked,
        opaque,
        user_access: tokens["access_token"].as_str().unwrap().into(),
        refresh: tokens["refresh_token"].as_str().unwrap().into(),
        browser,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_store_copy_moves_every_flow_to_postgres_and_its_tokens_keep_working() {
    let Some(target) = TestDatabase::postgres().await else {
        return;
    };
    let source = TestDatabase::sqlite();
    let mut issued = every_flow(&source).await;

    let copied = stdout_of(&latchkey_args(&[
        "store",
        "copy",
        "--from",
        source.url(),
        "--to",
        target.url(),
        "--json",
    ]));
    let report: Value = serde_json::from_str(&copied).unwrap();
    eprintln!("store copy: {report}");
    let tables = report["tables"].as_object().unwrap();
    for table in [
        "clients",
        "signing_keys",
        "users",
        "sessions",
        "consents",
        "grants",
        "authorization_codes",
        "refresh_tokens",
        "issued_tokens",
        "opaque_tokens",
        "revoked_tokens",
        "resources",
        "initial_access_tokens",
        "used_assertions",
        "login_throttle",
    ] {
        assert!(tables[table].as_u64().unwrap() > 0, "{table}: {report}");
    }
    // A second copy finds the target occupied; --force replaces it.
    let refused = latchkey_args(&[
        "store",
        "copy",
        "--from",
        source.url(),
        "--to",
        target.url(),
    ]);
    let line = one_line_error(&refused);
    assert!(
        line.contains("not empty") && line.contains("--force"),
        "{line}"
    );
    let forced = stdout_of(&latchkey_args(&[
        "store",
        "copy",
        "--from",
        source.url(),
        "--to",
        target.url(),
        "--force",
    ]));
    assert!(forced.starts_with("copied "), "{forced}");
    // A typo in --from copies nothing rather than an empty new file.
    let missing = latchkey_args(&[
        "store",
        "copy",
        "--from",
        "sqlite:///nonexistent/latchkey.db",
        "--to",
        target.url(),
    ]);
    assert!(one_line_error(&missing).contains("no database file"));

    // A server over the copy, with the same master key.
    let server = TestServer::builder()
        .toml(CONFIG)
        .issuer(&issued.issuer)
        .start(&target)
        .await;
    let rs = &issued.resource_server;
    // The JWT issued before verifies against the new server's keys and introspects active.
    crate::harness::verify(&issued.jwt, &server.jwks().await);
    assert_eq!(introspect(&server, rs, &issued.jwt).await["active"], true);
    assert_eq!(
        introspect(&server, rs, &issued.user_access).await["active"],
        true
    );
    assert_eq!(
        introspect(&server, rs, &issued.opaque).await["active"],
        true
    );
    assert_eq!(
        introspect(&server, rs, &issued.revoked).await["active"],
        false,
        "the deny-list came along"
    );
    // The refresh token works, once.
    let refreshed = server
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &issued.refresh),
                ("client_id", &issued.public_id),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    // Operator and registered clients authenticate.
    server.client_credentials(&issued.machine).await;
    server.client_credentials(&issued.registered).await;
    // The browser's session and consent came along: a code straight away.
    let (_, challenge) = pkce();
    let url = server.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &issued.public_id),
        ("redirect_uri", CALLBACK),
        ("scope", "read"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    assert_eq!(issued.browser.get(&url).await.status, 303);
    server.stop().await;
}
