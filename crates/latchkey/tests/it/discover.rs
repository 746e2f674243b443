//! `latchkey discover` against Latchkey itself and against a server publishing broken documents.
use std::process::{Command, Output, Stdio};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use latchkey_store::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{TestServer, server_test};

/// Runs `latchkey ARGS` off the async workers, so a server in this process keeps answering.
pub(crate) async fn latchkey(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `discover ISSUER --allow-loopback --json`: its exit status and its report.
pub(crate) async fn discover(issuer: &str) -> (bool, Value) {
    let output = latchkey(vec![
        "discover".into(),
        issuer.into(),
        "--allow-loopback".into(),
        "--json".into(),
    ])
    .await;
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no report: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

server_test!(
    discover_finds_nothing_wrong_with_latchkey,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .issuer_path("/v3/oauth")
            .toml("[registration]\npolicy = \"open\"")
            .start(&db)
            .await;
        let (ok, report) = discover(&server.issuer).await;
        assert_eq!(report["problems"], json!([]), "{report}");
        assert!(ok);
        assert_eq!(
            report["metadata_url"],
            format!(
                "{}/.well-known/oauth-authorization-server/v3/oauth",
                server.origin
            )
        );
        let members: Vec<&str> = report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["member"].as_str().unwrap())
            .collect();
        for member in [
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                members.contains(&member),
                "{member} not probed: {members:?}"
            );
        }
        assert!(report["jwks"]["keys"].as_u64().unwrap() >= 1);
        // The readable report says what the server supports.
        let output = latchkey(vec![
            "discover".into(),
            server.issuer.clone(),
            "--allow-loopback".into(),
        ])
        .await;
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{text}");
        assert!(text.contains("No problems found."), "{text}");
        assert!(text.contains("authorization_code"), "{text}");
        server.stop().await;
    }
);

server_test!(
    discover_reaches_loopback_only_with_the_flag,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let output = latchkey(vec!["discover".into(), server.issuer.clone()]).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        // The issuer is plain http: the message names the flag that allows it on loopback.
        assert_eq!(
            stderr.trim_end(),
            "error: ISSUER: only https URLs are fetched, and plain http only to a loopback address with --allow-loopback"
        );
        server.stop().await;
    }
);

/// A server publishing one deliberately broken document per path.
async fn broken_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/{case}",
            get(document),
        )
        .route("/token", post(|| async { (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request"}))) }))
        .route("/jwks", get(|| async { Json(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ok", "x": "x", "y": "y"}]})) }))
        .route(
            "/leaky/jwks",
            get(|| async { Json(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "leak", "x": "x", "y": "y", "d": "private"}]})) }),
        )
        .with_state(origin.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, task)
}

async fn document(State(origin): State<String>, Path(case): Path<String>) -> Json<Value> {
    let mut doc = json!({
        "issuer": format!("{origin}/{case}"),
        "token_endpoint": format!("{origin}/token"),
        "jwks_uri": format!("{origin}/jwks"),
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    match case.as_str() {
        "mismatch" => doc["issuer"] = json!("https://evil.example"),
        "http" => doc["token_endpoint"] = json!("http://auth.example.com/token"),
        "missing" => {
            doc.as_object_mut()
                .unwrap()
                .remove("response_types_supported");
        }
        "dead" => doc["revocation_endpoint"] = json!(format!("{origin}/gone")),
        "leaky" => doc["jwks_uri"] = json!(format!("{origin}/leaky/jwks")),
        _ => {}
    }
    Json(doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_names_every_problem_of_a_broken_server() {
    let (origin, task) = broken_server().await;
    let (ok, report) = discover(&format!("{origin}/fine")).await;
    assert!(ok, "{report}");
    for (case, expected) in [
        ("mismatch", "is not the requested"),
        (
            "http",
            "`token_endpoint` `http://auth.example.com/token` is not https",
        ),
        ("missing", "`response_types_supported` is missing"),
        ("dead", "`revocation_endpoint`"),
        ("leaky", "publishes private key material (`d`)"),
    ] {
        let (ok, report) = discover(&format!("{origin}/{case}")).await;
        assert!(!ok, "{case}: {report}");
        let problems: Vec<&str> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{case}: {problems:?}"
        );
    }
    let (_, report) = discover(&format!("{origin}/dead")).await;
    assert!(
        report["problems"][0].as_str().unwrap().contains("404"),
        "{report}"
    );
    task.abort();
}
