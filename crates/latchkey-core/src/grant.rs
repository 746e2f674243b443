//! Token requests (RFC 6749 §3.2): `grant_type` is read first, then that grant's own parameters.
pub mod authorization_code;
pub mod client_credentials;
pub mod record;
pub mod refresh_token;
pub mod reuse;
pub mod token_exchange;

use crate::OAuthError;
use crate::params::Params;
use crate::pkce::CodeVerifier;
use crate::secret::SecretHash;
use crate::types::{GrantType, ResourceUri, Scope};

pub use authorization_code::{AuthorizationCodeRequest, authorization_code};
pub use client_credentials::{ClientCredentialsRequest, client_credentials};
pub use record::{Grant, GrantId};
pub use refresh_token::{RefreshTokenRequest, refresh_token};
pub use reuse::{Presented, check_presented};
pub use token_exchange::token_exchange;

/// A parsed token request. After `parse`, nothing reads a raw parameter.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    AuthorizationCode(AuthorizationCodeRequest),
    /// `grant_type=client_credentials` (RFC 6749 §4.4.2).
    ClientCredentials(ClientCredentialsRequest),
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshTokenRequest),
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1).
    TokenExchange(token_exchange::TokenExchangeRequest),
}

impl TokenRequest {
    /// Parses a token request whose client credentials have already been taken out of `params`.
    /// `enabled` are the grant types the server has switched on; any other is
    /// `unsupported_grant_type`, decided before the grant's own parameters are read.
    pub fn parse(params: &Params, enabled: &[GrantType]) -> Result<TokenRequest, OAuthError> {
        let grant_type: GrantType = params.require("grant_type")?.parse()?;
        if !enabled.contains(&grant_type) {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {grant_type} is not enabled on this server"
            )));
        }
        let scope = params.get("scope").map(Scope::parse).transpose()?;
        let resource = params.get("resource").map(ResourceUri::parse).transpose()?;
        Ok(match grant_type {
            GrantType::ClientCredentials => {
                TokenRequest::ClientCredentials(ClientCredentialsRequest { scope, resource })
            }
            GrantType::AuthorizationCode => {
                TokenRequest::AuthorizationCode(AuthorizationCodeRequest {
                    code: SecretHash::of(params.require("code")?.as_bytes()),
                    redirect_uri: params.get("redirect_uri").map(str::to_owned),
                    code_verifier: params
                        .get("code_verifier")
                        .map(CodeVerifier::parse)
                        .transpose()?,
                    resource,
                })
            }
            GrantType::RefreshToken => TokenRequest::RefreshToken(RefreshTokenRequest {
                refresh_token: SecretHash::of(params.require("refresh_token")?.as_bytes()),
                scope,
                resource,
            }),
            GrantType::TokenExchange => {
                TokenRequest::TokenExchange(token_exchange::TokenExchangeRequest::parse(params)?)
            }
        })
    }

    /// The grant type of the request.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
            Self::RefreshToken(_) => GrantType::RefreshToken,
            Self::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(
            &Params::parse_urlencoded(body.as_bytes()).unwrap(),
            &GrantType::ALL,
        )
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
    fn a_grant_type_turned_off_is_unsupported_before_its_parameters_are_read() {
        let params = Params::parse_urlencoded(b"grant_type=authorization_code").unwrap();
        let err = TokenRequest::parse(&params, &[GrantType::ClientCredentials]).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedGrantType);
        assert!(err.description().contains("authorization_code"));
    }

    #[test]
    fn client_credentials_reads_scope() {
        let TokenRequest::ClientCredentials(req) =
            parse("grant_type=client_credentials&scope=b+a").unwrap()
        else {
            panic!("client_credentials")
        };
        assert_eq!(req.scope.unwrap().to_string(), "a b");
        assert_eq!(
            parse("grant_type=client_credentials&scope=%22")
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            parse("grant_type=client_credentials&resource=%2Frelative")
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn authorization_code_requires_code_and_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(matches!(
            parse(&format!(
                "grant_type=authorization_code&code=abc&code_verifier={verifier}"
            )),
            Ok(TokenRequest::AuthorizationCode(_))
        ));
        assert_eq!(
            parse(&format!(
                "grant_type=authorization_code&code_verifier={verifier}"
            ))
            .unwrap_err()
            .code,
            ErrorCode::InvalidRequest
        );
        // Without a verifier the request parses; the code's own binding decides (see
        // `authorization_code::tests::a_nonce_bound_code_takes_no_verifier_and_a_pkce_code_needs_one`).
        assert!(matches!(
            parse("grant_type=authorization_code&code=abc"),
            Ok(TokenRequest::AuthorizationCode(r)) if r.code_verifier.is_none()
        ));
        assert_eq!(
            parse("grant_type=authorization_code&code=abc&code_verifier=short")
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
    }

    #[test]
    fn refresh_token_requires_the_token() {
        assert!(matches!(
            parse("grant_type=refresh_token&refresh_token=r&scope=a"),
            Ok(TokenRequest::RefreshToken(_))
        ));
        assert_eq!(
            parse("grant_type=refresh_token").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
