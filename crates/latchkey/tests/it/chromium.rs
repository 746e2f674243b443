//! The authorization code flow in a real browser: Debian's Chromium, headless, driven over WebDriver
//! by chromedriver. A user created by the CLI signs in, approves, and the code arrives at a local
//! callback; then remembered consent and denial. Screenshots of the login and consent pages, in
//! English and Spanish, are saved under `artifacts/screenshots/` at the repository root; so are the
//! OpenID consent page listing the claims shared (`consent-claims-en`, `consent-claims-es`), the
//! logout confirmation (`logout-en`), the page before leaving for a client nobody vouches for
//! (`leave-en`, `leave-es`) and the logout that found nobody signed in (`logout-none-en`).
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::pkce;
use crate::harness::{MASTER_KEY, TestServer};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and its browser, stopped when dropped (also on a failed assertion).
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    profile: PathBuf,
    child: std::process::Child,
}

impl Driver {
    async fn start() -> Option<Driver> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromium and chromium-driver must be installed in CI"
            );
            eprintln!("skipped: install chromium and chromium-driver to run the browser test");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = std::env::temp_dir().join(format!(
            "latchkey-chromium-{}",
            latchkey_core::secret::random_base64url(8)
        ));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut driver = Driver {
            http,
            base,
            session: String::new(),
            profile,
            child,
        };
        for _ in 0..100 {
            let status = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if status.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=960,1000", "--hide-scrollbars",
                    format!("--user-data-dir={}", driver.profile.display()),
                ],
            },
        }}});
        let created = driver.call("POST", "/session", Some(capabilities)).await;
        driver.session = created["sessionId"].as_str().unwrap().to_owned();
        Some(driver)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let response = self.try_call(method, path, body).await;
        assert!(
            response["value"].get("error").is_none(),
            "WebDriver {method} {path}: {response}"
        );
        response["value"].clone()
    }

    /// The whole WebDriver answer, error or not.
    async fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        request.send().await.unwrap().json().await.unwrap()
    }

    fn session(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    async fn open(&self, url: &str) {
        self.call("POST", &self.session("/url"), Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.call("GET", &self.session("/url"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn title(&self) -> String {
        self.call("GET", &self.session("/title"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until an element matching `css` exists, and returns its id.
    async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let response: Value = self
                .http
                .post(format!("{}{}", self.base, self.session("/element")))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = response["value"][ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no element matches {css} at {}", self.url().await);
    }

    /// The rendered text of the first element matching `css`, once it exists. An element found on a
    /// page that a form post is replacing goes stale before its text is read: it is found again on
    /// the new page.
    async fn text(&self, css: &str) -> String {
        for _ in 0..100 {
            let id = self.find(css).await;
            let path = self.session(&format!("/element/{id}/text"));
            let response = self.try_call("GET", &path, None).await;
            match response["value"].get("error").and_then(Value::as_str) {
                None => return response["value"].as_str().unwrap_or_default().to_owned(),
                Some("stale element reference") => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Some(_) => panic!("WebDriver GET {path}: {response}"),
            }
        }
        panic!("{css} kept going stale at {}", self.url().await);
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            "POST",
            &self.session(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &self.session(&format!("/element/{id}/click")), None)
            .await;
    }

    /// Waits until the current URL starts with `prefix`.
    async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {prefix}; at {}", self.url().await);
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call("GET", &self.session("/screenshot"), None).await;
        let bytes = STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    async fn quit(mut self) {
        self.call("DELETE", &self.session(""), None).await;
        self.session.clear();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The browser is chromedriver's child: end the session's processes by their unique profile.
        Command::new("pkill")
            .arg("-f")
            .arg(self.profile.display().to_string())
            .status()
            .ok();
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

/// A local "client app": records every request line it receives and answers with a small page.
async fn callback_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if let Some(line) = request.lines().next() {
                    record.lock().unwrap().push(line.to_owned());
                }
                let body = "<!doctype html><title>Client app</title><p>Back at the client.</p>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.ok();
            });
        }
    });
    (url, seen)
}

fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_approves_and_the_client_gets_tokens_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let db = TestDatabase::sqlite();
    let server = TestServer::builder()
        .toml(
            "[ui]\noperator_name = \"Acme Commerce\"\n\
             [scopes.\"read:orders\"]\ndescription = \"Read your orders\"\ntranslations = { es = \"Ver tus pedidos\" }\n\
             [scopes.\"write:orders\"]\ndescription = \"Create and change orders\"\ntranslations = { es = \"Crear y modificar pedidos\" }",
        )
        .start(&db)
        .await;
    // The user is created by the real CLI, as an operator would.
    let mut add = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "user",
            "add",
            "maria",
            "--password-stdin",
            "--name",
            "María García",
            "--database",
            db.url(),
        ])
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(add.stdin.as_mut().unwrap(), b"s3cret passphrase\n").unwrap();
    assert!(add.wait().unwrap().success());

    let (callback, seen) = callback_server().await;
    let client = server
        .create_app(
            AuthMethod::None,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            "read:orders write:orders",
            &[&callback],
        )
        .await;
    let (verifier, challenge) = pkce();
    let authorize = |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", "read:orders write:orders"),
            ("state", "browser-state"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        server.authorize_url(&params)
    };

    // English: sign in, look at both pages, approve.
    driver.open(&authorize(&[("ui_locales", "en")])).await;
    assert_eq!(driver.title().await, "Sign in · Acme Commerce");
    driver.screenshot("login-en").await;
    driver.type_into("#username", "maria").await;
    driver.type_into("#password", "wrong password").await;
    driver.click("button[type=submit]").await;
    driver.find("#login-error").await;
    driver.screenshot("login-error-en").await;
    driver.type_into("#password", "s3cret passphrase").await;
    driver.click("button[type=submit]").await;
    driver.find("button[value=approve]").await;
    assert_eq!(driver.title().await, "Allow access? · Acme Commerce");
    // I1: Deny comes first, and Allow arms itself only after a moment, so the second click of a
    // double click on a page opened under the cursor cannot land on it.
    let guard = driver
        .call(
            "POST",
            &driver.session("/execute/sync"),
            Some(json!({"args": [], "script": "const allow = document.querySelector('button[value=approve]'); const deny = document.querySelector('button[value=deny]'); return [getComputedStyle(allow).animationName, (deny.compareDocumentPosition(allow) & Node.DOCUMENT_POSITION_FOLLOWING) ? 'deny first' : 'allow first'];"})),
        )
        .await;
    assert_eq!(guard, json!(["latchkey-arm", "deny first"]));
    // The screenshot shows the page as a person reads it, once Allow is armed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver.screenshot("consent-en").await;
    driver.click("button[value=approve]").await;
    // The redirect after the form post reached the client: the CSP did not block it.
    let landed = driver.wait_for_url(&callback).await;
    let params = query_of(&landed);
    assert_eq!(params["state"], "browser-state");
    assert_eq!(params["iss"], server.issuer);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("code="))
    );

    let response = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", &callback),
                ("code_verifier", &verifier),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let refreshed = server
        .token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);

    // Remembered consent: straight back to the client, no page.
    driver.open(&authorize(&[])).await;
    let landed = driver.wait_for_url(&callback).await;
    assert!(query_of(&landed).contains_key("code"));

    // Spanish, forcing both pages, then denying.
    driver
        .open(&authorize(&[
            ("ui_locales", "es"),
            ("prompt", "login consent"),
        ]))
        .await;
    assert_eq!(driver.title().await, "Iniciar sesión · Acme Commerce");
    driver.screenshot("login-es").await;
    driver.type_into("#username", "maria").await;
    driver.type_into("#password", "s3cret passphrase").await;
    driver.click("button[type=submit]").await;
    driver.find("button[value=deny]").await;
    assert_eq!(driver.title().await, "¿Permitir el acceso? · Acme Commerce");
    driver.screenshot("consent-es").await;
    driver.click("button[value=deny]").await;
    let landed = driver.wait_for_url(&callback).await;
    let params = query_of(&landed);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "browser-state");

    // An error page, for the record.
    driver
        .open(&server.authorize_url(&[("client_id", "nobody"), ("response_type", "code")]))
        .await;
    driver.screenshot("error-en").await;

    driver.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_openid_sees_the_claims_shared_and_signs_out_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let db = TestDatabase::sqlite();
    let server = TestServer::builder()
        .toml("[ui]\noperator_name = \"Acme Commerce\"\n[openid]\nenabled = true")
        .start(&db)
        .await;
    // The user and their claims come from the real CLI, as an operator would add them.
    let mut add = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
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
            "--database",
            db.url(),
        ])
        .env_clear()
        .env("LATCHKEY_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(add.stdin.as_mut().unwrap(), b"s3cret passphrase\n").unwrap();
    assert!(add.wait().unwrap().success());

    let (callback, _) = callback_server().await;
    let client = server
        .create_app_with(
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            "openid profile email",
            &[&callback],
            latchkey_core::client::ClientPolicy {
                openid: latchkey_core::oidc::client::OpenIdClient {
                    policy_uri: Some("https://recipes.example/privacy".into()),
                    tos_uri: Some("https://recipes.example/terms".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await;
    let (verifier, challenge) = pkce();
    let authorize = |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", "openid profile email"),
            ("state", "oidc-state"),
            ("nonce", "oidc-nonce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        server.authorize_url(&params)
    };

    driver.open(&authorize(&[("ui_locales", "en")])).await;
    driver.type_into("#username", "maria").await;
    driver.type_into("#password", "s3cret passphrase").await;
    driver.click("button[type=submit]").await;
    let claims = driver.text(".claims").await;
    assert!(claims.contains("maria@example.com"), "{claims}");
    assert!(claims.contains("María García"), "{claims}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver.screenshot("consent-claims-en").await;
    driver.click("button[value=approve]").await;
    let landed = driver.wait_for_url(&callback).await;
    let params = query_of(&landed);
    assert_eq!(params["state"], "oidc-state");
    let response = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", &callback),
                ("code_verifier", &verifier),
                ("client_id", &client.id),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let (_, id_token) =
        crate::harness::verify(tokens["id_token"].as_str().unwrap(), &server.jwks().await);
    assert_eq!(id_token["nonce"], "oidc-nonce");

    // The same consent in Spanish.
    driver
        .open(&authorize(&[("ui_locales", "es"), ("prompt", "consent")]))
        .await;
    let claims = driver.text(".claims").await;
    assert!(claims.contains("Correo electrónico"), "{claims}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver.screenshot("consent-claims-es").await;

    // RP-initiated logout without a hint: the person is asked first.
    driver
        .open(&format!("{}/authorize/logout?ui_locales=en", server.issuer))
        .await;
    driver.find("button[value=logout]").await;
    assert_eq!(driver.title().await, "Sign out? · Acme Commerce");
    // As on the consent page, the primary button arms itself after a moment.
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver.screenshot("logout-en").await;
    driver.click("button[value=logout]").await;
    // The form post navigates; wait for the page it lands on.
    let mut done = String::new();
    for _ in 0..100 {
        done = driver.text("h1").await;
        if done == "You are signed out" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done, "You are signed out");
    driver.quit().await;
    server.stop().await;
}

/// What the relying party's `/logout` page posts, and where.
type LogoutForm = Arc<Mutex<(String, Vec<(String, String)>)>>;

/// A relying party on another site (`localhost`, while the server is on `127.0.0.1`): its
/// `/logout` page posts the form in `form` by itself, as RP-Initiated Logout §2 allows; every other
/// path is a plain page. Records the request lines.
async fn cross_site_rp(form: LogoutForm) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (record, form) = (record.clone(), form.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let line = request.lines().next().unwrap_or_default().to_owned();
                let body = match line.starts_with("GET /logout ") {
                    true => {
                        let (action, fields) = form.lock().unwrap().clone();
                        let inputs: String = fields
                            .iter()
                            .map(|(k, v)| {
                                format!("<input type=\"hidden\" name=\"{k}\" value=\"{v}\">")
                            })
                            .collect();
                        format!(
                            "<!doctype html><title>RP</title><form method=\"post\" action=\"{action}\">\
                             {inputs}</form><script>document.forms[0].submit()</script>"
                        )
                    }
                    false => "<!doctype html><title>Back at the RP</title><p>Bye.</p>".to_owned(),
                };
                record.lock().unwrap().push(line);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.ok();
            });
        }
    });
    (origin, seen)
}

/// N-M1 in a real browser: the relying party (another site) posts the logout, which without the
/// bounce arrived without the `SameSite=Lax` session cookie, was answered as done, and left the
/// session alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_m1_a_relying_partys_cross_site_logout_post_ends_the_session_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let db = TestDatabase::sqlite();
    let server = TestServer::builder()
        .toml("[openid]\nenabled = true")
        .start(&db)
        .await;
    server.create_user("maria", "s3cret passphrase").await;
    let (callback, _) = callback_server().await;
    let form: LogoutForm = Arc::new(Mutex::new((String::new(), Vec::new())));
    let (rp, rp_seen) = cross_site_rp(form.clone()).await;
    let client = server
        .create_app_with(
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            "openid",
            &[&callback],
            latchkey_core::client::ClientPolicy {
                openid: latchkey_core::oidc::client::OpenIdClient {
                    post_logout_redirect_uris: vec![
                        latchkey_core::types::RedirectUri::parse(format!("{rp}/bye")).unwrap(),
                    ],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await;
    let (verifier, challenge) = pkce();
    let authorize = |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("scope", "openid"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        server.authorize_url(&params)
    };
    driver.open(&authorize(&[])).await;
    driver.type_into("#username", "maria").await;
    driver.type_into("#password", "s3cret passphrase").await;
    driver.click("button[type=submit]").await;
    driver.find("button[value=approve]").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver.click("button[value=approve]").await;
    let landed = driver.wait_for_url(&callback).await;
    let tokens: Value = server
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &query_of(&landed)["code"]),
                ("redirect_uri", &callback),
                ("code_verifier", &verifier),
                ("client_id", &client.id),
            ],
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    *form.lock().unwrap() = (
        format!("{}/authorize/logout", server.issuer),
        vec![
            (
                "id_token_hint".into(),
                tokens["id_token"].as_str().unwrap().into(),
            ),
            ("post_logout_redirect_uri".into(), format!("{rp}/bye")),
            ("state".into(), "lo1".into()),
        ],
    );
    // The relying party's page posts the logout cross-site; the browser ends at its /bye…
    driver.open(&format!("{rp}/logout")).await;
    let bye = driver.wait_for_url(&format!("{rp}/bye")).await;
    assert!(bye.ends_with("/bye?state=lo1"), "{bye}");
    assert!(
        rp_seen
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("GET /logout "))
    );
    // …and the session really ended: prompt=none now answers login_required.
    driver.open(&authorize(&[("prompt", "none")])).await;
    let after = driver.wait_for_url(&callback).await;
    assert_eq!(query_of(&after)["error"], "login_required", "{after}");
    driver.quit().await;
    server.stop().await;
}

