//! The real `latchkey` binary: client and key management against the database a running server uses,
//! `serve --dev`, and one-line errors for bad configuration.
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::command::{json_of, latchkey, one_line_error};
use crate::harness::{MASTER_KEY, TestServer, basic, eventually, server_test};

server_test!(
    clients_managed_by_the_cli_work_while_the_server_runs,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let created = json_of(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Billing sync",
                "--scope",
                "read write",
                "--json",
            ],
        ));
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(
            created["grant_types"],
            serde_json::json!(["client_credentials"])
        );
        let grant = [("grant_type", "client_credentials")];
        let response = server
            .token_request(&grant, Some(basic(&id, &secret)))
            .await;
        assert_eq!(response.status(), 200);

        let listed = json_of(&latchkey(&db, &["client", "list", "--json"]));
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let shown = json_of(&latchkey(&db, &["client", "show", &id, "--json"]));
        assert_eq!(shown["client_name"], "Billing sync");
        assert!(
            shown.get("client_secret").is_none(),
            "secrets are shown only once"
        );
        assert!(
            !String::from_utf8_lossy(&latchkey(&db, &["client", "show", &id]).stdout)
                .contains(&secret)
        );

        let rotated = json_of(&latchkey(&db, &["client", "rotate-secret", &id, "--json"]));
        let new_secret = rotated["client_secret"].as_str().unwrap();
        assert_ne!(new_secret, secret);
        eventually("the old secret stops working", || async {
            let old = server
                .token_request(&grant, Some(basic(&id, &secret)))
                .await;
            old.status() == 401
        })
        .await;
        let new = server
            .token_request(&grant, Some(basic(&id, new_secret)))
            .await;
        assert_eq!(new.status(), 200);

        let deleted = latchkey(&db, &["client", "delete", &id]);
        assert!(deleted.status.success());
        eventually("a deleted client stops working", || async {
            let gone = server
                .token_request(&grant, Some(basic(&id, new_secret)))
                .await;
            gone.status() == 401
        })
        .await;
        let again = one_line_error(&latchkey(&db, &["client", "delete", &id]));
        assert!(again.contains("does not exist"), "{again}");
        server.stop().await;
    }
);

server_test!(
    client_create_refuses_bad_input_with_one_line,
    |db: TestDatabase| async move {
        for (args, expected) in [
            (
                vec!["--name", "x", "--grant-type", "password"],
                "--grant-type",
            ),
            (
                vec!["--name", "x", "--auth-method", "tls_client_auth"],
                "--auth-method",
            ),
            (vec!["--name", "x", "--scope", "a\"b"], "--scope"),
            (
                vec!["--name", "x", "--redirect-uri", "http://evil.example/cb"],
                "--redirect-uri",
            ),
            (vec!["--name", " "], "--name"),
        ] {
            let mut full = vec!["client", "create"];
            full.extend(args);
            let line = one_line_error(&latchkey(&db, &full));
            assert!(line.contains(expected), "{line}");
        }
        let listed = json_of(&latchkey(&db, &["client", "list", "--json"]));
        assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was stored");
    }
);

server_test!(
    keys_rotate_and_list_from_the_cli,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let before = json_of(&latchkey(&db, &["keys", "list", "--json"]));
        assert_eq!(before.as_array().unwrap().len(), 1);
        assert_eq!(before[0]["status"], "active");
        let rotated = latchkey(&db, &["keys", "rotate", "--alg", "RS256"]);
        assert!(
            rotated.status.success(),
            "{}",
            String::from_utf8_lossy(&rotated.stderr)
        );
        let after = json_of(&latchkey(&db, &["keys", "list", "--json"]));
        let after = after.as_array().unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0]["status"], "active");
        assert_eq!(after[0]["alg"], "RS256");
        assert_eq!(after[1]["status"], "retired, published");
        let line = one_line_error(&latchkey(&db, &["keys", "rotate", "--alg", "HS256"]));
        assert!(line.contains("--alg"), "{line}");
        server.stop().await;
    }
);

