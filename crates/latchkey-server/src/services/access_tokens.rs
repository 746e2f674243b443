//! Access tokens as the endpoints share them: encoding an issued token (signed JWT, or an opaque
//! reference stored hashed), and recognising a token this server issued and still honours.
use std::sync::Arc;

use latchkey_core::client::TokenFormat;
use latchkey_core::introspection::{Active, jwt_is_current};
use latchkey_core::secret::{ClientSecret, SecretHash};
use latchkey_core::token::{AccessTokenClaims, IssuedAccessToken, jwt};
use latchkey_core::types::Timestamp;
use latchkey_store::{RefreshTokenState, Store, StoreError, TokenStore};
use quick_cache::sync::Cache;

use super::keyring::Keyring;
use super::metrics::CacheCounters;
use super::revocations::Revocations;
use crate::error::ApiError;

/// Tokens are a few hundred bytes: this bounds the verified-token cache to about 10 MiB.
const MAX_VERIFIED: usize = 16_384;
/// Opaque tokens' claims remembered, at most (a few hundred bytes each).
const MAX_OPAQUE: usize = 8_192;

/// Access tokens: issuing and recognising them.
pub struct AccessTokens {
    store: Store,
    keyring: Arc<Keyring>,
    revocations: Arc<Revocations>,
    issuer: String,
    verified: VerifiedTokens,
    /// The stored claims of opaque tokens found, by the token's SHA-256. A stored token's claims never
    /// change; what does (expiry, revocation, a deleted client's tokens deny-listed) is checked on
    /// every call, so an entry never needs invalidating and introspection reads no row.
    opaque: Cache<[u8; 32], Arc<AccessTokenClaims>>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens").finish_non_exhaustive()
    }
}

impl AccessTokens {
    pub(crate) fn new(
        store: Store,
        keyring: Arc<Keyring>,
        revocations: Arc<Revocations>,
        issuer: String,
        lookups: CacheCounters,
    ) -> Self {
        AccessTokens {
            store,
            keyring,
            revocations,
            issuer,
            verified: VerifiedTokens {
                map: Cache::new(MAX_VERIFIED),
                lookups,
            },
            opaque: Cache::new(MAX_OPAQUE),
        }
    }

    /// The token string for an issued access token: a signed JWT, or a random reference whose hash and
    /// claims are stored (validated only through introspection).
    pub(crate) async fn encode(&self, issued: &IssuedAccessToken) -> Result<String, ApiError> {
        match issued.format {
            TokenFormat::Jwt => Ok(jwt::sign(&issued.claims, &self.keyring.keys().active)?),
            TokenFormat::Opaque => {
                let token = ClientSecret::generate();
                self.store
                    .insert_opaque(&token.hash(), &issued.claims)
                    .await?;
                Ok(token.expose().to_owned())
            }
        }
    }

    /// The claims of an access token this server issued and still honours at `now`: signed by one of
    /// our published keys (or stored, for an opaque one), unexpired, and not revoked.
    pub(crate) async fn active_access_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<AccessTokenClaims>, StoreError> {
        let claims = if looks_like_jwt(token) {
            let generation = self.keyring.generation();
            match self.verified.get(token, generation) {
                Some(claims) => claims,
                None => {
                    let keys = self.keyring.keys();
                    match jwt::verify::<AccessTokenClaims>(token, &keys.published) {
                        Ok((header, claims)) if header.typ == jwt::ACCESS_TOKEN_TYP => {
                            let claims = Arc::new(claims);
                            self.verified.insert(token, generation, claims.clone());
                            claims
                        }
                        _ => return Ok(None),
                    }
                }
            }
        } else {
            let hash = SecretHash::of(token.as_bytes());
            let key: [u8; 32] = hash.as_bytes().try_into().expect("a SHA-256 is 32 bytes");
            match self.opaque.get(&key) {
                Some(claims) => claims,
                None => match self.store.find_opaque(&hash).await? {
                    Some(claims) => {
                        let claims = Arc::new(claims);
                        self.opaque.insert(key, claims.clone());
                        claims
                    }
                    None => return Ok(None),
                },
            }
        };
        // Expiry and revocation are checked on every call, cached signature or not: a token revoked
        // after it was cached is still reported inactive.
        if !jwt_is_current(&claims, &self.issuer, now)
            || self.revocations.is_revoked(&claims.jti).await?
        {
            return Ok(None);
        }
        Ok(Some(Arc::unwrap_or_clone(claims)))
    }

    /// A refresh token in whatever state it is.
    pub(crate) async fn refresh_token(
        &self,
        token: &str,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        if looks_like_jwt(token) {
            return Ok(None);
        }
        self.store
            .find_refresh_token(&SecretHash::of(token.as_bytes()))
            .await
    }

    /// Any token this server issued and still honours: an access token, or a refresh token that was
    /// not rotated out, whose grant stands and which has not expired.
    pub(crate) async fn active_token(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Active>, StoreError> {
        if let Some(claims) = self.active_access_token(token, now).await? {
            return Ok(Some(Active::Access(claims)));
        }
        Ok(self.refresh_token(token).await?.and_then(|state| {
            let current = !state.used
                && state.grant.revoked_at.is_none()
                && now < state.record.expires_at
                && now < state.grant.expires_at;
            current.then_some(Active::Refresh(state.record, state.grant))
        }))
    }
}

/// A JWT has two dots; an opaque token or refresh token (base64url) has none.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Claims of JWTs whose signature was already checked, by the token itself: verifying an ES256
/// signature costs more than the rest of an introspection. Bounded by eviction.
///
/// # Security
/// Keyed by the whole token and found by equality, so only the very token that was verified is
/// trusted from here. (A SHA-256 of the token as the key cost more than the rest of a cached
/// introspection's cryptography; a shorter hash would let a crafted collision skip verification.)
/// Each entry carries the keyring generation it was verified under: once a key left the published
/// set, nothing verified before is trusted from here, even a verification that finished after the
/// reload.
struct VerifiedTokens {
    map: Cache<Box<str>, (u64, Arc<AccessTokenClaims>)>,
    lookups: CacheCounters,
}

impl VerifiedTokens {
    fn get(&self, token: &str, generation: u64) -> Option<Arc<AccessTokenClaims>> {
        let found = self
            .map
            .get(token)
            .filter(|(verified_under, _)| *verified_under == generation)
            .map(|(_, claims)| claims);
        match found {
            Some(_) => self.lookups.hit(),
            None => self.lookups.miss(),
        }
        found
    }

