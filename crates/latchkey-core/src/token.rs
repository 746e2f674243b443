//! Access tokens: the claims of RFC 9068 and the policy that sets their lifetime and audience.
pub mod jwt;

use serde::{Deserialize, Serialize};

use crate::types::{ClientId, Issuer, Scope, Timestamp};

/// Lifetime and audience rules for issued tokens, from configuration.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// The `iss` of every token.
    pub issuer: Issuer,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// The `aud` of tokens issued without a resource indicator.
    pub default_audience: String,
}

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
}

/// A decision to issue an access token, before it is encoded.
#[derive(Clone, Debug)]
pub struct IssuedAccessToken {
    /// The claims to sign.
    pub claims: AccessTokenClaims,
    /// `expires_in` of the response.
    pub expires_in: u64,
}
