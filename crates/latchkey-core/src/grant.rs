//! Token requests (RFC 6749 §3.2): `grant_type` is read first, then that grant's own parameters.
pub mod client_credentials;

use crate::OAuthError;
use crate::params::Params;
use crate::types::{GrantType, Scope};

pub use client_credentials::client_credentials;

/// A parsed token request. After `parse`, nothing reads a raw parameter.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=client_credentials` (RFC 6749 §4.4.2).
    ClientCredentials(ClientCredentialsRequest),
}

/// Parameters of a client_credentials request.
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    /// `scope`, when the request names one.
    pub scope: Option<Scope>,
}

impl TokenRequest {
    /// Parses a token request whose client credentials have already been taken out of `params`.
    pub fn parse(params: &Params) -> Result<TokenRequest, OAuthError> {
        let grant_type: GrantType = params.require("grant_type")?.parse()?;
        if params.get("resource").is_some() {
            // RFC 8707 is not implemented yet. Ignoring `resource` would hand out a token the client
            // believes is audience-restricted when it is not, so refuse it.
            return Err(OAuthError::invalid_target(
                "this server does not accept resource indicators",
            ));
        }
        let scope = params.get("scope").map(Scope::parse).transpose()?;
        Ok(match grant_type {
            GrantType::ClientCredentials => {
                TokenRequest::ClientCredentials(ClientCredentialsRequest { scope })
            }
        })
    }

    /// The grant type of the request.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&Params::parse_urlencoded(body.as_bytes()).unwrap())
    }

    #[test]
    fn grant_type_is_required_and_must_be_known() {
        assert_eq!(
            parse("scope=a").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            parse("grant_type=password").unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
        // An unknown grant is reported as such even when its other parameters are malformed.
        assert_eq!(
            parse("grant_type=password&scope=%22").unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
    }

    #[test]
    fn client_credentials_reads_scope() {
        let TokenRequest::ClientCredentials(req) =
            parse("grant_type=client_credentials&scope=b+a").unwrap();
        assert_eq!(req.scope.unwrap().to_string(), "a b");
        assert_eq!(
            parse("grant_type=client_credentials&scope=%22")
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            parse("grant_type=client_credentials&resource=https://x")
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }
}
