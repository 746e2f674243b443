//! The OpenAPI document: it describes only what is on, and every response a run of the endpoints it
//! covers produces matches it (status, content type, JSON Schema 2020-12 of the body, checked by boon).
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::browser::{Browser, pkce};
use crate::harness::{TestServer, basic, form_encode, server_test};

const BASE: &str = "https://latchkey.invalid/openapi.json";

/// The document, compiled once; `check` validates one response against it.
struct Described {
    document: Value,
    compiler: boon::Compiler,
    schemas: boon::Schemas,
    /// `(method, path, status)` of every response checked.
    checked: BTreeSet<(String, String, u16)>,
}

/// A response, read whole.
struct Seen {
    status: u16,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn seen(response: reqwest::Response) -> Seen {
    Seen {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned()),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Described {
    fn new(document: Value) -> Described {
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler.add_resource(BASE, document.clone()).unwrap();
        Described {
            document,
            compiler,
            schemas: boon::Schemas::new(),
            checked: BTreeSet::new(),
        }
    }

    /// Asserts `seen` is a response `method path` is described to give.
    fn check(&mut self, method: &str, path: &str, seen: &Seen) {
        if let Err(e) = self.conforms(method, path, seen) {
            panic!("{} {path} → {}: {e}", method.to_uppercase(), seen.status);
        }
        self.checked
            .insert((method.to_owned(), path.to_owned(), seen.status));
    }

    /// Every described header that is `required` is present, and every described header present
    /// matches its schema (digits read as a number).
    fn headers_conform(
        &mut self,
        pointer: &str,
        response: &Value,
        seen: &Seen,
    ) -> Result<(), String> {
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let (location, header) = match header["$ref"].as_str() {
                Some(reference) => {
                    let at = reference.trim_start_matches('#').to_owned();
                    let resolved = self.document.pointer(&at).ok_or("dangling $ref")?.clone();
                    (at, resolved)
                }
                None => (
                    format!("{pointer}/headers/{}", escape(name)),
                    header.clone(),
                ),
            };
            let value = seen
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone());
            let Some(value) = value else {
                if header["required"] == true {
                    return Err(format!("header {name} is missing"));
                }
                continue;
            };
            let instance = match value.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(value),
            };
            let index = self
                .compiler
                .compile(&format!("{BASE}#{location}/schema"), &mut self.schemas)
                .map_err(|e| format!("header {name}: the schema does not compile: {e:#}"))?;
            self.schemas
                .validate(&instance, index)
                .map_err(|e| format!("header {name}: {instance} does not match: {e:#}"))?;
        }
        Ok(())
    }

    /// Whether `seen` is a response `method path` is described to give, and if not why.
    fn conforms(&mut self, method: &str, path: &str, seen: &Seen) -> Result<(), String> {
        let operation = &self.document["paths"][path][method];
        if !operation.is_object() {
            return Err("no such operation".into());
        }
        let status = seen.status.to_string();
        let mut pointer = format!("/paths/{}/{method}/responses/{status}", escape(path));
        let mut response = &operation["responses"][&status];
        if !response.is_object() {
            return Err("status not described".into());
        }
        if let Some(reference) = response["$ref"].as_str() {
            pointer = reference.trim_start_matches('#').to_owned();
            response = self.document.pointer(&pointer).ok_or("dangling $ref")?;
        }
        let response = response.clone();
        self.headers_conform(&pointer, &response, seen)?;
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return match seen.body.is_empty() {
                true => Ok(()),
                false => Err("a body where none is described".into()),
            };
        };
        let media = seen
            .content_type
            .as_deref()
            .ok_or("no content type")?
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !content.contains_key(&media) {
            return Err(format!(
                "{media} is not among {:?}",
                content.keys().collect::<Vec<_>>()
            ));
        }
        if media != "application/json" {
            return Ok(());
        }
        let instance: Value =
            serde_json::from_slice(&seen.body).map_err(|e| format!("not JSON: {e}"))?;
        let location = format!("{BASE}#{pointer}/content/{}/schema", escape(&media));
        let index = self
            .compiler
            .compile(&location, &mut self.schemas)
            .map_err(|e| format!("the schema does not compile: {e:#}"))?;
        self.schemas
            .validate(&instance, index)
            .map_err(|e| format!("{instance} does not match its schema: {e:#}"))
    }
}