#[test]
fn bad_configuration_stops_the_start_with_one_line_naming_the_key() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("latchkey.toml");
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (
            vec!["--issuer".into(), "not a url".into()],
            None,
            "--issuer:",
        ),
        (
            vec!["--issuer".into(), "https://as.example.com?x=1".into()],
            None,
            "query",
        ),
        (
            vec!["--issuer".into(), "https://as.example.com#f".into()],
            None,
            "fragment",
        ),
        (
            vec!["--issuer".into(), "http://as.example.com".into()],
            None,
            "https",
        ),
        (vec!["--listen".into(), "nowhere".into()], None, "--listen:"),
        (vec![], Some("isuer = \"https://as.example.com\""), "isuer"),
        (
            vec![],
            Some("[tokens]\naccess_token_ttl = \"soon\""),
            "tokens.access_token_ttl",
        ),
        (
            vec![],
            Some("[keys]\nalgorithm = \"HS256\""),
            "keys.algorithm",
        ),
    ];
    for (args, file, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        command
            .arg("serve")
            .args(&args)
            .arg("--database")
            .arg(db.url())
            .env_clear()
            .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
            .stdin(Stdio::null());
        if let Some(text) = file {
            std::fs::write(&config, text).unwrap();
            command.arg("--config").arg(&config);
        }
        let line = one_line_error(&command.output().unwrap());
        assert!(line.contains(expected), "{args:?} {file:?}: {line}");
    }
    let unreadable = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}/missing-dir/x.db", dir.display()))
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .output()
        .unwrap();
    let line = one_line_error(&unreadable);
    assert!(line.contains("database"), "{line}");
    let no_master = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db.url()])
        .env_clear()
        .output()
        .unwrap();
    assert!(one_line_error(&no_master).contains("master_key"));
    let unknown_env = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--database", db.url()])
        .env_clear()
        .env("LATCHKEY_ISUER", "x")
        .output()
        .unwrap();
    assert!(one_line_error(&unknown_env).contains("LATCHKEY_ISUER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_prints_a_working_demo_and_stops_on_sigterm() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &origin,
        ])
        .current_dir(&dir)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{origin}/health/ready")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not become ready");
    // The key file and the database were created in the working directory.
    let key_file = dir.join("latchkey-dev.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(dir.join("latchkey.db").exists());

    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the server stops after SIGTERM")
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The banner's instructions work: pick the secret out and ask for a token as curl would.
    let secret = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("client_secret="))
        .expect("the banner shows the demo client's secret")
        .to_owned();
    assert!(
        stdout.contains(&format!(
            "curl -s -u demo:{secret} -d grant_type=client_credentials {origin}/token"
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(&secret), "a secret reached the log");

    // Start again (same directory): the demo client and key file are reused and the token is issued.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &origin,
        ])
        .current_dir(&dir)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut token = None;
    for _ in 0..100 {
        if let Ok(r) = http
            .post(format!("{origin}/token"))
            .header("authorization", basic("demo", &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
        {
            token = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(token, Some(reqwest::StatusCode::OK));
    let pid = child.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_and_never_carry_secrets_or_tokens() {
    let db = TestDatabase::sqlite();
    let created = json_of(&latchkey(
        &db,
        &["client", "create", "--name", "logs", "--json"],
    ));
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &origin,
            "--database",
            db.url(),
        ])
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .env("LATCHKEY_LOG_FORMAT", "json")
        .env("LATCHKEY_LOG_LEVEL", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut token = None;
    for _ in 0..100 {
        // The secret travels in the body and the query string too, where a careless logger would print it.
        let sent = http
            .post(format!("{origin}/token?client_secret={secret}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            ))
            .send()
            .await;
        if sent.is_ok() {
            let sent = http
                .post(format!("{origin}/token"))
                .header("authorization", basic(&id, &secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap();
            let body: Value = sent.json().await.unwrap();
            token = body["access_token"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = token.expect("a token was issued");
    let pid = child.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
        assert!(
            !line.contains(&secret),
            "the client secret reached the log: {line}"
        );
        assert!(
            !line.contains(&token),
            "the access token reached the log: {line}"
        );
    }
    assert!(stderr.contains("/token"), "requests are logged: {stderr}");
}

fn latchkey_with_stdin(db: &TestDatabase, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .arg("--database")
        .arg(db.url())
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

server_test!(
    users_are_managed_from_the_cli,
    |db: TestDatabase| async move {
        let added = latchkey_with_stdin(
            &db,
            &[
                "user",
                "add",
                "alice",
                "--password-stdin",
                "--email",
                "alice@example.com",
            ],
            "a long passphrase\n",
        );
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let listed = json_of(&latchkey(&db, &["user", "list", "--json"]));
        assert_eq!(listed[0]["username"], "alice");
        assert_eq!(listed[0]["email"], "alice@example.com");
        assert!(listed[0].get("password_hash").is_none());
        let text = serde_json::to_string(&listed).unwrap();
        assert!(!text.contains("argon2"), "no hash is printed");

        let short =
            latchkey_with_stdin(&db, &["user", "add", "bob", "--password-stdin"], "short\n");
        let line = one_line_error(&short);
        assert!(
            line.contains("too short") && line.contains("at least 8"),
            "{line}"
        );
        let taken = latchkey_with_stdin(
            &db,
            &["user", "add", "alice", "--password-stdin"],
            "another passphrase\n",
        );
        assert!(one_line_error(&taken).contains("exists already"));
        let bad_name = latchkey_with_stdin(
            &db,
            &["user", "add", "al ice", "--password-stdin"],
            "a long passphrase\n",
        );
        assert!(one_line_error(&bad_name).contains("username"));

        let changed = latchkey_with_stdin(
            &db,
            &["user", "set-password", "alice", "--password-stdin"],
            "a new passphrase\n",
        );
        assert!(changed.status.success());
        // L4: by default the grants and tokens the old password allowed go too.
        assert!(String::from_utf8_lossy(&changed.stdout).contains("grants and tokens have ended"));
        let kept = latchkey_with_stdin(
            &db,
            &[
                "user",
                "set-password",
                "alice",
                "--password-stdin",
                "--keep-grants",
            ],
            "a new passphrase\n",
        );
        assert!(kept.status.success());
        assert!(!String::from_utf8_lossy(&kept.stdout).contains("grants"));
        let missing = latchkey_with_stdin(
            &db,
            &["user", "set-password", "nobody", "--password-stdin"],
            "a new passphrase\n",
        );
        assert!(one_line_error(&missing).contains("does not exist"));

        // The new password works on the login page; the old one does not.
        let server = TestServer::start(&db).await;
        let client = server
            .create_app(
                latchkey_core::types::AuthMethod::None,
                &[latchkey_core::types::GrantType::AuthorizationCode],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let (_, challenge) = crate::browser::pkce();
        let url = server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let mut browser = crate::browser::Browser::new();
        let login = browser.get(&url).await;
        let old = browser
            .sign_in(&server, &login, "alice", "a long passphrase")
            .await;
        assert_eq!(old.status, 401);
        let new = browser
            .sign_in(&server, &login, "alice", "a new passphrase")
            .await;
        assert_eq!(new.status, 200, "the consent page");
        server.stop().await;

        assert!(latchkey(&db, &["user", "delete", "alice"]).status.success());
        assert!(
            one_line_error(&latchkey(&db, &["user", "delete", "alice"])).contains("does not exist")
        );
    }
);

server_test!(
    public_clients_get_no_secret_and_sensible_grants,
    |db: TestDatabase| async move {
        let created = json_of(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "Mobile",
                "--auth-method",
                "none",
                "--redirect-uri",
                "com.example.app:/oauth",
                "--redirect-uri",
                "http://127.0.0.1/callback",
                "--json",
            ],
        ));
        assert!(created.get("client_secret").is_none());
        assert_eq!(created["token_endpoint_auth_method"], "none");
        assert_eq!(
            created["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        let id = created["client_id"].as_str().unwrap();
        let line = one_line_error(&latchkey(&db, &["client", "rotate-secret", id]));
        assert!(line.contains("public"), "{line}");
        for (args, expected) in [
            (
                vec![
                    "--auth-method",
                    "none",
                    "--grant-type",
                    "client_credentials",
                ],
                "confidential",
            ),
            (vec!["--grant-type", "authorization_code"], "--redirect-uri"),
            (vec!["--grant-type", "refresh_token"], "authorization_code"),
        ] {
            let mut full = vec!["client", "create", "--name", "x"];
            full.extend(args);
            let line = one_line_error(&latchkey(&db, &full));
            assert!(line.contains(expected), "{line}");
        }
    }
);

server_test!(
    resources_and_client_policies_are_managed_from_the_cli,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let added = latchkey(
            &db,
            &[
                "resource",
                "add",
                "http://127.0.0.1:8788/mcp",
                "--scope",
                "tools:call",
                "--format",
                "opaque",
                "--ttl",
                "5m",
            ],
        );
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let listed = json_of(&latchkey(&db, &["resource", "list", "--json"]));
        assert_eq!(listed[0]["uri"], "http://127.0.0.1:8788/mcp");
        assert_eq!(listed[0]["format"], "opaque");
        assert_eq!(listed[0]["ttl"], 300);
        for (args, expected) in [
            (vec!["resource", "add", "http://api.example.com/"], "https"),
            (
                vec![
                    "resource",
                    "add",
                    "https://a.example/",
                    "--format",
                    "paseto",
                ],
                "--format",
            ),
            (
                vec!["resource", "add", "https://a.example/", "--ttl", "2d"],
                "--ttl",
            ),
            (
                vec!["resource", "add", "http://127.0.0.1:8788/mcp"],
                "exists already",
            ),
            (
                vec!["resource", "delete", "https://nope.example/"],
                "does not exist",
            ),
        ] {
            let line = one_line_error(&latchkey(&db, &args));
            assert!(line.contains(expected), "{args:?}: {line}");
        }

        let created = json_of(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "MCP gateway",
                "--scope",
                "tools:call",
                "--grant-type",
                "client_credentials",
                "--grant-type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "--introspect-any",
                "--allowed-resource",
                "http://127.0.0.1:8788/mcp",
                "--json",
            ],
        ));
        assert_eq!(created["introspect_any"], true);
        assert_eq!(
            created["allowed_resources"],
            serde_json::json!(["http://127.0.0.1:8788/mcp"])
        );
        let (id, secret) = (
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        );
        // The resource added by the CLI is used by the running server at once.
        let response = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "http://127.0.0.1:8788/mcp"),
                ],
                Some(basic(&id, &secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(
            !body["access_token"].as_str().unwrap().contains('.'),
            "opaque, as the resource says"
        );
        assert_eq!(body["expires_in"], 300);

        let line = one_line_error(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "x",
                "--auth-method",
                "none",
                "--introspect-any",
                "--redirect-uri",
                "https://a.example/cb",
            ],
        ));
        assert!(line.contains("--introspect-any"), "{line}");
        let line = one_line_error(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "x",
                "--access-token-format",
                "cbor",
            ],
        ));
        assert!(line.contains("--access-token-format"), "{line}");
        let line = one_line_error(&latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "x",
                "--allowed-resource",
                "ftp://x",
            ],
        ));
        assert!(line.contains("--allowed-resource"), "{line}");

        assert!(
            latchkey(&db, &["resource", "delete", "http://127.0.0.1:8788/mcp"])
                .status
                .success()
        );
        eventually("a deleted resource becomes unknown", || async {
            let response = server
                .token_request(
                    &[
                        ("grant_type", "client_credentials"),
                        ("resource", "http://127.0.0.1:8788/mcp"),
                    ],
                    Some(basic(&id, &secret)),
                )
                .await;
            response.status() == 400
        })
        .await;
        server.stop().await;
    }
);

server_test!(
    user_claims_are_set_from_the_cli_and_bad_ones_refused,
    |db: TestDatabase| async move {
        let added = latchkey_with_stdin(
            &db,
            &[
                "user",
                "add",
                "maria",
                "--password-stdin",
                "--name",
                "María García",
                "--given-name",
                "María",
                "--family-name",
                "García",
                "--email",
                "maria@example.com",
                "--email-verified",
                "--locale",
                "es-ES",
                "--locality",
                "Madrid",
            ],
            "a long passphrase\n",
        );
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let listed = json_of(&latchkey(&db, &["user", "list", "--json"]));
        let maria = &listed[0];
        assert_eq!(maria["given_name"], "María");
        assert_eq!(maria["email_verified"], true);
        assert_eq!(maria["address"]["locality"], "Madrid");
        let created = maria["updated_at"].as_i64().unwrap();

        let set = latchkey(
            &db,
            &[
                "user",
                "set",
                "maria",
                "--email-verified=false",
                "--phone-number",
                "+34600000000",
                "--given-name",
                "",
            ],
        );
        assert!(
            set.status.success(),
            "{}",
            String::from_utf8_lossy(&set.stderr)
        );
        let listed = json_of(&latchkey(&db, &["user", "list", "--json"]));
        let maria = &listed[0];
        assert_eq!(maria["email_verified"], false);
        assert_eq!(maria["phone_number"], "+34600000000");
        assert!(maria.get("given_name").is_none(), "an empty value clears");
        assert_eq!(maria["family_name"], "García", "the others are kept");
        assert!(maria["updated_at"].as_i64().unwrap() >= created);

        for (args, expected) in [
            (vec!["user", "set", "maria", "--email", "nope"], "email"),
            (
                vec!["user", "set", "maria", "--birthdate", "14/03/1990"],
                "birthdate",
            ),
            (
                vec![
                    "user",
                    "set",
                    "maria",
                    "--picture",
                    "http://x.example/p.png",
                ],
                "picture",
            ),
            (
                vec!["user", "set", "nobody", "--nickname", "n"],
                "does not exist",
            ),
            (vec!["user", "set", "maria"], "nothing to set"),
        ] {
            let line = one_line_error(&latchkey(&db, &args));
            assert!(line.contains(expected), "{line}");
        }
    }
);

#[test]
fn client_create_refuses_what_the_policy_turned_off_in_one_line() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("policy.toml");
    std::fs::write(
        &config,
        "[policy]\ngrant_types = [\"authorization_code\", \"refresh_token\"]\n\
         token_endpoint_auth_methods = [\"client_secret_basic\", \"private_key_jwt\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let error = one_line_error(&latchkey(
        &db,
        &["client", "create", "--name", "svc", "--config", config],
    ));
    assert!(
        error.contains("client_credentials") && error.contains("policy.grant_types"),
        "{error}"
    );
    let error = one_line_error(&latchkey(
        &db,
        &[
            "client",
            "create",
            "--name",
            "app",
            "--auth-method",
            "none",
            "--redirect-uri",
            "https://app.example/cb",
            "--config",
            config,
        ],
    ));
    assert!(error.contains("none"), "{error}");
    let created = json_of(&latchkey(
        &db,
        &[
            "client",
            "create",
            "--name",
            "web",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
            "--config",
            config,
        ],
    ));
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["authorization_code"])
    );
}

