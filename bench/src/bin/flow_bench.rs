//! Load generator for what wrk cannot script: complete authorization code flows, logins and refresh
//! rotation, each worker a browser with its own cookies. Used by bench/bench.py; prints one JSON line.
//!
//! Usage: flow_bench MODE ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD SECONDS WORKERS
//!   flows:   GET authorize (prompt=consent, signed in) -> POST consent -> POST token, per flow
//!   openid:  the same with scope=openid profile email and a nonce; the token response carries an
//!            ID token (one signature more), which must be there
//!   logins:  GET authorize (prompt=login) -> POST login (an Argon2id check) -> redirect, per login
//!   refresh: POST token with grant_type=refresh_token, rotating, per request
//!   peer-refresh: the same against node-oidc-provider (bench/peer), whose first refresh token per
//!            worker comes from its benchmark-only POST /bench/refresh-token (USERNAME and PASSWORD
//!            are not used)
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

struct Config {
    mode: String,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    username: String,
    password: String,
}

struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    async fn get(&mut self, url: &str) -> (u16, Option<String>, String) {
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(
        &mut self,
        url: &str,
        form: &[(String, String)],
    ) -> (u16, Option<String>, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

/// The hidden fields and action of the form whose action ends in `suffix`.
fn form(html: &str, suffix: &str) -> (String, Vec<(String, String)>) {
    let at = html
        .find(&format!("{suffix}\""))
        .expect("the form is on the page");
    let start = html[..at].rfind("<form").unwrap();
    let end = at + html[at..].find("</form>").unwrap();
    let part = &html[start..end];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let s = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let e = s + tag[s..].find('"')?;
        Some(
            tag[s..e]
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    let action = attr(part, "action").unwrap();
    let fields = part
        .split("<input")
        .skip(1)
        .filter(|i| attr(i, "type").as_deref() == Some("hidden"))
        .map(|i| (attr(i, "name").unwrap(), attr(i, "value").unwrap()))
        .collect();
    (action, fields)
}

fn pkce() -> (String, String) {
    let verifier = latchkey_core::secret::random_base64url(32);
    let hash = latchkey_core::secret::SecretHash::of(verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(hash.as_bytes()))
}

fn origin(issuer: &str) -> String {
    url::Url::parse(issuer)
        .unwrap()
        .origin()
        .ascii_serialization()
}

fn authorize_url(c: &Config, challenge: &str, prompt: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "bench"),
        ("prompt", prompt),
    ]);
    if c.mode == "openid" {
        query.extend_pairs([("scope", "openid profile email"), ("nonce", "bench-nonce")]);
    }
    let query = query.finish();
    format!("{}/authorize?{query}", c.issuer)
}

fn code_of(location: &str) -> String {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code in the redirect")
}

/// Signs in and approves once; returns the first code's tokens.
async fn sign_in(c: &Config, b: &mut Browser) -> Value {
    let (verifier, challenge) = pkce();
    let (_, _, page) = b.get(&authorize_url(c, &challenge, "consent")).await;
    let (action, mut fields) = form(&page, "/login");
    fields.push(("username".into(), c.username.clone()));
    fields.push(("password".into(), c.password.clone()));
    let (_, _, page) = b
        .post(&format!("{}{action}", origin(&c.issuer)), &fields)
        .await;
    let (action, mut fields) = form(&page, "/consent");
    fields.push(("decision".into(), "approve".into()));
    let (_, location, _) = b
        .post(&format!("{}{action}", origin(&c.issuer)), &fields)
        .await;
    redeem(c, b, &code_of(&location.unwrap()), &verifier).await
}

async fn redeem(c: &Config, b: &mut Browser, code: &str, verifier: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", verifier),
        ("client_id", c.client_id.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let (status, _, body) = b.post(&format!("{}/token", c.issuer), &form).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// One unit of work in `mode`; `state` carries the refresh token between calls.
async fn once(c: &Config, b: &mut Browser, state: &mut String) -> bool {
    match c.mode.as_str() {
        mode @ ("flows" | "openid") => {
            let (verifier, challenge) = pkce();
            let (status, _, page) = b.get(&authorize_url(c, &challenge, "consent")).await;
            if status != 200 {
                return false;
            }
            let (action, mut fields) = form(&page, "/consent");
            fields.push(("decision".into(), "approve".into()));
            let (_, location, _) = b
                .post(&format!("{}{action}", origin(&c.issuer)), &fields)
                .await;
            let Some(location) = location else {
                return false;
            };
            let tokens = redeem(c, b, &code_of(&location), &verifier).await;
            tokens["access_token"].is_string()
                && (mode == "flows" || tokens["id_token"].is_string())
        }
        "logins" => {
            let (_, challenge) = pkce();
            let (_, _, page) = b.get(&authorize_url(c, &challenge, "login")).await;
            let (action, mut fields) = form(&page, "/login");
            fields.push(("username".into(), c.username.clone()));
            fields.push(("password".into(), c.password.clone()));
            let (status, _, _) = b
                .post(&format!("{}{action}", origin(&c.issuer)), &fields)
                .await;
            status == 303
        }
        _ => {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", state.as_str()),
                ("client_id", c.client_id.as_str()),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
            let (status, _, body) = b.post(&format!("{}/token", c.issuer), &form).await;
            if status != 200 {
                return false;
            }
            let body: Value = serde_json::from_str(&body).unwrap();
            *state = body["refresh_token"].as_str().unwrap().to_owned();
            true
        }
    }
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        a.len(),
        8,
        "usage: flow_bench MODE ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD SECONDS WORKERS"
    );
    let config = std::sync::Arc::new(Config {
        mode: a[0].clone(),
        issuer: a[1].clone(),
        client_id: a[2].clone(),
        redirect_uri: a[3].clone(),
        username: a[4].clone(),
        password: a[5].clone(),
    });
    let seconds: u64 = a[6].parse().unwrap();
    let workers: usize = a[7].parse().unwrap();
    // Sign every worker in first (and approve once), so the timed part is only the work itself.
    let mut ready = Vec::new();
    for _ in 0..workers {
        let mut b = Browser::new();
        let tokens = if config.mode == "peer-refresh" {
            let (status, _, body) = b
                .post(&format!("{}/bench/refresh-token", config.issuer), &[])
                .await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str(&body).unwrap()
        } else {
            sign_in(&config, &mut b).await
        };
        ready.push((b, tokens["refresh_token"].as_str().unwrap_or("").to_owned()));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = ready
        .into_iter()
        .map(|(mut b, mut state)| {
            let c = config.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if once(&c, &mut b, &mut state).await {
                        latencies.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_micros() as u64;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "WRK_JSON {{\"requests\":{},\"duration_us\":{elapsed},\"p50_us\":{},\"p99_us\":{},\"socket_errors\":0,\"non_2xx\":{errors}}}",
        all.len(),
        pct(0.5),
        pct(0.99)
    );
}
