//! Issue 15: exactly-once under races, with the requests spread over two `latchkey serve` processes on
//! one PostgreSQL database, and the same tests against one process on SQLite (concurrent requests
//! instead of instances). Single use is the database's job; these tests show no instance can get around
//! it.
use std::collections::BTreeMap;

use latchkey_core::keys::{KeyAlg, SigningKey};
use serde_json::{Value, json};

use crate::assertions::{assertion, claims};
use crate::browser::Browser;
use crate::fleet::{Fleet, json};
use crate::instances::{App, PASSWORD, active, authorize_path, redeem, refresh, sign_in, within};

/// How many concurrent requests each race sends.
const RACERS: usize = 50;

/// Configuration of the race fleets: open registration for the assertion race; five failed logins
/// lock an account, without delays that would only slow the test.
const TOML: &str = "[registration]\npolicy = \"open\"\nallow_client_credentials = true\n\
    [login]\ndelay_after = 5\nlock_after = 5";

/// Runs `$body(fleet)` on two processes over one fresh PostgreSQL database, and on one process over a
/// fresh SQLite file.
macro_rules! race_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_two_instances() {
                let Some(db) = latchkey_store::testing::TestDatabase::postgres().await else {
                    return;
                };
                let fleet = Fleet::start(db.url(), 2, TOML).await;
                ($body)(fleet).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_one_instance() {
                let db = latchkey_store::testing::TestDatabase::sqlite();
                let fleet = Fleet::start(db.url(), 1, TOML).await;
                ($body)(fleet).await;
            }
        }
    };
}

