//! The token endpoint with `grant_type=client_credentials`: client authentication by both secret
//! methods, every refusal, and RFC 9068 access tokens that verify against the published JWKS.
use latchkey_core::types::{AuthMethod, GrantType};
use latchkey_store::testing::TestDatabase;
use serde_json::Value;

use crate::harness::{TestServer, basic, header_of, server_test, verify};

/// Asserts an RFC 6749 §5.2 error response and returns its body.
async fn assert_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    body
}

server_test!(
    client_secret_basic_gets_a_jwt_that_verifies_against_the_jwks,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "read write",
            )
            .await;
        let response = server
            .token_request(
                &[("grant_type", "client_credentials"), ("scope", "read")],
                Some(basic(&client.id, &client.secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "read");
        assert!(body.get("refresh_token").is_none());
        let token = body["access_token"].as_str().unwrap();
        let (header, claims) = verify(token, &server.jwks().await);
        // RFC 9068 §2.1 and §2.2.
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(claims["iss"], server.issuer);
        assert_eq!(claims["sub"], client.id);
        assert_eq!(claims["client_id"], client.id);
        assert_eq!(claims["aud"], server.issuer);
        assert_eq!(claims["scope"], "read");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, 600);
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        server.stop().await;
    }
);

server_test!(
    client_secret_post_gets_a_token_and_omitted_scope_means_all_allowed,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretPost,
                &[GrantType::ClientCredentials],
                "b a",
            )
            .await;
        let response = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client.id),
                    ("client_secret", &client.secret),
                ],
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "a b");
        let (_, claims) = verify(body["access_token"].as_str().unwrap(), &server.jwks().await);
        assert_eq!(claims["scope"], "a b");
        server.stop().await;
    }
);

server_test!(
    basic_credentials_are_form_decoded,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "",
            )
            .await;
        // A client_id with characters that RFC 6749 §2.3.1 form-encodes: `basic` encodes them, and the
        // server must decode them to find the client.
        let secret = latchkey_core::secret::ClientSecret::generate();
        let odd = latchkey_core::client::Client {
            client_id: latchkey_core::types::ClientId::parse("svc:a b+c").unwrap(),
            name: "odd".into(),
            auth: latchkey_core::client::ClientAuth::Secret {
                method: AuthMethod::ClientSecretBasic,
                hash: secret.hash(),
            },
            grant_types: [GrantType::ClientCredentials].into(),
            scope: Default::default(),
            redirect_uris: vec![],
            created_at: latchkey_core::types::Timestamp(0),
            policy: latchkey_core::client::ClientPolicy::default(),
        };
        latchkey_store::ClientStore::insert_client(&server.store, &odd)
            .await
            .unwrap();
        let response = server
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic("svc:a b+c", secret.expose())),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(
            body.get("scope").is_none(),
            "empty scope is omitted: {body}"
        );
        drop(client);
        server.stop().await;
    }
);

server_test!(
    every_client_authentication_failure_is_an_rfc_6749_error,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "read",
            )
            .await;
        let post_client = server
            .create_client(
                AuthMethod::ClientSecretPost,
                &[GrantType::ClientCredentials],
                "read",
            )
            .await;
        let grant = ("grant_type", "client_credentials");

        // Wrong secret by Basic: 401 with a WWW-Authenticate challenge for Basic.
        let response = server
            .token_request(&[grant], Some(basic(&client.id, "wrong")))
            .await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"latchkey\""
        );
        assert_error(response, 401, "invalid_client").await;

        // Unknown client: the same answer as a wrong secret.
        let response = server
            .token_request(&[grant], Some(basic("nobody", &client.secret)))
            .await;
        let body = assert_error(response, 401, "invalid_client").await;
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap()
                .contains("nobody")
        );

        // No credentials at all.
        assert_error(
            server.token_request(&[grant], None).await,
            401,
            "invalid_client",
        )
        .await;

        // client_id without a secret.
        let response = server
            .token_request(&[grant, ("client_id", &client.id)], None)
            .await;
        assert_error(response, 401, "invalid_client").await;

        // Two methods in one request (RFC 6749 §2.3).
        let response = server
            .token_request(
                &[grant, ("client_secret", &client.secret)],
                Some(basic(&client.id, &client.secret)),
            )
            .await;
        assert_error(response, 400, "invalid_request").await;

        // A method other than the registered one.
        let response = server
            .token_request(
                &[
                    grant,
                    ("client_id", &client.id),
                    ("client_secret", &client.secret),
                ],
                None,
            )
            .await;
        assert_error(response, 401, "invalid_client").await;

        // A wrong secret in the body: 401 without a challenge, since nothing came by the header.
        let response = server
            .token_request(
                &[
                    grant,
                    ("client_id", &post_client.id),
                    ("client_secret", "wrong"),
                ],
                None,
            )
            .await;
        assert!(response.headers().get("www-authenticate").is_none());
        assert_error(response, 401, "invalid_client").await;
        let response = server
            .token_request(&[grant], Some(basic(&post_client.id, &post_client.secret)))
            .await;
        assert_error(response, 401, "invalid_client").await;

        // Malformed Authorization headers.
        for header in ["Basic !!!", "Bearer abc", "Basic", "Basic Og=="] {
            let response = server
                .token_request(&[grant], Some(header.to_owned()))
                .await;
            assert_error(response, 401, "invalid_client").await;
        }
        server.stop().await;
    }
);

