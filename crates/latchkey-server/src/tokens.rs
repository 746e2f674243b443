//! Access tokens as the endpoints share them: the resource a request names, encoding an issued token
//! (signed JWT, or an opaque reference stored hashed), and recognising a token this server issued.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use latchkey_core::client::TokenFormat;
use latchkey_core::introspection::{Active, jwt_is_current};
use latchkey_core::resource::Resource;
use latchkey_core::secret::{ClientSecret, SecretHash};
use latchkey_core::token::{AccessTokenClaims, IssuedAccessToken, jwt};
use latchkey_core::types::{ResourceUri, Timestamp};
use latchkey_store::{RefreshTokenState, StoreError, TokenStore};

use crate::error::ApiError;
use crate::metrics::CacheCounters;
use crate::state::AppState;

/// The configured resource named `uri`: the configuration file first, then `latchkey resource add`.
pub(crate) async fn find_resource(
    app: &AppState,
    uri: Option<&ResourceUri>,
) -> Result<Option<Resource>, StoreError> {
    let Some(uri) = uri else {
        return Ok(None);
    };
    if let Some(configured) = app.settings().resources.get(uri) {
        return Ok(Some(configured.clone()));
    }
    app.registry().resource(app.store(), uri).await
}

/// The token string for an issued access token: a signed JWT, or a random reference whose hash and
/// claims are stored (validated only through introspection).
pub(crate) async fn encode(app: &AppState, issued: &IssuedAccessToken) -> Result<String, ApiError> {
    match issued.format {
        TokenFormat::Jwt => Ok(jwt::sign(&issued.claims, &app.keys().active)?),
        TokenFormat::Opaque => {
            let token = ClientSecret::generate();
            app.store()
                .insert_opaque(&token.hash(), &issued.claims)
                .await?;
            Ok(token.expose().to_owned())
        }
    }
}

/// A JWT has two dots; an opaque token or refresh token (base64url) has none.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// The claims of an access token this server issued and still honours at `now`: signed by one of our
/// published keys (or stored, for an opaque one), unexpired, and not revoked.
pub(crate) async fn active_access_token(
    app: &AppState,
    token: &str,
    now: Timestamp,
) -> Result<Option<AccessTokenClaims>, StoreError> {
    let claims = if looks_like_jwt(token) {
        match app.verified().get(token) {
            Some(claims) => claims,
            None => {
                let keys = app.keys();
                match jwt::verify::<AccessTokenClaims>(token, &keys.published) {
                    Ok((header, claims)) if header.typ == jwt::ACCESS_TOKEN_TYP => {
                        let claims = Arc::new(claims);
                        app.verified().insert(token, claims.clone());
                        claims
                    }
                    _ => return Ok(None),
                }
            }
        }
    } else {
        match app
            .store()
            .find_opaque(&SecretHash::of(token.as_bytes()))
            .await?
        {
            Some(claims) => Arc::new(claims),
            None => return Ok(None),
        }
    };
    let issuer = app.settings().features.issuer.as_str();
    // Expiry and revocation are checked on every call, cached signature or not: a token revoked after
    // it was cached is still reported inactive.
    if !jwt_is_current(&claims, issuer, now)
        || app.registry().is_revoked(app.store(), &claims.jti).await?
    {
        return Ok(None);
    }
    Ok(Some(Arc::unwrap_or_clone(claims)))
}

/// Claims of JWTs whose signature was already checked, by the token itself: verifying an ES256
/// signature costs more than the rest of an introspection. Bounded; emptied when full.
///
/// # Security
/// Keyed by the whole token and found by equality, so only the very token that was verified is
/// trusted from here. (A SHA-256 of the token as the key cost more than the rest of a cached
/// introspection's cryptography; a shorter hash would let a crafted collision skip verification.)
#[derive(Debug)]
pub(crate) struct VerifiedTokens {
    map: RwLock<HashMap<Box<str>, Arc<AccessTokenClaims>>>,
    lookups: CacheCounters,
}

/// Tokens are a few hundred bytes: this bounds the cache to about 10 MiB.
const MAX_VERIFIED: usize = 16_384;

impl VerifiedTokens {
    pub(crate) fn new(lookups: CacheCounters) -> Self {
        VerifiedTokens {
            map: RwLock::default(),
            lookups,
        }
    }

    /// Forgets every verification, when a key is no longer trusted.
    pub(crate) fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn get(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let found = map.get(token).cloned();
        match found {
            Some(_) => self.lookups.hit(),
            None => self.lookups.miss(),
        }
        found
    }

    fn insert(&self, token: &str, claims: Arc<AccessTokenClaims>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_VERIFIED {
            map.clear();
        }
        map.insert(token.into(), claims);
    }
}

/// A refresh token in whatever state it is.
pub(crate) async fn refresh_token(
    app: &AppState,
    token: &str,
) -> Result<Option<RefreshTokenState>, StoreError> {
    if looks_like_jwt(token) {
        return Ok(None);
    }
    app.store()
        .find_refresh_token(&SecretHash::of(token.as_bytes()))
        .await
}

/// Any token this server issued and still honours: an access token, or a refresh token that was not
/// rotated out, whose grant stands and which has not expired.
pub(crate) async fn active_token(
    app: &AppState,
    token: &str,
    now: Timestamp,
) -> Result<Option<Active>, StoreError> {
    if let Some(claims) = active_access_token(app, token, now).await? {
        return Ok(Some(Active::Access(claims)));
    }
    Ok(refresh_token(app, token).await?.and_then(|state| {
        let current = !state.used
            && state.grant.revoked_at.is_none()
            && now < state.record.expires_at
            && now < state.grant.expires_at;
        current.then_some(Active::Refresh(state.record, state.grant))
    }))
}