/// Statuses and `error` codes of the answers, counted: `{"200": 1, "400 invalid_grant": 49}`.
fn tally(answers: &[(u16, Value)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (status, body) in answers {
        let key = match body["error"].as_str() {
            Some(error) => format!("{status} {error}"),
            None => status.to_string(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Sends `RACERS` copies of one request at once, request `i` to instance `i`, and collects the answers.
async fn race<F, Fut>(fleet: &Fleet, send: F) -> Vec<(u16, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(u16, Value), reqwest::Error>>,
{
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..RACERS).map(send)).await;
    eprintln!(
        "{RACERS} concurrent requests over {} instance(s) answered in {:?}",
        fleet.instances.len(),
        started.elapsed()
    );
    answers.into_iter().map(Result::unwrap).collect()
}

/// At most one success, never two; every other answer `invalid_grant`; nothing 5xx.
fn at_most_one_success(answers: &[(u16, Value)]) -> Option<Value> {
    let counts = tally(answers);
    eprintln!("answers: {counts:?}");
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert!(winners.len() <= 1, "{counts:?}");
    assert_eq!(
        counts.get("400 invalid_grant").copied().unwrap_or(0),
        RACERS - winners.len(),
        "{counts:?}"
    );
    winners.first().map(|w| (*w).clone())
}

race_test!(
    issue_15_fifty_concurrent_redemptions_of_one_code_give_at_most_one_token,
    |fleet: Fleet| async move {
        let app = App::setup(&fleet).await;
        let mut browser = Browser::new();
        let (code, verifier) = sign_in(&fleet, &mut browser, 0, 0, &app.public.id).await;
        let answers = race(&fleet, |i| {
            let (fleet, code, verifier, id) = (&fleet, &code, &verifier, &app.public.id);
            async move { redeem(fleet, i, id, code, verifier).await }
        })
        .await;
        if let Some(winner) = at_most_one_success(&answers) {
            // The reuse revoked what the winner got.
            let access = winner["access_token"].as_str().unwrap().to_owned();
            for i in 0..fleet.instances.len() {
                within(
                    "the winner's access token revoked",
                    std::time::Duration::from_secs(2),
                    || {
                        let (fleet, app, access) = (&fleet, &app, access.clone());
                        async move { !active(fleet, i, app, &access).await }
                    },
                )
                .await;
            }
            let refresh_token = winner["refresh_token"].as_str().unwrap();
            let (status, body) = refresh(&fleet, 0, &app.public.id, refresh_token)
                .await
                .unwrap();
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        fleet.stop().await;
    }
);

race_test!(
    issue_15_fifty_concurrent_uses_of_one_refresh_token_give_at_most_one_and_revoke_the_family,
    |fleet: Fleet| async move {
        let app = App::setup(&fleet).await;
        let mut browser = Browser::new();
        let (code, verifier) = sign_in(&fleet, &mut browser, 0, 0, &app.public.id).await;
        let (status, first) = redeem(&fleet, 0, &app.public.id, &code, &verifier)
            .await
            .unwrap();
        assert_eq!(status, 200, "{first}");
        let refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
        let answers = race(&fleet, |i| {
            let (fleet, id, token) = (&fleet, &app.public.id, &refresh_token);
            async move { refresh(fleet, i, id, token).await }
        })
        .await;
        let winner = at_most_one_success(&answers);
        // The whole family is revoked: the first access token, and whatever the winner got.
        let mut access = vec![first["access_token"].as_str().unwrap().to_owned()];
        if let Some(winner) = &winner {
            access.push(winner["access_token"].as_str().unwrap().to_owned());
            let (status, _) = refresh(
                &fleet,
                0,
                &app.public.id,
                winner["refresh_token"].as_str().unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(
                status, 400,
                "the winner's refresh token died with its family"
            );
        }
        for token in access {
            for i in 0..fleet.instances.len() {
                within(
                    "the family's access tokens revoked",
                    std::time::Duration::from_secs(2),
                    || {
                        let (fleet, app, token) = (&fleet, &app, token.clone());
                        async move { !active(fleet, i, app, &token).await }
                    },
                )
                .await;
            }
        }
        fleet.stop().await;
    }
);

race_test!(
    issue_15_fifty_concurrent_assertions_with_one_jti_give_exactly_one_token,
    |fleet: Fleet| async move {
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let (status, registered) = json(
            fleet
                .post_json(
                    0,
                    "/register",
                    &json!({
                        "grant_types": ["client_credentials"],
                        "token_endpoint_auth_method": "private_key_jwt",
                        "jwks": {"keys": [key.public_jwk()]},
                    }),
                )
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201, "{registered}");
        let id = registered["client_id"].as_str().unwrap();
        let now = latchkey_server::clock::Clock::system().now().0;
        let jwt = assertion(&key, "ES256", claims(id, "http://127.0.0.1:9", now));
        let answers = race(&fleet, |i| {
            let (fleet, jwt) = (&fleet, &jwt);
            async move {
                let form = [
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", jwt.as_str()),
                ];
                Ok(json(fleet.post_form(i, "/token", &form, None).await?).await)
            }
        })
        .await;
        let counts = tally(&answers);
        eprintln!("answers: {counts:?}");
        assert_eq!(counts.get("200"), Some(&1), "{counts:?}");
        assert_eq!(
            counts.get("401 invalid_client"),
            Some(&(RACERS - 1)),
            "{counts:?}"
        );
        fleet.stop().await;
    }
);

race_test!(
    issue_15_bursts_of_wrong_passwords_over_every_instance_are_limited_as_if_on_one,
    |fleet: Fleet| async move {
        let app = App::setup(&fleet).await;
        let mut browser = Browser::new();
        let (path, _) = authorize_path(&app.public.id);
        let page = browser.get(&fleet.at(0).url(&path)).await;
        assert_eq!(page.status, 200);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        // Five bursts of ten, each request to the next instance.
        for burst in 0..5 {
            let requests = (0..10).map(|i| {
                let request = browser.login_request(
                    &fleet.at(i).origin,
                    &page,
                    "alice",
                    &format!("guess {burst}.{i}"),
                );
                async move {
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap();
                    match status {
                        401 => "checked".to_owned(),
                        429 if body.contains("Too many failed") => "locked".to_owned(),
                        429 => "busy".to_owned(),
                        other => other.to_string(),
                    }
                }
            });
            for answer in futures_util::future::join_all(requests).await {
                *counts.entry(answer).or_insert(0) += 1;
            }
        }
        eprintln!(
            "50 wrong passwords in bursts over {} instance(s): {counts:?}",
            fleet.instances.len()
        );
        assert_eq!(
            counts.get("checked"),
            Some(&5),
            "lock_after in all: {counts:?}"
        );
        assert_eq!(
            counts.get("locked").unwrap_or(&0) + counts.get("busy").unwrap_or(&0),
            45,
            "{counts:?}"
        );
        // Locked at every instance, even for the right password.
        for i in 0..fleet.instances.len() {
            let response = browser
                .login_request(&fleet.at(i).origin, &page, "alice", PASSWORD)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 429);
        }
        fleet.stop().await;
    }
);
