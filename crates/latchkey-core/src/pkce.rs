//! Proof Key for Code Exchange (RFC 7636), `S256` only: OAuth 2.1 §4.1.1 lets a server refuse `plain`,
//! and a `plain` challenge protects nothing against an attacker who can read the authorization request.
use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::OAuthError;

/// A `code_challenge` with method `S256`: the base64url SHA-256 of the verifier, 43 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` from an authorization request.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, OAuthError> {
        let challenge = challenge.ok_or_else(|| {
            OAuthError::invalid_request("code_challenge is required (PKCE with S256)")
        })?;
        match method {
            Some("S256") => {}
            // RFC 7636 §4.3: an omitted method means `plain`, which this server does not accept.
            None | Some("plain") => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                ));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is not supported; use S256",
                ));
            }
        }
        Self::from_stored(challenge)
            .ok_or_else(|| OAuthError::invalid_request("code_challenge is not a S256 challenge"))
    }

    /// Rebuilds a stored challenge; `None` unless it is 43 base64url characters.
    pub fn from_stored(value: &str) -> Option<Self> {
        let valid = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(value.to_owned()))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`, compared in constant
    /// time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let hashed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.0.as_bytes()));
        aws_lc_rs::constant_time::verify_slices_are_equal(hashed.as_bytes(), self.0.as_bytes())
            .is_ok()
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge({})", self.0)
    }
}

/// A `code_verifier` (RFC 7636 §4.1): 43 to 128 unreserved characters. Not `Clone`: it is a secret
/// used once.
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Validates a verifier presented at the token endpoint.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let valid = (43..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(OAuthError::invalid_grant(
                "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)",
            ))
        }
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn rfc_7636_appendix_b_vector_verifies() {
        let challenge = CodeChallenge::parse(
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .unwrap();
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(challenge.verify(&verifier));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl").unwrap();
        assert!(!challenge.verify(&other));
    }

    #[test]
    fn plain_missing_or_malformed_challenges_are_refused() {
        let ok = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        for (challenge, method) in [
            (None, Some("S256")),
            (Some(ok), None),
            (Some(ok), Some("plain")),
            (Some(ok), Some("S512")),
            (Some("short"), Some("S256")),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="),
                Some("S256"),
            ),
        ] {
            assert_eq!(
                CodeChallenge::parse(challenge, method).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{challenge:?} {method:?}"
            );
        }
    }

    #[test]
    fn verifiers_must_have_the_rfc_length_and_alphabet() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{}+", "a".repeat(43))).is_err());
        assert!(CodeVerifier::parse(&"a-._~".repeat(10)).is_ok());
    }
}
