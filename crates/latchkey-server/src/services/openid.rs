//! OpenID Connect in the server: the `sub` a client sees, ID tokens, `id_token_hint`, and the key of
//! each signing algorithm (OpenID Connect Core 1.0 §2, §8; the rules are `latchkey_core::oidc`).
use std::sync::Arc;

use latchkey_core::client::Client;
use latchkey_core::grant::Grant;
use latchkey_core::keys::KeyAlg;
use latchkey_core::oidc::claims::{self, Destination};
use latchkey_core::oidc::id_token::{HintClaims, IdTokenClaims, IdTokenInput};
use latchkey_core::oidc::subject::PairwiseKey;
use latchkey_core::token::jwt;
use latchkey_core::types::Timestamp;
use latchkey_store::{Store, UserStore};
use serde::Serialize;

use super::keyring::Keyring;
use crate::error::ApiError;

/// Subjects, ID tokens and signed UserInfo answers.
pub struct OpenId {
    store: Store,
    keyring: Arc<Keyring>,
    pairwise: PairwiseKey,
    issuer: String,
    /// ID token lifetime in seconds.
    id_token_ttl: u64,
}

impl std::fmt::Debug for OpenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenId").finish_non_exhaustive()
    }
}

impl OpenId {
    pub(crate) fn new(
        store: Store,
        keyring: Arc<Keyring>,
        pairwise: PairwiseKey,
        issuer: String,
        id_token_ttl: u64,
    ) -> Self {
        OpenId {
            store,
            keyring,
            pairwise,
            issuer,
            id_token_ttl,
        }
    }

    /// The `sub` `client` sees for `user_id`: the user id, or its pairwise value for the client's
    /// sector.
    pub(crate) fn subject(&self, client: &Client, user_id: &str) -> String {
        self.pairwise
            .subject(user_id, &client.policy.openid.subject_type)
    }

    /// Makes sure the server has a current key of `alg` (creating it when needed).
    pub(crate) async fn ensure_key(&self, alg: KeyAlg) -> Result<(), ApiError> {
        self.keyring
            .with_alg(alg)
            .await
            .map(drop)
            .map_err(|e| ApiError::Internal(e.to_string().into()))
    }

    /// Signs `claims` as a plain JWT (`typ: JWT`) with the current key of `alg`.
    pub(crate) async fn sign<T: Serialize>(
        &self,
        claims: &T,
        alg: KeyAlg,
    ) -> Result<String, ApiError> {
        let keys = self
            .keyring
            .with_alg(alg)
            .await
            .map_err(|e| ApiError::Internal(e.to_string().into()))?;
        let key = keys
            .for_alg(alg)
            .expect("with_alg returns a set with the key");
        Ok(jwt::sign_typed(claims, key, jwt::JWT_TYP)?)
    }

    /// The ID token for a grant's tokens (Core §3.1.3.3, §12.2): `nonce` only for the code grant,
    /// `at_hash` over `access_token`, the claims `claims.id_token` asked for, signed with the client's
    /// algorithm. `sub` is the one the access token carries: the client's (Core §8), computed once
    /// for both.
    pub(crate) async fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        sub: String,
        nonce: Option<String>,
        access_token: &str,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let alg = client.policy.openid.id_token_signed_response_alg;
        let names = claims::released(
            &grant.scope,
            grant.claims.as_ref(),
            Destination::IdToken,
            &client.scope,
        );
        // The user is read only when the ID token carries their claims.
        let user_claims = match names.is_empty() {
            true => serde_json::Map::new(),
            false => match self.store.find_user(&grant.user_id).await? {
                Some(user) => claims::select(&user, &names),
                None => serde_json::Map::new(),
            },
        };
        let token = IdTokenClaims::new(
            IdTokenInput {
                issuer: &self.issuer,
                sub,
                client_id: &client.client_id,
                auth_time: grant.auth_time,
                nonce,
                sid: grant.sid.clone(),
                access_token: Some((access_token, alg)),
                claims: user_claims,
                // Checked when the request was made (N-L8), so only "asked for or not" is left.
                acr: grant.claims.as_ref().and_then(|c| c.acr().ok().flatten()),
            },
            self.id_token_ttl,
            now,
        );
        self.sign(&token, alg).await
    }

    /// What an `id_token_hint` says, when it is an ID token this server signed for this issuer.
    /// Expired hints are accepted (Core §3.1.2.1 and RP-Initiated Logout §2: the hint names a user,
    /// it grants nothing).
    pub(crate) fn verify_hint(&self, hint: &str) -> Option<HintClaims> {
        latchkey_core::oidc::id_token::verify_hint(
            hint,
            &self.keyring.keys().published,
            &self.issuer,
        )
    }
}
