//! JWS compact serialization (RFC 7515 §7.1) of RFC 9068 access tokens.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::jws::{JoseHeader, Jws, PublicKey};
use crate::keys::{Jwk, KeyError, SigningKey};

/// The JOSE header of an access token. `typ` is `at+jwt` (RFC 9068 §2.1), so a token of another kind
/// (an ID token, a client assertion) is never mistaken for one.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Signing algorithm.
    pub alg: String,
    /// Token type.
    pub typ: String,
    /// Id of the signing key.
    pub kid: String,
}

/// Media type of RFC 9068 access tokens, in its short form (RFC 7515 §4.1.9).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Media type of ID tokens and signed UserInfo responses: plain `JWT` (OpenID Connect Core §2 and
/// RFC 7519 §5.1), which relying-party libraries accept and an access-token check refuses.
pub const JWT_TYP: &str = "JWT";

/// Signs access-token `claims` into a compact JWS with `key`.
pub fn sign<T: Serialize>(claims: &T, key: &SigningKey) -> Result<String, KeyError> {
    sign_typed(claims, key, ACCESS_TOKEN_TYP)
}

/// Signs `claims` into a compact JWS with `key`, naming the token's media type `typ`.
pub fn sign_typed<T: Serialize>(
    claims: &T,
    key: &SigningKey,
    typ: &str,
) -> Result<String, KeyError> {
    let header = Header {
        alg: key.alg().as_str().into(),
        typ: typ.into(),
        kid: key.kid().into(),
    };
    let mut token = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(to_json(&header)?, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(to_json(claims)?, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Why a compact JWS was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// No key in the set has the token's `kid`.
    UnknownKey,
    /// The header's `alg` differs from the key's, or the signature does not verify.
    BadSignature,
}

/// Verifies a compact JWS against a key set and returns its header and decoded claims.
///
/// # Security
/// The algorithm is taken from the key, never from the token (see [`Jws::verify`]): a header saying
/// `none` or `HS256` does not change how the signature is checked.
pub fn verify<T: DeserializeOwned>(token: &str, keys: &[Jwk]) -> Result<(Header, T), VerifyError> {
    let jws = Jws::parse(token).map_err(|_| VerifyError::Malformed)?;
    let JoseHeader {
        alg,
        kid: Some(kid),
        typ: Some(typ),
    } = jws.header().clone()
    else {
        return Err(VerifyError::Malformed);
    };
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(VerifyError::UnknownKey)?;
    let key = PublicKey::from_jwk(key).map_err(|_| VerifyError::BadSignature)?;
    jws.verify(&key).map_err(|_| VerifyError::BadSignature)?;
    let claims = jws.claims().map_err(|_| VerifyError::Malformed)?;
    Ok((Header { alg, typ, kid }, claims))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, KeyError> {
    serde_json::to_vec(value).map_err(|_| KeyError("claims are not serialisable"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlg;
    use serde_json::{Value, json};

    #[test]
    fn signed_token_verifies_with_its_key_only() {
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let (other, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let token = sign(&json!({"sub": "abc"}), &key).unwrap();
        let (header, claims): (Header, Value) =
            verify(&token, &[key.public_jwk().clone()]).unwrap();
        assert_eq!(
            (header.typ.as_str(), header.alg.as_str()),
            ("at+jwt", "ES256")
        );
        assert_eq!(claims["sub"], "abc");
        assert_eq!(
            verify::<Value>(&token, &[other.public_jwk().clone()]).unwrap_err(),
            VerifyError::UnknownKey
        );
    }

    #[test]
    fn tampered_or_alg_none_tokens_fail() {
        let (key, _) = SigningKey::generate(KeyAlg::EdDSA).unwrap();
        let keys = [key.public_jwk().clone()];
        let token = sign(&json!({"sub": "abc"}), &key).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#),
            parts[2]
        );
        assert_eq!(
            verify::<Value>(&forged, &keys).unwrap_err(),
            VerifyError::BadSignature
        );
        let none = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
            key.kid()
        ));
        assert_eq!(
            verify::<Value>(&format!("{none}.{}.", parts[1]), &keys).unwrap_err(),
            VerifyError::BadSignature
        );
        assert_eq!(
            verify::<Value>("a.b", &keys).unwrap_err(),
            VerifyError::Malformed
        );
    }
}
