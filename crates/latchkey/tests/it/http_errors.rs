//! Error responses outside the protocol (404, 405, 408, 413) are JSON in the configured shape; the
//! protocol endpoints keep RFC 6749 §5.2; CORS on the discovery documents.
use std::time::Duration;

use latchkey_store::testing::TestDatabase;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestServer, server_test};

async fn json_error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{status}"
    );
    (status, response.json().await.unwrap())
}

impl TestServer {
    /// Posts a body larger than the limit over a raw connection. The server answers 413 from the
    /// `Content-Length` alone and closes; an HTTP client still writing the body may see the connection
    /// reset before it reads that answer, so the body is written best-effort and the answer read whole.
    async fn oversized_post(&self, path: &str) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(self.origin.trim_start_matches("http://"))
            .await
            .unwrap();
        let body = "a".repeat(70_000);
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
            .await
            .unwrap()
            .ok();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        (status, serde_json::from_str(body.trim()).unwrap())
    }

    /// Sends headers announcing a body that never comes, and returns the raw response.
    async fn stalled_post(&self, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.origin.trim_start_matches("http://"))
            .await
            .unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 10\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }
}

server_test!(
    non_protocol_errors_are_json_in_the_oauth_shape_by_default,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[http]\nrequest_timeout = \"300ms\"")
            .start(&db)
            .await;
        let (status, body) =
            json_error(server.http.get(server.url("/nope")).send().await.unwrap()).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"], "not_found");
        assert!(body["error_description"].is_string());
        let response = server
            .http
            .post(server.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["allow"]
                .to_str()
                .unwrap()
                .contains("GET")
        );
        let (status, body) = json_error(response).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed"))
        );
        // A protocol endpoint's 405, 413 and 408 keep RFC 6749's vocabulary.
        let response = server.http.get(server.url("/token")).send().await.unwrap();
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(json_error(response).await.0, 405);
        let (status, body) = server.oversized_post("/token").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("invalid_request"))
        );
        let (status, body) = server.oversized_post("/nope").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("request_too_large"))
        );
        let raw = server.stalled_post("/token").await;
        assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
        assert!(
            raw.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{raw}"
        );
        assert!(raw.contains("\"error\":\"invalid_request\""), "{raw}");
        server.stop().await;
    }
);

server_test!(
    the_api_shape_is_exactly_error_error_code_and_message,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[http]\nerror_shape = \"api\"")
            .start(&db)
            .await;
        let (status, body) =
            json_error(server.http.get(server.url("/nope")).send().await.unwrap()).await;
        assert_eq!(status, 404);
        let members: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(members, ["error", "error_code", "message"]);
        assert_eq!(body["error_code"], "not_found");
        let (status, body) = json_error(
            server
                .http
                .delete(server.url("/jwks"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (405, Some("method_not_allowed"))
        );
        // The protocol endpoints answer in RFC 6749 §5.2 whatever the shape.
        let (status, body) = json_error(server.token_request(&[], None).await).await;
        assert_eq!(status, 401);
        assert_eq!(
            body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["error", "error_description"]
        );
        let (status, body) = server.oversized_post("/token").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (413, Some("invalid_request"))
        );
        server.stop().await;
    }
);

server_test!(
    discovery_documents_allow_any_requested_header_and_expose_cache_and_limit_headers,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        for path in ["/.well-known/oauth-authorization-server", "/jwks"] {
            let preflight = server
                .http
                .request(reqwest::Method::OPTIONS, server.url(path))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization, x-api-key")
                .send()
                .await
                .unwrap();
            assert!(preflight.status().is_success(), "{path}");
            let headers = preflight.headers();
            assert_eq!(headers["access-control-allow-origin"], "*");
            assert!(
                headers["access-control-allow-methods"]
                    .to_str()
                    .unwrap()
                    .contains("GET")
            );
            let allowed = headers["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase();
            assert!(
                allowed.contains("authorization") && allowed.contains("x-api-key"),
                "{allowed}"
            );
            let response = server
                .http
                .get(server.url(path))
                .header("origin", "https://app.example")
                .header("x-api-key", "ignored")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["access-control-allow-origin"], "*");
            let exposed = response.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase();
            for header in [
                "etag",
                "cache-control",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ] {
                assert!(exposed.contains(header), "{path}: {header} in {exposed}");
            }
        }
        // The token endpoint is for servers and native apps, not cross-origin scripts.
        let response = server
            .http
            .post(server.url("/token"))
            .header("origin", "https://app.example")
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        server.stop().await;
    }
);