#[test]
fn client_create_sets_and_show_prints_the_openid_members() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("openid.toml");
    std::fs::write(&config, "[openid]\nenabled = true\n").unwrap();
    let config = config.to_str().unwrap();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "web",
            "--auth-method",
            "none",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
            "--config",
            config,
        ];
        args.extend_from_slice(extra);
        latchkey(&db, &args)
    };
    let created = json_of(&create(&[
        "--client-uri",
        "https://app.example/",
        "--logo-uri",
        "https://app.example/logo.png",
        "--policy-uri",
        "https://app.example/privacy",
        "--tos-uri",
        "https://app.example/terms",
        "--default-max-age",
        "3600",
        "--require-auth-time",
        "--subject-type",
        "pairwise",
    ]));
    let id = created["client_id"].as_str().unwrap();
    let shown = json_of(&latchkey(
        &db,
        &["client", "show", id, "--json", "--config", config],
    ));
    for (member, value) in [
        ("client_uri", serde_json::json!("https://app.example/")),
        (
            "logo_uri",
            serde_json::json!("https://app.example/logo.png"),
        ),
        (
            "policy_uri",
            serde_json::json!("https://app.example/privacy"),
        ),
        ("tos_uri", serde_json::json!("https://app.example/terms")),
        ("default_max_age", serde_json::json!(3600)),
        ("require_auth_time", serde_json::json!(true)),
        ("subject_type", serde_json::json!("pairwise")),
        ("id_token_signed_response_alg", serde_json::json!("RS256")),
    ] {
        assert_eq!(created[member], value, "{member} in {created}");
        assert_eq!(shown[member], value, "{member} in {shown}");
    }
    // A link that is not https is refused in one line naming the flag.
    let error = one_line_error(&create(&["--logo-uri", "http://app.example/logo.png"]));
    assert!(error.starts_with("error: --logo-uri: "), "{error}");
    // A maximum age beyond the limit names the limit.
    let error = one_line_error(&create(&["--default-max-age", "99999999"]));
    assert!(error.starts_with("error: --default-max-age: "), "{error}");
    assert!(error.contains("at most 31622400 (366 days)"), "{error}");
    // With OpenID Connect off, the OpenID members are not shown: they would mean nothing.
    let plain = json_of(&latchkey(&db, &["client", "show", id, "--json"]));
    assert!(plain.get("subject_type").is_none(), "{plain}");
    assert_eq!(plain["client_id"], id);
    // Nor are they accepted then: they would be stored and never used.
    let error = one_line_error(&latchkey(
        &db,
        &[
            "client",
            "create",
            "--name",
            "web",
            "--auth-method",
            "none",
            "--redirect-uri",
            "https://app.example/cb",
            "--require-auth-time",
        ],
    ));
    assert_eq!(
        error,
        "error: --require-auth-time: OpenID Connect is off; set [openid] enabled = true first"
    );
}