fn openapi_of(config: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("latchkey-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!(
        "{:x}.toml",
        config.len() * 7919 + config.bytes().map(usize::from).sum::<usize>()
    ));
    std::fs::write(&file, config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["openapi", "--config"])
        .arg(&file)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn latchkey_openapi_describes_only_the_endpoints_that_are_on() {
    let default = openapi_of("issuer = \"https://auth.example.com\"\n");
    assert_eq!(default["openapi"], "3.1.0");
    assert_eq!(
        default["servers"],
        json!([{ "url": "https://auth.example.com" }])
    );
    let paths: BTreeSet<&str> = default["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            "/.well-known/oauth-authorization-server",
            "/authorize",
            "/token",
            "/jwks",
            "/introspect",
            "/revoke",
            "/health/live",
            "/health/ready",
        ])
    );
    // One request schema per enabled grant.
    let grants = &default["paths"]["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"]["oneOf"];
    assert_eq!(grants.as_array().unwrap().len(), 4);

    let narrow = openapi_of(
        "issuer = \"https://auth.example.com/v3\"\n\
         [policy]\ngrant_types = [\"client_credentials\"]\nintrospection = false\n\
         token_endpoint_auth_methods = [\"client_secret_post\"]\n\
         [registration]\npolicy = \"token\"\nallow_client_credentials = true\n\
         [endpoints]\nrevocation_endpoint = \"https://edge.example.com/oauth/revoke\"\n\
         [openapi]\npath = \"/openapi.json\"\n\
         [http]\nerror_shape = \"api\"\n",
    );
    let paths = narrow["paths"].as_object().unwrap();
    assert!(
        !paths.contains_key("/v3/introspect"),
        "introspection is off"
    );
    assert!(
        !paths.contains_key("/v3/authorize"),
        "no authorization_code"
    );
    assert!(paths.contains_key("/.well-known/oauth-authorization-server/v3"));
    assert!(paths.contains_key("/v3/register/{client_id}"));
    assert!(paths.contains_key("/openapi.json"));
    // An endpoint on another origin names its server.
    assert_eq!(
        paths["/oauth/revoke"]["servers"],
        json!([{ "url": "https://edge.example.com" }])
    );
    let token = &paths["/v3/token"]["post"];
    assert_eq!(
        token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["oneOf"],
        json!([{ "$ref": "#/components/schemas/ClientCredentialsTokenRequest" }])
    );
    // client_secret_post is no HTTP scheme: its credentials are form members.
    assert_eq!(token["security"], json!([{}]));
    assert_eq!(
        paths["/v3/register"]["post"]["security"],
        json!([{ "initialAccessToken": [] }])
    );
    assert_eq!(
        narrow["components"]["schemas"]["HttpError"]["required"],
        json!(["error", "error_code", "message"])
    );
}

#[test]
fn the_response_check_refuses_what_the_document_does_not_describe() {
    let mut doc = Described::new(openapi_of("issuer = \"https://auth.example.com\"\n"));
    let json = |status: u16, body: Value| Seen {
        status,
        content_type: Some("application/json".into()),
        headers: vec![
            ("cache-control".into(), "no-store".into()),
            ("x-ratelimit-limit".into(), "10".into()),
            ("x-ratelimit-remaining".into(), "9".into()),
            ("x-ratelimit-reset".into(), "1".into()),
        ],
        body: body.to_string().into_bytes(),
    };
    let token = json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 600});
    assert_eq!(
        doc.conforms("post", "/token", &json(200, token.clone())),
        Ok(())
    );
    let mut extra = token.clone();
    extra["mac_key"] = json!("x");
    for (seen, why) in [
        (json(200, extra), "does not match"),
        (
            json(
                200,
                json!({"access_token": "a", "token_type": "MAC", "expires_in": 1}),
            ),
            "does not match",
        ),
        (json(418, token.clone()), "status not described"),
        (json(400, json!({"error": "made_up"})), "does not match"),
        (
            json(
                400,
                json!({"error": "invalid_request", "error_description": "a \"quote\""}),
            ),
            "does not match",
        ),
        (
            Seen {
                status: 200,
                content_type: Some("text/plain".into()),
                headers: json(200, json!({})).headers,
                body: b"x".to_vec(),
            },
            "is not among",
        ),
        (
            Seen {
                headers: vec![],
                ..json(200, token.clone())
            },
            "header Cache-Control is missing",
        ),
        (
            Seen {
                headers: vec![
                    ("cache-control".into(), "no-store".into()),
                    ("x-ratelimit-limit".into(), "0".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-reset".into(), "1".into()),
                ],
                ..json(200, token.clone())
            },
            "header X-RateLimit-Limit",
        ),
    ] {
        let refused = doc.conforms("post", "/token", &seen).unwrap_err();
        assert!(refused.contains(why), "{refused}");
    }
    assert_eq!(
        doc.conforms("post", "/register", &json(201, json!({}))),
        Err("no such operation".into()),
        "registration is off by default"
    );
    let inactive = json(200, json!({"active": false}));
    assert_eq!(doc.conforms("post", "/introspect", &inactive), Ok(()));
    let leaky = json(200, json!({"active": false, "sub": "someone"}));
    assert!(doc.conforms("post", "/introspect", &leaky).is_err());
}