    fn insert(&self, token: &str, generation: u64, claims: Arc<AccessTokenClaims>) {
        self.map.insert(token.into(), (generation, claims));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use latchkey_core::keys::{KeyAlg, MasterKey};
    use latchkey_core::types::{ClientId, Scope};
    use latchkey_store::testing::TestDatabase;

    use super::*;
    use crate::services::clock::Clock;
    use crate::services::keyring;
    use crate::services::metrics::Metrics;
    use crate::settings::KeySettings;

    const ISSUER: &str = "https://id.example";
    const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const WINDOW: u64 = 3600;

    struct Fixture {
        _db: TestDatabase,
        store: Store,
        clock: Clock,
        keyring: Arc<Keyring>,
        tokens: Arc<AccessTokens>,
    }

    async fn fixture() -> Fixture {
        let db = TestDatabase::sqlite();
        let store = Store::connect(db.url()).await.unwrap();
        let clock = Clock::system();
        let settings = KeySettings {
            alg: KeyAlg::ES256,
            refresh_interval: Duration::from_secs(60),
            publish_window: WINDOW,
        };
        let master = MasterKey::parse(MASTER).unwrap();
        let (keyring, _) = Keyring::start(store.clone(), clock.clone(), master, &settings, false)
            .await
            .unwrap();
        let keyring = Arc::new(keyring);
        let tokens = Arc::new(AccessTokens::new(
            store.clone(),
            keyring.clone(),
            Arc::new(Revocations::new(store.clone(), 0)),
            ISSUER.into(),
            Metrics::new().cache("verified_jwts"),
        ));
        Fixture {
            _db: db,
            store,
            clock,
            keyring,
            tokens,
        }
    }

    /// A JWT access token signed with the keyring's current key, and that key's id.
    fn signed(f: &Fixture, jti: &str) -> (String, String) {
        let now = f.clock.now();
        let claims = AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "user".into(),
            aud: ISSUER.into(),
            client_id: ClientId::parse("app").unwrap(),
            scope: Scope::default(),
            iat: now,
            exp: now.plus(600),
            jti: jti.into(),
            auth_time: None,
            act: None,
        };
        let keys = f.keyring.keys();
        (
            jwt::sign(&claims, &keys.active).unwrap(),
            keys.active.kid().to_owned(),
        )
    }

    async fn revoke(f: &Fixture, kid: &str) {
        let master = MasterKey::parse(MASTER).unwrap();
        assert!(
            keyring::revoke(&f.store, &master, kid, f.clock.now(), WINDOW)
                .await
                .unwrap()
        );
        f.keyring.reload().await.unwrap();
    }

    /// N-L4, the interleaving the review describes, step by step: a request reads the generation
    /// and the key set, the key is revoked and the reload runs (clearing nothing a later insert
    /// could not refill), then the request's verification with the old set finishes and is cached.
    /// The cached entry must not be trusted.
    #[tokio::test]
    async fn n_l4_a_verification_that_finishes_after_a_key_revocation_is_not_trusted() {
        let f = fixture().await;
        let (token, kid) = signed(&f, "jti-1");
        let now = f.clock.now();
        assert!(
            f.tokens
                .active_access_token(&token, now)
                .await
                .unwrap()
                .is_some()
        );
        let generation = f.keyring.generation();
        let keys = f.keyring.keys();
        revoke(&f, &kid).await;
        let (_, late) = jwt::verify::<AccessTokenClaims>(&token, &keys.published).unwrap();
        f.tokens.verified.insert(&token, generation, Arc::new(late));
        assert!(
            f.tokens
                .active_access_token(&token, now)
                .await
                .unwrap()
                .is_none(),
            "a verification under the old key set outlived the revocation"
        );
    }

    /// N-L4 through the real path: requests verifying the token without pause on two threads while
    /// the key is revoked and reloaded; once the reload returned, no request accepts the token.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn n_l4_verifications_racing_a_reload_never_keep_a_revoked_key_trusted() {
        let f = fixture().await;
        for round in 0..10 {
            let (token, kid) = signed(&f, &format!("jti-{round}"));
            let now = f.clock.now();
            let stop = Arc::new(AtomicBool::new(false));
            let racers: Vec<_> = (0..4)
                .map(|_| {
                    let (tokens, token, stop) = (f.tokens.clone(), token.clone(), stop.clone());
                    tokio::spawn(async move {
                        while !stop.load(Ordering::SeqCst) {
                            tokens.active_access_token(&token, now).await.unwrap();
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(5)).await;
            revoke(&f, &kid).await;
            // Requests that began before the reload may still finish; none after it may succeed.
            for _ in 0..50 {
                assert!(
                    f.tokens
                        .active_access_token(&token, now)
                        .await
                        .unwrap()
                        .is_none(),
                    "round {round}"
                );
                tokio::task::yield_now().await;
            }
            stop.store(true, Ordering::SeqCst);
            for racer in racers {
                racer.await.unwrap();
            }
            assert!(
                f.tokens
                    .active_access_token(&token, now)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
}