server_test!(
    malformed_requests_are_refused_with_the_right_error,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(
                AuthMethod::ClientSecretBasic,
                &[GrantType::ClientCredentials],
                "read",
            )
            .await;
        let auth = || Some(basic(&client.id, &client.secret));

        // Repeated parameter (RFC 6749 §3.2).
        let response = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "read"),
                    ("scope", "read"),
                ],
                auth(),
            )
            .await;
        assert_error(response, 400, "invalid_request").await;
        // Missing grant_type.
        assert_error(
            server.token_request(&[("scope", "read")], auth()).await,
            400,
            "invalid_request",
        )
        .await;
        // Unknown grant type.
        let response = server
            .token_request(&[("grant_type", "password")], auth())
            .await;
        assert_error(response, 400, "unsupported_grant_type").await;
        // Scope outside the client's allowed set.
        let response = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "read admin"),
                ],
                auth(),
            )
            .await;
        let body = assert_error(response, 400, "invalid_scope").await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("admin")
        );
        // A resource indicator, which this server does not accept yet.
        let response = server
            .token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", "https://api.example.com"),
                ],
                auth(),
            )
            .await;
        assert_error(response, 400, "invalid_target").await;
        // A body that is not form-encoded.
        let response = server
            .http
            .post(server.url("/token"))
            .header("authorization", auth().unwrap())
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_error(response, 400, "invalid_request").await;
        server.stop().await;
    }
);

server_test!(
    a_client_without_the_grant_is_unauthorized,
    |db: TestDatabase| async move {
        let server = TestServer::start(&db).await;
        let client = server
            .create_client(AuthMethod::ClientSecretBasic, &[], "read")
            .await;
        let response = server
            .token_request(
                &[("grant_type", "client_credentials")],
                Some(basic(&client.id, &client.secret)),
            )
            .await;
        assert_error(response, 400, "unauthorized_client").await;
        server.stop().await;
    }
);

/// `PRAGMA data_version` changes, for an observing connection, whenever any other connection commits: an
/// exact witness that the token endpoint wrote nothing. The handler is the same for both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuing_a_client_credentials_token_writes_nothing() {
    use sqlx::Connection;
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db).await;
    let client = server
        .create_client(
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            "",
        )
        .await;
    let mut observer = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    let version = || "PRAGMA data_version";
    let before: i64 = sqlx::query_scalar(version())
        .fetch_one(&mut observer)
        .await
        .unwrap();
    for _ in 0..5 {
        let body = server.client_credentials(&client).await;
        assert_eq!(
            header_of(body["access_token"].as_str().unwrap())["typ"],
            "at+jwt"
        );
    }
    let after: i64 = sqlx::query_scalar(version())
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_eq!(before, after, "the token endpoint committed a write");
    // The witness works: a write by the server's pool is seen.
    server
        .create_client(
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            "",
        )
        .await;
    let written: i64 = sqlx::query_scalar(version())
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_ne!(after, written);
    observer.close().await.unwrap();
    server.stop().await;
}