/// The pages issue 21 added, as a person sees them: the interstitial before leaving for a client the
/// operator did not create (N-M3), in English and Spanish, and the logout that found nobody signed in
/// (N-M1). Saved as `leave-en`, `leave-es` and `logout-none-en`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_asked_before_leaving_for_a_self_registered_client_in_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let db = TestDatabase::sqlite();
    let server = TestServer::builder()
        .toml(
            "[ui]\noperator_name = \"Acme Commerce\"\n\
             [openid]\nenabled = true\n[registration]\npolicy = \"open\"",
        )
        .start(&db)
        .await;
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(&json!({
            "client_name": "Unvetted Assistant",
            "redirect_uris": ["https://assistant.example/callback"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"].as_str().unwrap();
    for (lang, heading) in [
        ("en", "Leave this server?"),
        ("es", "¿Salir de este servidor?"),
    ] {
        // An error for a client nobody vouches for, before anyone signed in: a page, not a redirect.
        driver
            .open(&server.authorize_url(&[
                ("client_id", id),
                ("response_type", "token"),
                ("state", "x"),
                ("ui_locales", lang),
            ]))
            .await;
        assert_eq!(driver.text("h1").await, heading);
        assert!(
            driver.url().await.starts_with(&server.origin),
            "not redirected"
        );
        let link = driver.text("a.button").await;
        assert!(link.contains("assistant.example"), "names the host: {link}");
        driver.screenshot(&format!("leave-{lang}")).await;
    }
    driver
        .open(&format!("{}/authorize/logout", server.issuer))
        .await;
    assert_eq!(driver.text("h1").await, "You were not signed in");
    driver.screenshot("logout-none-en").await;
    driver.quit().await;
    server.stop().await;
}