#[test]
fn client_create_require_pkce_is_stored_shown_and_checked() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("openid.toml");
    std::fs::write(&config, "[openid]\nenabled = true\n").unwrap();
    let config = config.to_str().unwrap();
    let create = |value: &str| {
        latchkey(
            &db,
            &[
                "client",
                "create",
                "--name",
                "legacy rp",
                "--auth-method",
                "client_secret_basic",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "https://rp.example/cb",
                "--require-pkce",
                value,
                "--json",
                "--config",
                config,
            ],
        )
    };
    let created = json_of(&create("false"));
    assert_eq!(created["require_pkce"], false, "{created}");
    let id = created["client_id"].as_str().unwrap();
    let shown = json_of(&latchkey(
        &db,
        &["client", "show", id, "--json", "--config", config],
    ));
    assert_eq!(shown["require_pkce"], false, "{shown}");
    // Like --default-max-age, the value is typed: clap refuses anything but true or false.
    let refused = create("maybe");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--require-pkce"));
}

#[test]
fn metadata_prints_the_published_document_and_check_names_each_difference() {
    let db = TestDatabase::sqlite();
    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("metadata.toml");
    std::fs::write(
        &config,
        "issuer = \"https://as.example.com\"\n\
         [policy]\ngrant_types = [\"client_credentials\"]\nintrospection = false\nrevocation = false\n\
         [metadata]\nui_locales_supported = []\nmember_order = [\"issuer\", \"jwks_uri\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let output = latchkey(&db, &["metadata", "--json", "--config", config]);
    let doc = json_of(&output);
    let names: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "issuer",
            "jwks_uri",
            "token_endpoint",
            "response_types_supported",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
            "resource_parameter_supported"
        ]
    );
    let expected = dir.join("expected.json");
    std::fs::write(&expected, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let output = latchkey(
        &db,
        &[
            "metadata",
            "--config",
            config,
            "--check",
            expected.to_str().unwrap(),
        ],
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("matches"));
    // Another order, a member too many, one missing, one different.
    let mut other = serde_json::Map::new();
    other.insert("issuer".into(), doc["issuer"].clone());
    other.insert("token_endpoint".into(), doc["token_endpoint"].clone());
    other.insert("jwks_uri".into(), doc["jwks_uri"].clone());
    other.insert(
        "response_types_supported".into(),
        serde_json::json!(["code"]),
    );
    other.insert(
        "grant_types_supported".into(),
        doc["grant_types_supported"].clone(),
    );
    other.insert(
        "token_endpoint_auth_methods_supported".into(),
        doc["token_endpoint_auth_methods_supported"].clone(),
    );
    other.insert(
        "service_documentation".into(),
        serde_json::json!("https://docs.example.com"),
    );
    std::fs::write(&expected, serde_json::to_string(&other).unwrap()).unwrap();
    let output = latchkey(
        &db,
        &[
            "metadata",
            "--config",
            config,
            "--check",
            expected.to_str().unwrap(),
        ],
    );
    let error = one_line_error(&output);
    assert!(
        error.contains("differs") && error.contains("5 ways"),
        "{error}"
    );
    let report = String::from_utf8_lossy(&output.stdout);
    for line in [
        "missing: service_documentation",
        "different: response_types_supported: expected [\"code\"], published []",
        "extra: token_endpoint_auth_signing_alg_values_supported",
        "extra: resource_parameter_supported",
        "order: expected issuer, token_endpoint, jwks_uri,",
    ] {
        assert!(report.contains(line), "{line} in {report}");
    }
}