server_test!(
    every_response_of_the_described_endpoints_matches_the_openapi_document,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[registration]\npolicy = \"open\"")
            .toml("[openapi]\npath = \"/openapi.json\"")
            // Six registration requests below; the seventh meets the limit.
            .toml("[rate_limits.registration]\nlimit = 6\nwindow = \"1h\"")
            .toml("[scopes.profile]\ndescription = \"Your profile\"")
            .toml("[resources.\"https://opaque.example/\"]\nformat = \"opaque\"")
            .toml("[openid]\nenabled = true")
            .start(&db)
            .await;
        let served: Value = server
            .http
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            served,
            latchkey_server::openapi::document(&server.config.settings),
            "the served document is the one `latchkey openapi` prints"
        );
        let mut doc = Described::new(served);
        let http = &server.http;
        let form = |url: String, body: &[(&str, &str)], auth: Option<String>| {
            let mut request = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(body));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            request.send()
        };

        // Discovery and operations.
        let metadata = http
            .get(server.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        let etag = metadata.headers()["etag"].to_str().unwrap().to_owned();
        doc.check(
            "get",
            "/.well-known/oauth-authorization-server",
            &seen(metadata).await,
        );
        let cached = http
            .get(server.url("/.well-known/oauth-authorization-server"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        doc.check(
            "get",
            "/.well-known/oauth-authorization-server",
            &seen(cached).await,
        );
        for path in [
            "/.well-known/openid-configuration",
            "/jwks",
            "/health/live",
            "/health/ready",
            "/openapi.json",
        ] {
            let response = http.get(server.url(path)).send().await.unwrap();
            doc.check("get", path, &seen(response).await);
        }

        // Machine tokens, introspection, revocation, and their errors.
        let machine = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "profile",
            )
            .await;
        let auth = Some(basic(&machine.id, &machine.secret));
        let issued = form(
            server.url("/token"),
            &[("grant_type", "client_credentials")],
            auth.clone(),
        )
        .await
        .unwrap();
        let issued = seen(issued).await;
        doc.check("post", "/token", &issued);
        let jwt = serde_json::from_slice::<Value>(&issued.body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let opaque = form(
            server.url("/token"),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://opaque.example/"),
            ],
            auth.clone(),
        )
        .await
        .unwrap();
        let opaque = seen(opaque).await;
        doc.check("post", "/token", &opaque);
        let wrong = form(
            server.url("/token"),
            &[("grant_type", "client_credentials")],
            Some(basic(&machine.id, "wrong")),
        )
        .await
        .unwrap();
        doc.check("post", "/token", &seen(wrong).await);
        let unsupported = form(
            server.url("/token"),
            &[("grant_type", "password")],
            auth.clone(),
        )
        .await
        .unwrap();
        doc.check("post", "/token", &seen(unsupported).await);
        for token in [jwt.as_str(), "not-a-token"] {
            let introspected = form(server.url("/introspect"), &[("token", token)], auth.clone())
                .await
                .unwrap();
            doc.check("post", "/introspect", &seen(introspected).await);
        }
        let anonymous = form(server.url("/introspect"), &[("token", &jwt)], None)
            .await
            .unwrap();
        doc.check("post", "/introspect", &seen(anonymous).await);
        let revoked = form(server.url("/revoke"), &[("token", &jwt)], auth.clone())
            .await
            .unwrap();
        doc.check("post", "/revoke", &seen(revoked).await);
        let missing = form(server.url("/revoke"), &[], auth.clone())
            .await
            .unwrap();
        doc.check("post", "/revoke", &seen(missing).await);

        // A person's grant: the authorization page, the code, a refresh, and its introspection.
        let app = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                "openid profile",
                &["https://app.example/cb"],
            )
            .await;
        server.create_user("gail", "gail's passphrase").await;
        let (verifier, challenge) = pkce();
        let request = [
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("scope", "openid profile"),
            ("redirect_uri", "https://app.example/cb"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let url = server.authorize_url(&request);
        let page = http.get(&url).send().await.unwrap();
        doc.check("get", "/authorize", &seen(page).await);
        let posted = form(server.url("/authorize"), &request, None)
            .await
            .unwrap();
        doc.check("post", "/authorize", &seen(posted).await);
        let mut browser = Browser::new();
        let login = browser.get(&url).await;
        let consent = browser
            .sign_in(&server, &login, "gail", "gail's passphrase")
            .await;
        let done = browser.decide(&server, &consent, "approve").await;
        let code = done.redirect_params()["code"].clone();
        let redeemed = form(
            server.url("/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", &app.id),
                ("redirect_uri", "https://app.example/cb"),
            ],
            None,
        )
        .await
        .unwrap();
        let redeemed = seen(redeemed).await;
        doc.check("post", "/token", &redeemed);
        let redeemed_json = serde_json::from_slice::<Value>(&redeemed.body).unwrap();
        assert!(redeemed_json["id_token"].is_string(), "an OpenID grant");
        let access = redeemed_json["access_token"].as_str().unwrap().to_owned();

        // OpenID Connect: UserInfo with the header, in the body, and without a token; logout.
        let userinfo = http
            .get(server.url("/userinfo"))
            .header("authorization", format!("Bearer {access}"))
            .send()
            .await
            .unwrap();
        doc.check("get", "/userinfo", &seen(userinfo).await);
        let no_token = http.get(server.url("/userinfo")).send().await.unwrap();
        doc.check("get", "/userinfo", &seen(no_token).await);
        let in_body = form(server.url("/userinfo"), &[("access_token", &access)], None)
            .await
            .unwrap();
        doc.check("post", "/userinfo", &seen(in_body).await);
        let logout = http
            .get(server.url("/authorize/logout"))
            .send()
            .await
            .unwrap();
        doc.check("get", "/authorize/logout", &seen(logout).await);
        let logout = form(
            server.url("/authorize/logout"),
            &[("client_id", &app.id)],
            None,
        )
        .await
        .unwrap();
        doc.check("post", "/authorize/logout", &seen(logout).await);
        let refresh = serde_json::from_slice::<Value>(&redeemed.body).unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let introspected = form(
            server.url("/introspect"),
            &[("token", &refresh)],
            auth.clone(),
        )
        .await
        .unwrap();
        doc.check("post", "/introspect", &seen(introspected).await);
        let refreshed = form(
            server.url("/token"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &app.id),
            ],
            None,
        )
        .await
        .unwrap();
        doc.check("post", "/token", &seen(refreshed).await);
        let reused = form(
            server.url("/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", &app.id),
            ],
            None,
        )
        .await
        .unwrap();
        doc.check("post", "/token", &seen(reused).await);

        // Registration and its management.
        let json_post = |body: Value| {
            http.post(server.url("/register"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
        };
        let registered = seen(
            json_post(json!({
                "client_name": "Described",
                "redirect_uris": ["https://described.example/cb"],
                "scope": "profile",
            }))
            .await
            .unwrap(),
        )
        .await;
        doc.check("post", "/register", &registered);
        let registered: Value = serde_json::from_slice(&registered.body).unwrap();
        let refused = json_post(json!({ "redirect_uris": ["javascript:alert(1)"] }))
            .await
            .unwrap();
        doc.check("post", "/register", &seen(refused).await);
        let client_uri = registered["registration_client_uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let bearer = format!(
            "Bearer {}",
            registered["registration_access_token"].as_str().unwrap()
        );
        let read = http
            .get(&client_uri)
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        doc.check("get", "/register/{client_id}", &seen(read).await);
        let denied = http
            .get(&client_uri)
            .header("authorization", "Bearer nope")
            .send()
            .await
            .unwrap();
        doc.check("get", "/register/{client_id}", &seen(denied).await);
        let updated = http
            .put(&client_uri)
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(
                json!({
                    "client_id": registered["client_id"],
                    "client_name": "Described, renamed",
                    "redirect_uris": ["https://described.example/cb"],
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        doc.check("put", "/register/{client_id}", &seen(updated).await);
        let deleted = http
            .delete(&client_uri)
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        doc.check("delete", "/register/{client_id}", &seen(deleted).await);
        let limited = json_post(json!({ "redirect_uris": ["https://described.example/cb"] }))
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        doc.check("post", "/register", &seen(limited).await);

        // What was covered: every described operation, with its success and error answers.
        let statuses = |method: &str, path: &str| -> BTreeSet<u16> {
            doc.checked
                .iter()
                .filter(|(m, p, _)| m == method && p == path)
                .map(|(_, _, s)| *s)
                .collect()
        };
        assert_eq!(statuses("post", "/token"), BTreeSet::from([200, 400, 401]));
        assert_eq!(statuses("post", "/introspect"), BTreeSet::from([200, 401]));
        assert_eq!(statuses("post", "/revoke"), BTreeSet::from([200, 400]));
        assert_eq!(
            statuses("post", "/register"),
            BTreeSet::from([201, 400, 429])
        );
        assert_eq!(
            statuses("get", "/.well-known/oauth-authorization-server"),
            BTreeSet::from([200, 304])
        );
        let described: BTreeSet<(String, String)> = doc.document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "servers")
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let covered: BTreeSet<(String, String)> = doc
            .checked
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect();
        assert_eq!(
            described, covered,
            "every described operation was exercised"
        );
        server.stop().await;
    }
);
