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

server_test!(
    l7_slow_headers_time_out_and_connections_are_capped,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[http]\nheader_read_timeout = \"300ms\"\nmax_connections = 2")
            .start(&db)
            .await;
        let address = server.issuer.trim_start_matches("http://").to_owned();
        // A head sent a little at a time and never finished: the server closes the connection.
        let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
        slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buffer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buffer)).await;
        assert!(closed.is_ok(), "the slow connection was never closed");
        // Two idle connections take both places; a third client waits until one goes.
        let first = tokio::net::TcpStream::connect(&address).await.unwrap();
        let second = tokio::net::TcpStream::connect(&address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let third = {
            let http = server.http.clone();
            let url = server.url("/health/live");
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            !third.is_finished(),
            "a third connection was served beside two"
        );
        drop((first, second));
        let status = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("served once a place was free")
            .unwrap()
            .unwrap();
        assert_eq!(status, 200);
        server.stop().await;
    }
);
