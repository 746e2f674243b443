//! `/metrics`: its own listener, off the public one, and counters that move by exactly what a flow did.
use std::collections::BTreeMap;

use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::browser::{Browser, pkce};
use crate::harness::{TestServer, basic, form_encode, server_test};

/// Every sample of the exposition by series (name with labels), skipping comments.
async fn scrape(server: &TestServer) -> BTreeMap<String, f64> {
    let origin = server.metrics_origin.as_ref().expect("metrics are on");
    let response = server
        .http
        .get(format!("{origin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// How much each series moved between two scrapes (series that appeared count from zero).
fn moved(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

server_test!(
    metrics_count_a_flow_exactly_on_their_own_listener,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[metrics]\nlisten = \"127.0.0.1:0\"")
            .toml("[resources.\"https://opaque.example/\"]\nformat = \"opaque\"")
            .start(&db)
            .await;
        let before = scrape(&server).await;
        // The public listener does not serve them.
        let public = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(public.status(), 404);
        let machine = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        let jwt = server.client_credentials(&machine).await;
        server.client_credentials(&machine).await;
        let opaque = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "https://opaque.example/"),
                ],
                Some(basic(&machine.id, &machine.secret)),
            )
            .await;
        assert_eq!(opaque.status(), 200);
        let wrong = server
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(&machine.id, "not the secret")),
            )
            .await;
        assert_eq!(wrong.status(), 401);
        let introspect = |token: String| {
            let server = &server;
            let machine = &machine;
            async move {
                let response = server
                    .http
                    .post(server.url("/introspect"))
                    .header("authorization", basic(&machine.id, &machine.secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_encode(&[("token", &token)]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        };
        let access = jwt["access_token"].as_str().unwrap().to_owned();
        introspect(access.clone()).await;
        introspect(access.clone()).await;
        introspect("not-a-token".to_owned()).await;
        let revoke = server
            .http
            .post(server.url("/revoke"))
            .header("authorization", basic(&machine.id, &machine.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&[("token", &access)]))
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), 200);

        // A person signs in (after one wrong password), approves, and the app redeems the code.
        let app = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                "profile",
                &["https://app.example/cb"],
            )
            .await;
        server.create_user("dana", "dana's passphrase").await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let url = server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let login = browser.get(&url).await;
        let again = browser.sign_in(&server, &login, "dana", "wrong").await;
        assert!(again.body.contains("<form"), "{}", again.body);
        let consent = browser
            .sign_in(&server, &again, "dana", "dana's passphrase")
            .await;
        let done = browser.decide(&server, &consent, "approve").await;
        let code = done.redirect_params()["code"].clone();
        let redeemed = server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", &verifier),
                    ("client_id", &app.id),
                ],
                None,
            )
            .await;
        assert_eq!(redeemed.status(), 200);
        let _: Value = redeemed.json().await.unwrap();

        let after = scrape(&server).await;
        let expect = [
            (
                "latchkey_tokens_issued_total{grant_type=\"client_credentials\",format=\"jwt\"}",
                2.0,
            ),
            (
                "latchkey_tokens_issued_total{grant_type=\"client_credentials\",format=\"opaque\"}",
                1.0,
            ),
            (
                "latchkey_tokens_issued_total{grant_type=\"authorization_code\",format=\"jwt\"}",
                1.0,
            ),
            (
                "latchkey_client_authentication_failures_total{method=\"client_secret_basic\"}",
                1.0,
            ),
            ("latchkey_introspections_total{result=\"active\"}", 2.0),
            ("latchkey_introspections_total{result=\"inactive\"}", 1.0),
            (
                "latchkey_revocations_total{token_type=\"access_token\"}",
                1.0,
            ),
            ("latchkey_logins_total{result=\"success\"}", 1.0),
            ("latchkey_logins_total{result=\"failure\"}", 1.0),
            // Two introspections and a revocation of one JWT: its signature is checked once.
            (
                "latchkey_cache_lookups_total{cache=\"verified_jwts\",result=\"miss\"}",
                1.0,
            ),
            (
                "latchkey_cache_lookups_total{cache=\"verified_jwts\",result=\"hit\"}",
                2.0,
            ),
            (
                "latchkey_http_request_duration_seconds_count{route=\"/token\",status=\"2xx\"}",
                4.0,
            ),
            (
                "latchkey_http_request_duration_seconds_count{route=\"/token\",status=\"4xx\"}",
                1.0,
            ),
            (
                "latchkey_http_request_duration_seconds_count{route=\"/introspect\",status=\"2xx\"}",
                3.0,
            ),
            (
                "latchkey_http_request_duration_seconds_count{route=\"/authorize\",status=\"2xx\"}",
                1.0,
            ),
            (
                "latchkey_http_request_duration_seconds_count{route=\"unmatched\",status=\"4xx\"}",
                1.0,
            ),
        ];
        for (series, by) in expect {
            assert_eq!(moved(&before, &after, series), by, "{series}");
        }
        assert!(after["latchkey_signing_key_age_seconds"] >= 0.0);
        assert!(after["latchkey_db_connections_max"] >= 1.0);
        // Bounded labels: no client id, user name or token anywhere in the exposition.
        for (series, _) in after.iter() {
            for secret in [
                machine.id.as_str(),
                app.id.as_str(),
                "dana",
                access.as_str(),
            ] {
                assert!(!series.contains(secret), "{series}");
            }
        }
        server.stop().await;
    }
);

server_test!(
    metrics_can_be_served_on_the_public_listener_when_the_operator_says_so,
    |db: TestDatabase| async move {
        let server = TestServer::builder()
            .toml("[metrics]\npublic = true")
            .start(&db)
            .await;
        let response = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("# TYPE latchkey_signing_key_age_seconds gauge"));
        server.stop().await;
    }
);
