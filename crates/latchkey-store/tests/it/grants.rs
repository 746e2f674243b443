//! `GrantStore` behaviour: single use decided by the database, reuse reported, revocation.
use latchkey_core::authorize::AuthorizationRequest;
use latchkey_core::client::ClientAuth;
use latchkey_core::grant::authorization_code::{IssuedCode, issue_code};
use latchkey_core::params::Params;
use latchkey_core::secret::{ClientSecret, SecretHash};
use latchkey_core::token::TokenPolicy;
use latchkey_core::types::{GrantType, Issuer, Timestamp};
use latchkey_store::{ClientStore, GrantStore, Store, TokenStore, UserStore};

use crate::store_test;

pub(crate) fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: Issuer::parse("https://as.example").unwrap(),
        access_token_ttl: 600,
        default_audience: "https://as.example".into(),
        code_ttl: 60,
        refresh_token_idle_ttl: 3600,
        refresh_token_absolute_ttl: 86_400,
    }
}

fn target(code: &IssuedCode) -> latchkey_core::resource::Target {
    latchkey_core::resource::Target {
        audience: "https://as.example".into(),
        resource: None,
        scope: code.grant.scope.clone(),
        format: latchkey_core::client::TokenFormat::Jwt,
        ttl: 600,
    }
}

pub(crate) async fn setup(store: &Store) -> IssuedCode {
    setup_named(store, "app").await
}

/// A user and a client both named `name`, and a code of theirs.
pub(crate) async fn setup_named(store: &Store, name: &str) -> IssuedCode {
    let user = crate::users::sample_user(if name == "app" { "alice" } else { name });
    store.insert_user(&user).await.unwrap();
    let mut client = crate::clients::sample_client(name, &ClientSecret::generate());
    client.auth = ClientAuth::Public;
    client.grant_types = [GrantType::AuthorizationCode, GrantType::RefreshToken].into();
    store.insert_client(&client).await.unwrap();
    let params = Params::parse_urlencoded(
        format!("client_id={name}&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fapi.example%2F").as_bytes(),
    )
    .unwrap();
    let request = AuthorizationRequest::parse(&params, Some(client)).unwrap();
    let code = issue_code(
        &request,
        &user.user_id,
        Timestamp(5),
        None,
        &policy(),
        Timestamp(10),
    );
    store.insert_code(&code.grant, &code.record).await.unwrap();
    code
}

store_test!(
    a_code_is_found_before_it_is_spent_and_consumed_once,
    |store: Store| async move {
        let code = setup(&store).await;
        let found = store.find_code(&code.record.hash).await.unwrap().unwrap();
        assert!(!found.used);
        assert_eq!(found.record.client_id.as_str(), "app");
        assert_eq!(found.record.redirect_uri, "https://app.example.com/cb");
        assert!(!found.record.redirect_uri_sent);
        assert_eq!(found.record.code_challenge, code.record.code_challenge);
        assert_eq!(found.record.expires_at, Timestamp(70));
        assert_eq!(found.grant.grant_id, code.grant.grant_id);
        assert_eq!(
            found.grant.resource.unwrap().as_str(),
            "https://api.example/"
        );
        assert_eq!(found.grant.auth_time, Timestamp(5));
        // L2: looking spends nothing.
        assert!(
            !store
                .find_code(&code.record.hash)
                .await
                .unwrap()
                .unwrap()
                .used
        );
        assert!(
            store
                .consume_code(&code.record.hash, Timestamp(20))
                .await
                .unwrap()
        );
        assert!(
            !store
                .consume_code(&code.record.hash, Timestamp(21))
                .await
                .unwrap()
        );
        assert!(
            store
                .find_code(&code.record.hash)
                .await
                .unwrap()
                .unwrap()
                .used
        );
        assert!(
            store
                .find_code(&SecretHash::of(b"nope"))
                .await
                .unwrap()
                .is_none()
        );
    }
);

