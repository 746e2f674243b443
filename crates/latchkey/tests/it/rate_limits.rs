//! Rate limits per endpoint group: the headers on every response of a limited group, 429 with
//! `Retry-After` beyond the limit, keyed by authenticated client or by address (IPv6 by /64).
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::harness::{TestServer, basic, server_test};

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

server_test!(
    a_limited_group_reports_its_budget_and_refuses_beyond_it,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[rate_limits.discovery]\nlimit = 3\nwindow = \"1m\"")
            .start(&db)
            .await;
        let metadata = server.url("/.well-known/oauth-authorization-server");
        let mut remaining = Vec::new();
        for _ in 0..2 {
            let response = server.http.get(&metadata).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(header(&response, "x-ratelimit-limit").as_deref(), Some("3"));
            let reset: u64 = header(&response, "x-ratelimit-reset")
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&reset), "{reset}");
            remaining.push(header(&response, "x-ratelimit-remaining").unwrap());
        }
        assert_eq!(remaining, ["2", "1"]);
        // The JWKS is in the same group, and so is a conditional request.
        let response = server.http.get(server.url("/jwks")).send().await.unwrap();
        assert_eq!(
            header(&response, "x-ratelimit-remaining").as_deref(),
            Some("0")
        );
        let response = server.http.get(&metadata).send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(header(&response, "retry-after").as_deref(), Some("20"));
        assert_eq!(
            header(&response, "x-ratelimit-remaining").as_deref(),
            Some("0")
        );
        // Scripts may read why they were refused.
        assert!(
            response
                .headers()
                .contains_key("access-control-allow-origin")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "rate_limited");
        // Other groups and the probes are not affected.
        let health = server
            .http
            .get(server.url("/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert!(header(&health, "x-ratelimit-limit").is_none());
        let token = server.token_request(&[], None).await;
        assert_eq!(token.status(), 401);
        assert_eq!(header(&token, "x-ratelimit-limit").as_deref(), Some("600"));
        server.stop().await;
    }
);

server_test!(
    the_token_endpoint_limits_each_authenticated_client_and_failed_attempts_by_address,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[rate_limits.token]\nlimit = 2\nwindow = \"1h\"\n[http]\nerror_shape = \"api\"")
            .start(&db)
            .await;
        let a = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let b = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let request = |id: &str, secret: &str| {
            server.token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(id, secret)),
            )
        };
        for remaining in ["1", "0"] {
            let response = request(&a.id, &a.secret).await;
            assert_eq!(response.status(), 200);
            assert_eq!(
                header(&response, "x-ratelimit-remaining").as_deref(),
                Some(remaining)
            );
        }
        let refused = request(&a.id, &a.secret).await;
        assert_eq!(refused.status(), 429);
        assert!(header(&refused, "retry-after").is_some());
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error_code"], "rate_limited");
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
        // Another client from the same address has its own budget.
        assert_eq!(request(&b.id, &b.secret).await.status(), 200);
        // Guessing secrets spends the address's budget, not the client's.
        assert_eq!(request(&b.id, "wrong").await.status(), 401);
        assert_eq!(request(&b.id, "wrong").await.status(), 401);
        assert_eq!(request(&b.id, "wrong").await.status(), 429);
        assert_eq!(request(&b.id, &b.secret).await.status(), 200);
        server.stop().await;
    }
);

server_test!(
    addresses_behind_a_trusted_proxy_are_limited_per_ipv6_64,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\
                 [rate_limits.discovery]\nlimit = 1\nwindow = \"1m\"",
            )
            .start(&db)
            .await;
        let from = |address: &'static str| {
            server
                .http
                .get(server.url("/jwks"))
                .header("x-forwarded-for", address)
                .send()
        };
        assert_eq!(from("2001:db8:1:2::1").await.unwrap().status(), 200);
        assert_eq!(
            from("2001:db8:1:2::ffff").await.unwrap().status(),
            429,
            "the same /64"
        );
        assert_eq!(from("2001:db8:1:3::1").await.unwrap().status(), 200);
        assert_eq!(from("192.0.2.1").await.unwrap().status(), 200);
        assert_eq!(from("192.0.2.1").await.unwrap().status(), 429);
        server.stop().await;
    }
);

server_test!(a_group_can_be_turned_off, |db: TestDatabase| async move {
    let server = TestServer::builder()
        .toml("[rate_limits.discovery]\nenabled = false")
        .start(&db)
        .await;
    let response = server.http.get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "x-ratelimit-limit").is_none());
    server.stop().await;
});

server_test!(
    the_login_throttle_counts_an_ipv6_client_per_64_behind_a_trusted_proxy,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\
                 [login]\naddress_delay_after = 3\naddress_lock_after = 3\n",
            )
            .start(&db)
            .await;
        let app = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let (_, challenge) = crate::browser::pkce();
        let authorize = server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &app.id),
            ("redirect_uri", "https://app.example/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let attempt = |address: &'static str, username: &'static str| {
            let (server, authorize) = (&server, authorize.clone());
            async move {
                let mut browser = crate::browser::Browser::new();
                browser.forwarded_for = Some(address.into());
                let login = browser.get(&authorize).await;
                browser
                    .sign_in(server, &login, username, "wrong")
                    .await
                    .status
            }
        };
        // Three hosts of one /64, each guessing another account: the /64 is locked.
        assert_eq!(attempt("2001:db8:5:6::1", "a").await, 401);
        assert_eq!(attempt("2001:db8:5:6::2", "b").await, 401);
        assert_eq!(attempt("2001:db8:5:6::3", "c").await, 401);
        assert_eq!(attempt("2001:db8:5:6::4", "d").await, 429);
        assert_eq!(attempt("2001:db8:5:7::1", "e").await, 401, "another /64");
        server.stop().await;
    }
);

server_test!(
    n_m2_garbage_in_a_forwarded_header_does_not_escape_the_per_address_limits,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\
                 [rate_limits.discovery]\nlimit = 1\nwindow = \"1m\"",
            )
            .start(&db)
            .await;
        // A byte outside visible ASCII (obs-text, which HTTP/1.1 accepts) before the address the
        // proxy appended to the client's own header line.
        let garbled = || {
            server
                .http
                .get(server.url("/jwks"))
                .header(
                    "x-forwarded-for",
                    reqwest::header::HeaderValue::from_bytes(b"\x80, 203.0.113.9").unwrap(),
                )
                .send()
        };
        assert_eq!(garbled().await.unwrap().status(), 200);
        assert_eq!(garbled().await.unwrap().status(), 429);
        server.stop().await;
    }
);

server_test!(
    n_m2_an_unbalanced_quote_in_forwarded_does_not_escape_the_login_lock,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml(
                "[http]\ntrusted_proxies = [\"127.0.0.1\"]\nforwarded_header = \"forwarded\"\n\
                 [login]\naddress_delay_after = 3\naddress_lock_after = 3\n",
            )
            .start(&db)
            .await;
        let app = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode],
                "",
                &["https://app.example/cb"],
            )
            .await;
        let (_, challenge) = crate::browser::pkce();
        let authorize = server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", &app.id),
            ("redirect_uri", "https://app.example/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let mut statuses = Vec::new();
        for username in ["a", "b", "c", "d"] {
            let mut browser = crate::browser::Browser::new();
            browser.forwarded = Some("for=\"x, for=203.0.113.9".into());
            let login = browser.get(&authorize).await;
            statuses.push(
                browser
                    .sign_in(&server, &login, username, "wrong")
                    .await
                    .status,
            );
        }
        assert_eq!(statuses, [401, 401, 401, 429], "the address is locked");
        server.stop().await;
    }
);
