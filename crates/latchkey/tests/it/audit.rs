//! The audit trail: what a flow records (and what it never records), and the operator's commands to read
//! it and to end a user's grants.
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use latchkey_store::{AuditQuery, AuditRecord, AuditStore, Outcome};
use serde_json::Value;

use crate::browser::{Browser, pkce};
use crate::command::{latchkey, stdout_of};
use crate::harness::{TestClient, TestServer, basic, eventually, form_encode, server_test};

const CALLBACK: &str = "https://app.example/cb";

async fn records(server: &TestServer) -> Vec<AuditRecord> {
    server
        .store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// Waits until the trail holds `count` records (the writer stores them in the background).
async fn records_when(server: &TestServer, count: usize) -> Vec<AuditRecord> {
    eventually("the audit records are stored", || async {
        records(server).await.len() >= count
    })
    .await;
    records(server).await
}

struct App {
    client: TestClient,
    browser: Browser,
}

impl App {
    async fn new(server: &TestServer) -> App {
        let client = server
            .create_app(
                AuthMethod::None,
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                "profile",
                &[CALLBACK],
            )
            .await;
        App {
            client,
            browser: Browser::new(),
        }
    }

    fn authorize_url(&self, server: &TestServer, challenge: &str) -> String {
        server.authorize_url(&[
            ("response_type", "code"),
            ("client_id", self.client.id.as_str()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
    }

    async fn redeem(&self, server: &TestServer, code: &str, verifier: &str) -> reqwest::Response {
        server
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("client_id", &self.client.id),
                ],
                None,
            )
            .await
    }

    /// Signs in (after one wrong password) and approves; returns (code, verifier).
    async fn first_flow(
        &mut self,
        server: &TestServer,
        user: &str,
        password: &str,
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let login = self
            .browser
            .get(&self.authorize_url(server, &challenge))
            .await;
        let again = self
            .browser
            .sign_in(server, &login, user, "a-mistyped-passphrase")
            .await;
        let consent = self.browser.sign_in(server, &again, user, password).await;
        let done = self.browser.decide(server, &consent, "approve").await;
        (done.redirect_params()["code"].clone(), verifier)
    }

    /// With consent remembered: a code at once.
    async fn next_code(&mut self, server: &TestServer) -> (String, String) {
        let (verifier, challenge) = pkce();
        let page = self
            .browser
            .get(&self.authorize_url(server, &challenge))
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        (page.redirect_params()["code"].clone(), verifier)
    }
}

server_test!(
    a_flow_is_audited_without_secrets_and_machine_tokens_write_nothing,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        // The first signing key, created at start.
        let started = records_when(&server, 1).await;
        assert_eq!(started[0].event.as_str(), "key.created");
        assert_eq!(started[0].actor, "server");

        // Machine tokens and their introspection are hot paths: no record.
        let machine = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        for _ in 0..5 {
            let token = server.client_credentials(&machine).await;
            let introspected = server
                .http
                .post(server.url("/introspect"))
                .header("authorization", basic(&machine.id, &machine.secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(&[(
                    "token",
                    token["access_token"].as_str().unwrap(),
                )]))
                .send()
                .await
                .unwrap();
            assert_eq!(introspected.status(), 200);
        }

        let sub = server.create_user("erin", "erin's passphrase").await;
        let mut app = App::new(&server).await;
        let (code, verifier) = app.first_flow(&server, "erin", "erin's passphrase").await;
        let tokens: Value = app
            .redeem(&server, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        // The code again: reuse detection revokes the grant.
        assert_eq!(app.redeem(&server, &code, &verifier).await.status(), 400);
        // A second grant, whose refresh token the app revokes.
        let (code2, verifier2) = app.next_code(&server).await;
        let second: Value = app
            .redeem(&server, &code2, &verifier2)
            .await
            .json()
            .await
            .unwrap();
        let refresh = second["refresh_token"].as_str().unwrap().to_owned();
        let revoked = server
            .http
            .post(server.url("/revoke"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&[
                ("token", refresh.as_str()),
                ("client_id", app.client.id.as_str()),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);

        let all = records_when(&server, 6).await;
        let events: Vec<&str> = all.iter().map(|r| r.event.as_str()).collect();
        assert_eq!(
            events,
            [
                "key.created",
                "sign_in.failed",
                "sign_in.succeeded",
                "consent.granted",
                "grant.revoked",
                "grant.revoked",
            ],
            "{all:#?}"
        );
        let (failed, signed_in, consent, reuse, revocation) =
            (&all[1], &all[2], &all[3], &all[4], &all[5]);
        assert_eq!(failed.outcome, Outcome::Failure);
        assert_eq!(failed.subject.as_deref(), Some(sub.as_str()));
        assert_eq!(failed.actor, "anonymous");
        assert_eq!(failed.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(failed.reason.as_deref(), Some("wrong password"));
        assert_eq!(signed_in.outcome, Outcome::Success);
        assert_eq!(signed_in.actor, format!("user:{sub}"));
        assert_eq!(signed_in.client_id.as_deref(), Some(app.client.id.as_str()));
        assert_eq!(consent.subject.as_deref(), Some(sub.as_str()));
        assert_eq!(consent.reason.as_deref(), Some("scope \"profile\""));
        assert_eq!(reuse.actor, "server");
        assert!(
            reuse
                .reason
                .as_deref()
                .unwrap()
                .contains("authorization code was presented again")
        );
        assert_eq!(reuse.subject.as_deref(), Some(sub.as_str()));
        assert_eq!(revocation.actor, format!("client:{}", app.client.id));
        assert!(
            revocation
                .reason
                .as_deref()
                .unwrap()
                .contains("revocation endpoint")
        );
        // Never a secret, a code or a token.
        let secrets = [
            "erin's passphrase",
            "a-mistyped-passphrase",
            code.as_str(),
            verifier.as_str(),
            tokens["access_token"].as_str().unwrap(),
            tokens["refresh_token"].as_str().unwrap(),
            refresh.as_str(),
            machine.secret.as_str(),
        ];
        for record in &all {
            let text = format!("{record:?}");
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        server.stop().await;
    }
);

server_test!(
    operators_list_and_revoke_a_users_grants_and_read_the_trail,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let sub = server.create_user("frank", "frank's passphrase").await;
        let mut app = App::new(&server).await;
        let (code, verifier) = app.first_flow(&server, "frank", "frank's passphrase").await;
        let tokens: Value = app
            .redeem(&server, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // The server's records of the flow are stored before the operator's follow them.
        records_when(&server, 4).await;

        let listed: Value = serde_json::from_str(&stdout_of(&latchkey(
            &db,
            &["grant", "list", "--user", "frank", "--json"],
        )))
        .unwrap();
        let grants = listed.as_array().unwrap();
        assert_eq!(grants.len(), 1, "{listed}");
        assert_eq!(grants[0]["client_id"], app.client.id.as_str());
        assert_eq!(grants[0]["subject"], sub.as_str());
        assert_eq!(grants[0]["scope"], "profile");
        let id = grants[0]["grant_id"].as_str().unwrap().to_owned();
        // By `sub` too, and the plain table names the grant.
        let plain = stdout_of(&latchkey(&db, &["grant", "list", "--user", &sub]));
        assert!(plain.contains(&id), "{plain}");

        let out = stdout_of(&latchkey(&db, &["grant", "revoke", &id]));
        assert!(out.starts_with(&format!("revoked grant {id}")), "{out}");
        // The refresh token no longer works, and the access token reads inactive on the running server.
        let refreshed = server
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("client_id", &app.client.id),
                ],
                None,
            )
            .await;
        assert_eq!(refreshed.status(), 400);
        let resource_server = server
            .create_app_with(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
                &[],
                latchkey_core::client::ClientPolicy {
                    introspect_any: true,
                    ..Default::default()
                },
            )
            .await;
        eventually("the revoked access token reads inactive", || async {
            let response = server
                .http
                .post(server.url("/introspect"))
                .header(
                    "authorization",
                    basic(&resource_server.id, &resource_server.secret),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(&[("token", access.as_str())]))
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            body["active"] == false
        })
        .await;
        // The consent is forgotten: the app must ask again.
        let (_, challenge) = pkce();
        let page = app
            .browser
            .get(&app.authorize_url(&server, &challenge))
            .await;
        assert_eq!(page.status, 200, "the consent page, not a redirect");
        assert!(page.body.contains("consent"), "{}", page.body);
        let listed = stdout_of(&latchkey(&db, &["grant", "list", "--user", "frank"]));
        assert!(listed.starts_with("no grants"), "{listed}");
        let again = stdout_of(&latchkey(&db, &["grant", "revoke", &id]));
        assert!(again.contains("already revoked"), "{again}");

        // The trail, filtered by user, as JSON lines.
        let trail = stdout_of(&latchkey(
            &db,
            &["audit", "list", "--user", "frank", "--json"],
        ));
        let lines: Vec<Value> = trail
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            [
                "sign_in.failed",
                "sign_in.succeeded",
                "consent.granted",
                "grant.revoked",
                "consent.revoked",
            ],
            "{trail}"
        );
        let revoked = &lines[3];
        assert_eq!(revoked["actor"], "operator");
        assert_eq!(revoked["subject"], sub.as_str());
        assert_eq!(revoked["client_id"], app.client.id.as_str());
        assert_eq!(revoked["outcome"], "success");
        assert!(revoked["time"].as_str().unwrap().ends_with('Z'));
        assert!(revoked["reason"].as_str().unwrap().contains(&id));
        for member in [
            "time",
            "event",
            "actor",
            "client_id",
            "subject",
            "address",
            "outcome",
            "reason",
        ] {
            assert!(revoked.get(member).is_some(), "{member} missing: {revoked}");
        }
        // Operators' CLI actions are recorded too, and filters combine.
        let created = stdout_of(&latchkey(
            &db,
            &["client", "create", "--name", "Audited", "--json"],
        ));
        let client_id = serde_json::from_str::<Value>(&created).unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let by_client = stdout_of(&latchkey(
            &db,
            &[
                "audit", "list", "--client", &client_id, "--since", "1h", "--json",
            ],
        ));
        let only: Value = serde_json::from_str(by_client.trim()).unwrap();
        assert_eq!(only["event"], "client.created");
        assert_eq!(only["actor"], "operator");
        let none = stdout_of(&latchkey(
            &db,
            &[
                "audit",
                "list",
                "--client",
                &client_id,
                "--since",
                "2000-01-01T00:00:00Z",
            ],
        ));
        assert!(none.contains("client.created"), "{none}");
        let future = stdout_of(&latchkey(
            &db,
            &["audit", "list", "--since", "2999-01-01T00:00:00Z"],
        ));
        assert_eq!(future.trim(), "no audit records");

        // Clear one-line refusals.
        let unknown = latchkey(&db, &["grant", "revoke", "no-such-grant"]);
        assert!(!unknown.status.success());
        assert_eq!(
            String::from_utf8_lossy(&unknown.stderr).trim(),
            "error: grant `no-such-grant` does not exist"
        );
        let nobody = latchkey(&db, &["grant", "list", "--user", "nobody"]);
        assert_eq!(
            String::from_utf8_lossy(&nobody.stderr).trim(),
            "error: user `nobody` does not exist"
        );
        // An id that starts like an option (a `sub` made by an older build) is still a value.
        let dashed = latchkey(&db, &["grant", "revoke", "-R7xq"]);
        assert_eq!(
            String::from_utf8_lossy(&dashed.stderr).trim(),
            "error: grant `-R7xq` does not exist"
        );
        let dashed = latchkey(&db, &["grant", "list", "--user", "-R7xq"]);
        assert_eq!(
            String::from_utf8_lossy(&dashed.stderr).trim(),
            "error: user `-R7xq` does not exist"
        );
        let dashed = latchkey(&db, &["audit", "list", "--user", "-R7xq", "--client", "-c"]);
        assert!(
            dashed.status.success(),
            "{}",
            String::from_utf8_lossy(&dashed.stderr)
        );
        let bad_since = latchkey(&db, &["audit", "list", "--since", "soon"]);
        assert!(
            String::from_utf8_lossy(&bad_since.stderr)
                .starts_with("error: --since: `soon` is neither"),
        );
        server.stop().await;
    }
);
