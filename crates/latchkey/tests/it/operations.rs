//! Health probes, limits and the headers every response carries.
use std::time::Duration;

use latchkey_store::testing::TestDatabase;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestServer, server_test};

server_test!(
    health_probes_report_the_database,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let live = server
            .http
            .get(server.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
        let ready = server
            .http
            .get(server.url("/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["database"], server.store.backend());
        // With the database gone, the instance is alive but not ready.
        server.store.close().await;
        let ready = server
            .http
            .get(server.url("/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 503);
        let live = server
            .http
            .get(server.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
    }
);

server_test!(
    unknown_paths_get_a_json_404_and_responses_are_hardened,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let response = server.http.get(server.url("/nope")).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
        server.stop().await;
    }
);

server_test!(
    oversized_bodies_are_refused_before_they_are_read,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[http]\nbody_limit = 2048")
            .start(&db)
            .await;
        let response = server
            .http
            .post(server.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&scope={}",
                "a".repeat(4096)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        server.stop().await;
    }
);

server_test!(
    a_request_that_never_finishes_times_out,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[http]\nrequest_timeout = \"300ms\"")
            .start(&db)
            .await;
        let addr = server.origin.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Promise a body and never send it.
        stream
        .write_all(b"POST /token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\n")
        .await
        .unwrap();
        let mut response = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response))
            .await
            .expect("the server answers within the timeout")
            .unwrap();
        let text = String::from_utf8_lossy(&response[..n]);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        server.stop().await;
    }
);
