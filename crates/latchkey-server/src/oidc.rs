//! OpenID Connect in the server: the `sub` a client sees, ID tokens, `id_token_hint`, and the key of
//! each signing algorithm (OpenID Connect Core 1.0 §2, §8; the rules are `latchkey_core::oidc`).
use std::sync::Arc;

use latchkey_core::client::Client;
use latchkey_core::grant::Grant;
use latchkey_core::keys::KeyAlg;
use latchkey_core::oidc::claims::{self, Destination};
use latchkey_core::oidc::id_token::{HintClaims, IdTokenClaims, IdTokenInput};
use latchkey_core::token::jwt;
use latchkey_core::types::Timestamp;
use latchkey_store::UserStore;
use serde::Serialize;

use crate::error::ApiError;
use crate::keyring::{self, KeySet};
use crate::state::AppState;

/// The `sub` `client` sees for `user_id`: the user id, or its pairwise value for the client's sector.
pub(crate) fn subject(app: &AppState, client: &Client, user_id: &str) -> String {
    app.pairwise()
        .subject(user_id, &client.policy.openid.subject_type)
}

/// The key set with a current key for `alg`, creating that key first when the server has none yet (a
/// client registered an algorithm nobody used before, or a rotation retired it). Of several instances
/// doing so at once the database lets one key win, and every instance reloads it.
pub(crate) async fn keys_for(app: &AppState, alg: KeyAlg) -> Result<Arc<KeySet>, ApiError> {
    let keys = app.keys();
    if keys.for_alg(alg).is_some() {
        return Ok(keys);
    }
    keyring::ensure_key(app.store(), app.master(), alg, app.clock().now())
        .await
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    app.reload_keys()
        .await
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    let keys = app.keys();
    match keys.for_alg(alg) {
        Some(_) => Ok(keys),
        None => Err(ApiError::Internal(
            format!("no {alg} key after creating one").into(),
        )),
    }
}

/// Signs `claims` as a plain JWT (`typ: JWT`) with the current key of `alg`.
pub(crate) async fn sign<T: Serialize>(
    app: &AppState,
    claims: &T,
    alg: KeyAlg,
) -> Result<String, ApiError> {
    let keys = keys_for(app, alg).await?;
    let key = keys
        .for_alg(alg)
        .expect("keys_for returns a set with the key");
    Ok(jwt::sign_typed(claims, key, jwt::JWT_TYP)?)
}

/// The ID token for a grant's tokens (Core §3.1.3.3, §12.2): `nonce` only for the code grant, `at_hash`
/// over `access_token`, the claims `claims.id_token` asked for, signed with the client's algorithm.
pub(crate) async fn id_token(
    app: &AppState,
    client: &Client,
    grant: &Grant,
    nonce: Option<String>,
    access_token: &str,
    now: Timestamp,
) -> Result<String, ApiError> {
    let settings = app.settings();
    let ttl = settings.openid.as_ref().map_or(3600, |o| o.id_token_ttl);
    let alg = client.policy.openid.id_token_signed_response_alg;
    let names = claims::released(&grant.scope, grant.claims.as_ref(), Destination::IdToken);
    // The user is read only when the ID token carries their claims.
    let user_claims = match names.is_empty() {
        true => serde_json::Map::new(),
        false => match app.store().find_user(&grant.user_id).await? {
            Some(user) => claims::select(&user, &names),
            None => serde_json::Map::new(),
        },
    };
    let token = IdTokenClaims::new(
        IdTokenInput {
            issuer: settings.features.issuer.as_str(),
            sub: subject(app, client, &grant.user_id),
            client_id: &client.client_id,
            auth_time: grant.auth_time,
            nonce,
            sid: grant.sid.clone(),
            access_token: Some((access_token, alg)),
            claims: user_claims,
        },
        ttl,
        now,
    );
    sign(app, &token, alg).await
}

/// What an `id_token_hint` says, when it is an ID token this server signed for this issuer. Expired
/// hints are accepted (Core §3.1.2.1 and RP-Initiated Logout §2: the hint names a user, it grants
/// nothing).
pub(crate) fn verify_hint(app: &AppState, hint: &str) -> Option<HintClaims> {
    let keys = app.keys();
    match jwt::verify::<HintClaims>(hint, &keys.published) {
        Ok((header, claims))
            if header.typ == jwt::JWT_TYP
                && claims.iss == app.settings().features.issuer.as_str() =>
        {
            Some(claims)
        }
        _ => None,
    }
}