store_test!(
    concurrent_redemptions_let_exactly_one_through,
    |store: Store| async move {
        let code = setup(&store).await;
        let attempts = (0..8).map(|_| {
            let (store, hash) = (store.clone(), code.record.hash.clone());
            tokio::spawn(async move { store.consume_code(&hash, Timestamp(20)).await.unwrap() })
        });
        let mut fresh = 0;
        for attempt in attempts {
            if attempt.await.unwrap() {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1);
    }
);

store_test!(
    refresh_tokens_rotate_once_and_revocation_shows_on_the_grant,
    |store: Store| async move {
        let code = setup(&store).await;
        let client = store
            .find_client(&code.grant.client_id)
            .await
            .unwrap()
            .unwrap();
        let tokens = policy().issue_for_grant(&client, &code.grant, &target(&code), Timestamp(30));
        let refresh = tokens.refresh.unwrap();
        store.insert_refresh_token(&refresh.record).await.unwrap();
        assert!(
            store
                .use_refresh_token(&refresh.record.hash, Timestamp(40))
                .await
                .unwrap()
        );
        assert!(
            !store
                .use_refresh_token(&refresh.record.hash, Timestamp(41))
                .await
                .unwrap()
        );
        store
            .revoke_grant(&code.grant.grant_id, Timestamp(42))
            .await
            .unwrap();
        store
            .revoke_grant(&code.grant.grant_id, Timestamp(50))
            .await
            .unwrap();
        let next = policy().issue_for_grant(&client, &code.grant, &target(&code), Timestamp(43));
        let next = next.refresh.unwrap();
        store.insert_refresh_token(&next.record).await.unwrap();
        let found = store
            .find_refresh_token(&next.record.hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found.grant.revoked_at,
            Some(Timestamp(42)),
            "first revocation wins"
        );
    }
);

store_test!(
    l3_issuance_and_grant_revocation_never_interleave_so_a_token_escapes,
    |store: Store| async move {
        // Each round races one issuance against one revocation of the same grant. Whichever wins,
        // the new token is either refused (nothing recorded) or on the deny-list afterwards.
        for round in 0..12 {
            let code = setup_named(&store, &format!("racer{round}")).await;
            let jti = format!("raced-{round}");
            let issue = {
                let (store, grant, jti) = (store.clone(), code.grant.grant_id.clone(), jti.clone());
                tokio::spawn(async move {
                    store
                        .record_issued(&jti, &grant, Timestamp(10_000), None)
                        .await
                        .unwrap()
                })
            };
            let revoke = {
                let (store, grant) = (store.clone(), code.grant.grant_id.clone());
                tokio::spawn(
                    async move { store.revoke_grant(&grant, Timestamp(50)).await.unwrap() },
                )
            };
            let recorded = issue.await.unwrap();
            revoke.await.unwrap();
            if recorded {
                assert!(store.is_revoked(&jti).await.unwrap(), "round {round}");
            }
        }
        // After a revocation, nothing more is recorded for the grant.
        let code = setup_named(&store, "late").await;
        store
            .revoke_grant(&code.grant.grant_id, Timestamp(50))
            .await
            .unwrap();
        assert!(
            !store
                .record_issued("late", &code.grant.grant_id, Timestamp(10_000), None)
                .await
                .unwrap()
        );
    }
);

store_test!(
    a_users_live_grants_are_listed_and_found_until_revoked_or_expired,
    |store: Store| async move {
        let code = setup(&store).await;
        let user = code.grant.user_id.clone();
        let listed = store.list_grants(&user, Timestamp(20)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].grant_id, code.grant.grant_id);
        assert_eq!(listed[0].client_id, code.grant.client_id);
        assert_eq!(listed[0].scope, code.grant.scope);
        assert_eq!(listed[0].resource, code.grant.resource);
        let found = store
            .find_grant(&code.grant.grant_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.expires_at, code.grant.expires_at);
        assert!(
            store
                .list_grants("nobody", Timestamp(20))
                .await
                .unwrap()
                .is_empty()
        );
        // Past its absolute lifetime it is no longer listed, but still found.
        assert!(
            store
                .list_grants(&user, code.grant.expires_at)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .revoke_grant(&code.grant.grant_id, Timestamp(30))
            .await
            .unwrap();
        assert!(
            store
                .list_grants(&user, Timestamp(31))
                .await
                .unwrap()
                .is_empty()
        );
        let revoked = store
            .find_grant(&code.grant.grant_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(Timestamp(30)));
        let unknown = latchkey_core::grant::GrantId::from_stored("nope".into());
        assert!(store.find_grant(&unknown).await.unwrap().is_none());
    }
);

store_test!(
    openid_grants_keep_their_session_claims_and_nonce,
    |store: Store| async move {
        use latchkey_core::oidc::claims::ClaimsRequest;
        use latchkey_store::TokenStore;
        let user = crate::users::sample_user("maria");
        store.insert_user(&user).await.unwrap();
        let mut client = crate::clients::sample_client("rp", &ClientSecret::generate());
        client.grant_types = [GrantType::AuthorizationCode].into();
        client.scope = latchkey_core::types::Scope::parse("openid email").unwrap();
        store.insert_client(&client).await.unwrap();
        let params = Params::parse_urlencoded(
            b"client_id=rp&response_type=code&scope=openid+email&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&nonce=n-0S6&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&claims=%7B%22id_token%22%3A%7B%22email%22%3A%7B%22essential%22%3Atrue%7D%7D%7D",
        )
        .unwrap();
        let request = AuthorizationRequest::parse_with(&params, Some(client), true).unwrap();
        let code = issue_code(
            &request,
            &user.user_id,
            Timestamp(5),
            Some("sid-1"),
            &policy(),
            Timestamp(10),
        );
        store.insert_code(&code.grant, &code.record).await.unwrap();
        let found = store.find_code(&code.record.hash).await.unwrap().unwrap();
        assert!(
            store
                .consume_code(&code.record.hash, Timestamp(11))
                .await
                .unwrap(),
            "the code was fresh"
        );
        let (record, grant) = (found.record, found.grant);
        assert_eq!(record.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(grant.sid.as_deref(), Some("sid-1"));
        let claims: ClaimsRequest = grant.claims.clone().unwrap();
        assert!(claims.id_token["email"].essential);
        assert!(grant.is_openid());

        // The access tokens issued from the grant lead back to it (UserInfo finds the user so).
        store
            .record_issued("jti-1", &grant.grant_id, Timestamp(700), None)
            .await
            .unwrap();
        let found = store.find_grant_of_token("jti-1").await.unwrap().unwrap();
        assert_eq!(found.grant_id, grant.grant_id);
        assert_eq!(found.user_id, user.user_id);
        assert!(
            store
                .find_grant_of_token("jti-unknown")
                .await
                .unwrap()
                .is_none()
        );

        // Logout may end what this client was granted in the session, and nothing else.
        assert_eq!(
            store
                .revoke_session_grants("sid-other", &grant.client_id, Timestamp(12))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .revoke_session_grants("sid-1", &grant.client_id, Timestamp(12))
                .await
                .unwrap(),
            1
        );
        assert!(
            store.is_revoked("jti-1").await.unwrap(),
            "its access token too"
        );
        let found = store.find_grant_of_token("jti-1").await.unwrap().unwrap();
        assert_eq!(found.revoked_at, Some(Timestamp(12)));
        // A plain OAuth grant has no claims request.
        let plain = setup_plain(&store, &user.user_id).await;
        assert!(!plain.grant.is_openid());
        assert!(plain.record.nonce.is_none());
    }
);

async fn setup_plain(store: &Store, user_id: &str) -> IssuedCode {
    let mut client = crate::clients::sample_client("plain", &ClientSecret::generate());
    client.grant_types = [GrantType::AuthorizationCode].into();
    store.insert_client(&client).await.unwrap();
    let params = Params::parse_urlencoded(
        b"client_id=plain&response_type=code&scope=read&nonce=ignored&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
    )
    .unwrap();
    let request = AuthorizationRequest::parse_with(&params, Some(client), true).unwrap();
    let code = issue_code(
        &request,
        user_id,
        Timestamp(5),
        None,
        &policy(),
        Timestamp(10),
    );
    store.insert_code(&code.grant, &code.record).await.unwrap();
    code
}

/// L3's hold on PostgreSQL is a share lock, not a write: recording a token leaves the grant's row
/// version as it was (an `UPDATE` would write a new one, and make tokens of one grant issued at once
/// queue behind each other), and a revoked grant still refuses the token.
#[tokio::test]
async fn postgres_holds_the_grant_with_a_share_lock_not_a_write() {
    use sqlx::Connection;
    let Some(db) = latchkey_store::testing::TestDatabase::postgres().await else {
        return;
    };
    let store = crate::open(&db).await;
    let code = setup(&store).await;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let grant_id = code.grant.grant_id.as_str().to_owned();
    let mut version = async || -> String {
        sqlx::query_scalar("SELECT xmin::text FROM grants WHERE grant_id = $1")
            .bind(&grant_id)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let before = version().await;
    assert!(
        store
            .record_issued("jti-1", &code.grant.grant_id, Timestamp(700), None)
            .await
            .unwrap()
    );
    assert_eq!(version().await, before, "the hold wrote the grant's row");
    store
        .revoke_grant(&code.grant.grant_id, Timestamp(30))
        .await
        .unwrap();
    assert!(
        !store
            .record_issued("jti-2", &code.grant.grant_id, Timestamp(700), None)
            .await
            .unwrap()
    );
    store.close().await;
}

store_test!(
    ending_a_session_revokes_each_of_its_grants_and_denies_all_their_tokens,
    |store: Store| async move {
        let first = setup(&store).await;
        let app = latchkey_core::types::ClientId::parse("app").unwrap();
        let client = store.find_client(&app).await.unwrap().unwrap();
        let params = Params::parse_urlencoded(
            b"client_id=app&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        )
        .unwrap();
        let request = AuthorizationRequest::parse(&params, Some(client)).unwrap();
        let mut grants = Vec::new();
        for (i, sid) in ["sid-1", "sid-1", "sid-1", "sid-2"].into_iter().enumerate() {
            let code = issue_code(
                &request,
                &first.grant.user_id,
                Timestamp(5),
                Some(sid),
                &policy(),
                Timestamp(10),
            );
            store.insert_code(&code.grant, &code.record).await.unwrap();
            for n in 0..2 {
                let jti = format!("jti-{i}-{n}");
                assert!(
                    store
                        .record_issued(&jti, &code.grant.grant_id, Timestamp(700), None)
                        .await
                        .unwrap()
                );
            }
            grants.push(code.grant);
        }
        // One of the session's grants was revoked before: it is not counted again.
        store
            .revoke_grant(&grants[2].grant_id, Timestamp(11))
            .await
            .unwrap();
        let revoked = store
            .revoke_session_grants("sid-1", &grants[0].client_id, Timestamp(12))
            .await
            .unwrap();
        assert_eq!(revoked, 2);
        for (i, grant) in grants.iter().enumerate() {
            let ended = i < 3;
            for n in 0..2 {
                let jti = format!("jti-{i}-{n}");
                assert_eq!(store.is_revoked(&jti).await.unwrap(), ended, "{jti}");
            }
            let found = store.find_grant(&grant.grant_id).await.unwrap().unwrap();
            let expected = match i {
                0 | 1 => Some(Timestamp(12)),
                2 => Some(Timestamp(11)),
                _ => None,
            };
            assert_eq!(found.revoked_at, expected, "grant {i}");
        }
    }
);
