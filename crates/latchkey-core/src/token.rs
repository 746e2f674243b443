//! Access tokens: the claims of RFC 9068 and the policy that sets their lifetime and audience.
pub mod jwt;
pub mod policy;

use serde::{Deserialize, Serialize};

use crate::grant::record::{Grant, GrantId};
use crate::types::{ClientId, Scope, Timestamp};

pub use policy::TokenPolicy;

/// RFC 9068 §2.2 claims of a JWT access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the resource owner, or the client itself for client_credentials (RFC 9068 §2.2).
    pub sub: String,
    /// Audience: the resource server the token is for.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// Granted scope, omitted when empty.
    #[serde(default, skip_serializing_if = "Scope::is_empty")]
    pub scope: Scope,
    /// Issued at.
    pub iat: Timestamp,
    /// Expiry.
    pub exp: Timestamp,
    /// Unique token id.
    pub jti: String,
    /// When the user signed in (RFC 9068 §2.2.1); absent for client_credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<Timestamp>,
    /// RFC 8693 §4.1: the actor a token exchange acted for, nesting earlier actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

/// A decision to issue an access token, before it is encoded.
#[derive(Clone, Debug)]
pub struct IssuedAccessToken {
    /// The claims to sign, or to store behind an opaque reference.
    pub claims: AccessTokenClaims,
    /// `expires_in` of the response.
    pub expires_in: u64,
    /// JWT or opaque.
    pub format: crate::client::TokenFormat,
}

impl IssuedAccessToken {
    /// An access token for `target`.
    pub fn new(
        policy: &TokenPolicy,
        client: &crate::client::Client,
        sub: String,
        target: &crate::resource::Target,
        auth_time: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        IssuedAccessToken {
            claims: AccessTokenClaims {
                iss: policy.issuer.as_str().to_owned(),
                sub,
                aud: target.audience.clone(),
                client_id: client.client_id.clone(),
                scope: target.scope.clone(),
                iat: now,
                exp: now.plus(target.ttl),
                jti: crate::secret::random_base64url(16),
                auth_time,
                act: None,
            },
            expires_in: target.ttl,
            format: target.format,
        }
    }
}

/// A new refresh token: the value for the client once, and the record to store.
#[derive(Debug)]
pub struct IssuedRefreshToken {
    /// The token in clear, returned to the client and then forgotten.
    pub token: crate::secret::ClientSecret,
    /// What is stored.
    pub record: RefreshTokenRecord,
}

/// A refresh token as stored: its hash and what it may be exchanged for.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub hash: crate::secret::SecretHash,
    /// The grant (family) it belongs to.
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it expires unused (idle lifetime, never past the grant's absolute end).
    pub expires_at: Timestamp,
}

/// The tokens of one successful grant.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The access token.
    pub access: IssuedAccessToken,
    /// A refresh token, when the client is registered for the refresh_token grant.
    pub refresh: Option<IssuedRefreshToken>,
}

impl TokenPolicy {
    /// Tokens for a user's grant: an access token for `target`, and a refresh token when the client
    /// may refresh.
    pub fn issue_for_grant(
        &self,
        client: &crate::client::Client,
        grant: &Grant,
        target: &crate::resource::Target,
        now: Timestamp,
    ) -> IssuedTokens {
        let access = IssuedAccessToken::new(
            self,
            client,
            grant.user_id.clone(),
            target,
            Some(grant.auth_time),
            now,
        );
        let refresh = client
            .grant_types
            .contains(&crate::types::GrantType::RefreshToken)
            .then(|| {
                let token = crate::secret::ClientSecret::generate();
                let idle_end = now.plus(self.refresh_token_idle_ttl);
                IssuedRefreshToken {
                    record: RefreshTokenRecord {
                        hash: token.hash(),
                        grant_id: grant.grant_id.clone(),
                        client_id: client.client_id.clone(),
                        created_at: now,
                        expires_at: idle_end.min(grant.expires_at),
                    },
                    token,
                }
            });
        IssuedTokens { access, refresh }
    }
}