#[test]
fn i5_i6_client_ids_never_take_a_users_subject_or_a_document_url() {
    let db = TestDatabase::sqlite();
    let added = latchkey_with_stdin(
        &db,
        &["user", "add", "maria", "--password-stdin"],
        "a long passphrase\n",
    );
    assert!(added.status.success());
    let sub = String::from_utf8_lossy(&added.stdout)
        .split("(sub ")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches(')')
        .to_owned();
    let error = one_line_error(&latchkey(
        &db,
        &["client", "create", "--name", "svc", "--client-id", &sub],
    ));
    assert!(error.contains("user's subject"), "{error}");

    let dir = Path::new(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();
    let config = dir.join("documents.toml");
    std::fs::write(&config, "[client_id_metadata_documents]\nenabled = true\n").unwrap();
    let config = config.to_str().unwrap();
    let url = "https://app.example/oauth/client.json";
    let error = one_line_error(&latchkey(
        &db,
        &[
            "client",
            "create",
            "--name",
            "app",
            "--client-id",
            url,
            "--config",
            config,
        ],
    ));
    assert!(error.contains("Client ID Metadata Document"), "{error}");
    // Without documents the operator may still choose such an id.
    assert!(
        latchkey(
            &db,
            &["client", "create", "--name", "app", "--client-id", url]
        )
        .status
        .success()
    );
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly_not_with_a_panic() {
    // `latchkey metadata | head -0`: the read end is closed before the command writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["metadata", "--json"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{stderr}");
}
