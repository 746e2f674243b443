//! Failed-login throttling over HTTP: an attempt counts before its password is checked, so parallel
//! guesses and cancelled requests cannot slip past the lock (review M3), and behind a trusted proxy the
//! client's own address is counted while the proxy's is never locked as a whole (review M5).
use std::collections::BTreeMap;

use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;

use crate::browser::{Browser, Page, pkce};
use crate::harness::{TestServer, server_test};

const CALLBACK: &str = "https://app.example/callback";
const PASSWORD: &str = "correct horse battery";

/// A server with `toml`, alice, a public client, and a browser on its login page.
async fn login_page(db: &TestDatabase, toml: &str) -> (TestServer, Browser, Page) {
    let server = TestServer::builder().toml(toml).start(db).await;
    let client = server
        .create_app(
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            "read",
            &[CALLBACK],
        )
        .await;
    server.create_user("alice", PASSWORD).await;
    for i in 0..10 {
        server.create_user(&format!("user{i}"), PASSWORD).await;
    }
    let (_, challenge) = pkce();
    let url = server.authorize_url(&[
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", CALLBACK),
        ("scope", "read"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut browser = Browser::new();
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    (server, browser, page)
}

/// What a login answer says: `checked` (401), `locked` or `busy` (429), or another status.
async fn outcome(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    match status {
        401 => "checked".into(),
        429 if body.contains("Too many failed attempts") => "locked".into(),
        429 if body.contains("in progress") => "busy".into(),
        other => other.to_string(),
    }
}

server_test!(
    m3_bursts_of_parallel_wrong_passwords_get_exactly_lock_after_checks,
    |db: TestDatabase| async move {
        let (server, browser, page) =
            login_page(&db, "[login]\ndelay_after = 5\nlock_after = 5").await;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for burst in 0..6 {
            let requests = (0..10).map(|i| {
                let request = browser.login_request(
                    &server.origin,
                    &page,
                    "alice",
                    &format!("guess {burst}.{i}"),
                );
                async move { outcome(request.send().await.unwrap()).await }
            });
            for answer in futures_util::future::join_all(requests).await {
                *counts.entry(answer).or_insert(0) += 1;
            }
        }
        eprintln!("6 bursts of 10 parallel wrong passwords: {counts:?}");
        assert_eq!(counts.get("checked"), Some(&5), "{counts:?}");
        assert_eq!(
            counts.values().sum::<usize>(),
            counts.get("checked").unwrap()
                + counts.get("locked").unwrap_or(&0)
                + counts.get("busy").unwrap_or(&0),
            "{counts:?}"
        );
        // Locked now, even for the right password.
        let right = browser
            .login_request(&server.origin, &page, "alice", PASSWORD)
            .send()
            .await
            .unwrap();
        assert_eq!(outcome(right).await, "locked");
        server.stop().await;
    }
);

server_test!(
    m3_an_attempt_cancelled_before_its_check_ends_counts_as_a_failure,
    |db: TestDatabase| async move {
        // Every attempt waits at least 250 ms before its check; the request timeout (200 ms) cancels
        // each one after it was reserved. Three such attempts lock the account.
        let (server, browser, page) = login_page(
            &db,
            "[login]\ndelay_after = 0\nlock_after = 3\n[http]\nrequest_timeout = \"200ms\"",
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = browser
                .login_request(&server.origin, &page, "alice", PASSWORD)
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [408, 408, 408, 429]);
        server.stop().await;
    }
);

server_test!(
    m5_behind_a_trusted_proxy_each_client_is_counted_and_the_proxy_is_never_locked,
    |db: TestDatabase| async move {
        let (server, browser, page) = login_page(
            &db,
            "[login]\naddress_delay_after = 3\naddress_lock_after = 3\n\
             [http]\ntrusted_proxies = [\"127.0.0.1\"]",
        )
        .await;
        let attempt = |user: String, client: Option<&'static str>, password: &'static str| {
            let mut request = browser.login_request(&server.origin, &page, &user, password);
            if let Some(client) = client {
                request = request.header("x-forwarded-for", client);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        // One client guessing at three accounts locks its own address…
        for i in 0..3 {
            assert_eq!(
                attempt(format!("user{i}"), Some("203.0.113.9"), "x").await,
                401
            );
        }
        assert_eq!(
            attempt("user5".into(), Some("203.0.113.9"), PASSWORD).await,
            429
        );
        // …and nobody else's: another client behind the same proxy signs in.
        assert_eq!(
            attempt("user6".into(), Some("203.0.113.10"), PASSWORD).await,
            200,
            "the consent page"
        );
        // Requests the proxy could not attribute share its address: they slow down, never lock.
        let mut statuses = Vec::new();
        for i in 0..5 {
            statuses.push(attempt(format!("user{i}"), None, "x").await);
        }
        assert_eq!(statuses, [401; 5]);
        assert_eq!(attempt("user7".into(), None, PASSWORD).await, 200);
        server.stop().await;
    }
);
