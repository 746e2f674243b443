//! JSON Web Signature in compact serialization (RFC 7515 §7.1): parsed once, verified with the
//! algorithm bound to the key. Access tokens, ID-token hints and client assertions all go through here.
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::keys::{Jwk, KeyAlg};

/// The JOSE header members Latchkey reads (RFC 7515 §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct JoseHeader {
    /// `alg`, as the token names it: a claim to check against the key, never a choice to follow.
    pub alg: String,
    /// `kid`, which selects the key.
    #[serde(default)]
    pub kid: Option<String>,
    /// `typ`, the token's media type.
    #[serde(default)]
    pub typ: Option<String>,
}

/// A compact JWS, split and decoded once. Its payload is not to be trusted before [`Jws::verify`]
/// succeeded.
#[derive(Clone, Debug)]
pub struct Jws {
    header: JoseHeader,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: what the signature covers (RFC 7515 §5.1).
    signing_input: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Why a compact JWS was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsError {
    /// Not three base64url segments, or a header or payload that is not the JSON expected.
    Malformed,
    /// The header's `alg` is not the key's, or not one the key's type can verify (`none`, HMAC).
    AlgorithmMismatch,
    /// The key is not a public signing key Latchkey can verify with.
    UnusableKey,
    /// The signature does not verify.
    BadSignature,
}

impl Jws {
    /// Splits `token` into its three segments and decodes each; nothing is verified yet.
    pub fn parse(token: &str) -> Result<Jws, JwsError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwsError::Malformed)
        };
        Ok(Jws {
            header: serde_json::from_slice(&decode(header)?).map_err(|_| JwsError::Malformed)?,
            signing_input: token[..header.len() + 1 + payload.len()].to_owned(),
            payload: decode(payload)?,
            signature: decode(signature)?,
        })
    }

    /// The JOSE header.
    pub fn header(&self) -> &JoseHeader {
        &self.header
    }

    /// The payload read as JSON claims. Before [`Jws::verify`] this is only a hint (which client an
    /// assertion names, to find its keys), never a fact.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JwsError> {
        serde_json::from_slice(&self.payload).map_err(|_| JwsError::Malformed)
    }

    /// Verifies the signature with `key`.
    ///
    /// # Security
    /// The algorithm comes from the key (RFC 8725 §3.1): the header's `alg` must be the key's own, or,
    /// for a key registered without one, an algorithm of the key's type. A header saying `none` or
    /// `HS256` never changes how the signature is checked; it fails.
    pub fn verify(&self, key: &PublicKey) -> Result<(), JwsError> {
        let alg = key.algorithm_for(&self.header.alg)?;
        if key.verify_signature(alg, self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(JwsError::BadSignature)
        }
    }
}

/// A public signing key read from a JWK (RFC 7517), with the algorithm it is bound to.
#[derive(Clone, Debug)]
pub struct PublicKey {
    material: Material,
    /// The JWK's `alg` (RFC 7517 §4.4); `None` only for a client key registered without one, which
    /// then verifies with any algorithm of its type.
    alg: Option<KeyAlg>,
}

#[derive(Clone, Debug)]
enum Material {
    /// Uncompressed P-256 point, `04 || x || y`.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl PublicKey {
    /// One of this server's published keys: its `alg` is required and binds it.
    pub fn from_jwk(jwk: &Jwk) -> Result<PublicKey, JwsError> {
        let member = |name: &str| match name {
            "kty" => Some(jwk.kty.as_str()),
            "alg" => Some(jwk.alg.as_str()),
            "use" => Some(jwk.use_.as_str()),
            "crv" => jwk.crv.as_deref(),
            "x" => jwk.x.as_deref(),
            "y" => jwk.y.as_deref(),
            "n" => jwk.n.as_deref(),
            "e" => jwk.e.as_deref(),
            _ => None,
        };
        Self::from_members(member)
    }

    /// A key as a client registered it (`jwks`, RFC 7591 §2), whose `alg` and `use` are optional.
    ///
    /// # Security
    /// A key whose `use` is not `sig` never verifies; `none` and HMAC have no key type here, since a
    /// client's registered key is public.
    pub fn from_client_jwk(jwk: &serde_json::Value) -> Result<PublicKey, JwsError> {
        Self::from_members(|name| jwk.get(name).and_then(|v| v.as_str()))
    }

    fn from_members<'a>(member: impl Fn(&str) -> Option<&'a str>) -> Result<PublicKey, JwsError> {
        let bytes = |name: &str| {
            member(name)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or(JwsError::UnusableKey)
        };
        if member("use").is_some_and(|u| u != "sig") {
            return Err(JwsError::UnusableKey);
        }
        let alg = match member("alg") {
            Some(alg) => Some(alg.parse().map_err(|_| JwsError::UnusableKey)?),
            None => None,
        };
        let material = match (member("kty"), member("crv")) {
            (Some("EC"), Some("P-256")) => {
                Material::P256([&[0x04][..], &bytes("x")?, &bytes("y")?].concat())
            }
            (Some("OKP"), Some("Ed25519")) => Material::Ed25519(bytes("x")?),
            (Some("RSA"), _) => Material::Rsa {
                n: bytes("n")?,
                e: bytes("e")?,
            },
            _ => return Err(JwsError::UnusableKey),
        };
        Ok(PublicKey { material, alg })
    }

    /// The algorithm to verify with when a token's header names `named`.
    fn algorithm_for(&self, named: &str) -> Result<KeyAlg, JwsError> {
        let named: KeyAlg = named.parse().map_err(|_| JwsError::AlgorithmMismatch)?;
        let fits_type = matches!(
            (&self.material, named),
            (Material::P256(_), KeyAlg::ES256)
                | (Material::Ed25519(_), KeyAlg::EdDSA)
                | (Material::Rsa { .. }, KeyAlg::RS256 | KeyAlg::PS256)
        );
        if !fits_type || self.alg.is_some_and(|bound| bound != named) {
            return Err(JwsError::AlgorithmMismatch);
        }
        Ok(named)
    }

    /// Checks a signature over `message` with `alg`, which [`PublicKey::algorithm_for`] chose.
    fn verify_signature(&self, alg: KeyAlg, message: &[u8], sig: &[u8]) -> bool {
        match (&self.material, alg) {
            (Material::P256(point), KeyAlg::ES256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Material::Ed25519(x), KeyAlg::EdDSA) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            (Material::Rsa { n, e }, KeyAlg::RS256 | KeyAlg::PS256) => {
                let params = if alg == KeyAlg::RS256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

// Here rather than in `keys.rs`, so that the signature check has one home and `keys` does not import
// this module back.
impl Jwk {
    /// Verifies a JWS signature over `message` with this key, using the algorithm the key is bound to.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        PublicKey::from_jwk(self).is_ok_and(|key| {
            key.alg
                .is_some_and(|alg| key.verify_signature(alg, message, sig))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::keys::SigningKey;

    /// A compact JWS over `claims`, signed by `key` but with the header `alg` set to `alg`.
    fn signed(key: &SigningKey, alg: &str, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": key.kid()}).to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap());
        format!("{input}.{sig}")
    }

    fn client_jwk(key: &SigningKey) -> Value {
        serde_json::to_value(key.public_jwk()).unwrap()
    }

    #[test]
    fn each_algorithm_verifies_its_own_signature_and_nothing_else() {
        for alg in KeyAlg::ALL {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let token = signed(&key, alg.as_str(), &json!({"sub": "s"}));
            let jws = Jws::parse(&token).unwrap();
            let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
            assert_eq!(jws.verify(&public), Ok(()), "{alg}");
            assert_eq!(
                jws.verify(&PublicKey::from_client_jwk(&client_jwk(&key)).unwrap()),
                Ok(()),
                "{alg}"
            );
            assert_eq!(jws.claims::<Value>().unwrap()["sub"], "s");
            let (other, _) = SigningKey::generate(alg).unwrap();
            let other = PublicKey::from_jwk(other.public_jwk()).unwrap();
            assert_eq!(jws.verify(&other), Err(JwsError::BadSignature), "{alg}");
        }
    }

    #[test]
    fn a_header_alg_other_than_the_keys_is_refused_before_the_signature_is_checked() {
        let (key, _) = SigningKey::generate(KeyAlg::RS256).unwrap();
        let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
        // Signed with the RS256 key, but the header claims PS256: same key type, another algorithm.
        for alg in ["PS256", "ES256", "EdDSA", "none", "HS256", ""] {
            let jws = Jws::parse(&signed(&key, alg, &json!({}))).unwrap();
            assert_eq!(
                jws.verify(&public),
                Err(JwsError::AlgorithmMismatch),
                "{alg}"
            );
        }
        // A client key registered without `alg` still verifies only with algorithms of its type.
        let mut loose = client_jwk(&key);
        loose.as_object_mut().unwrap().remove("alg");
        let loose = PublicKey::from_client_jwk(&loose).unwrap();
        let rs = Jws::parse(&signed(&key, "RS256", &json!({}))).unwrap();
        assert_eq!(rs.verify(&loose), Ok(()));
        let es = Jws::parse(&signed(&key, "ES256", &json!({}))).unwrap();
        assert_eq!(es.verify(&loose), Err(JwsError::AlgorithmMismatch));
    }

    #[test]
    fn a_key_of_the_wrong_type_or_use_is_unusable_or_mismatched() {
        let (ec, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let mut wrong_type = ec.public_jwk().clone();
        wrong_type.kty = "RSA".into();
        assert_eq!(
            PublicKey::from_jwk(&wrong_type).unwrap_err(),
            JwsError::UnusableKey
        );
        for (member, value) in [("crv", "P-384"), ("use", "enc"), ("kty", "oct")] {
            let mut changed = client_jwk(&ec);
            changed[member] = json!(value);
            assert_eq!(
                PublicKey::from_client_jwk(&changed).unwrap_err(),
                JwsError::UnusableKey,
                "{member}: {value}"
            );
        }
        // An EC key whose `alg` names an RSA algorithm verifies nothing.
        let mut crossed = client_jwk(&ec);
        crossed["alg"] = json!("RS256");
        let crossed = PublicKey::from_client_jwk(&crossed).unwrap();
        let jws = Jws::parse(&signed(&ec, "RS256", &json!({}))).unwrap();
        assert_eq!(jws.verify(&crossed), Err(JwsError::AlgorithmMismatch));
    }

    #[test]
    fn malformed_segments_are_refused_at_parse() {
        let (key, _) = SigningKey::generate(KeyAlg::EdDSA).unwrap();
        let good = signed(&key, "EdDSA", &json!({"sub": "s"}));
        let parts: Vec<&str> = good.split('.').collect();
        let not_json = URL_SAFE_NO_PAD.encode("not json");
        let no_alg = URL_SAFE_NO_PAD.encode(r#"{"kid":"k"}"#);
        for token in [
            String::new(),
            "a.b".into(),
            format!("{good}.extra"),
            format!("!!.{}.{}", parts[1], parts[2]),
            format!("{}.!!.{}", parts[0], parts[2]),
            format!("{}.{}.!!", parts[0], parts[1]),
            format!("{not_json}.{}.{}", parts[1], parts[2]),
            format!("{no_alg}.{}.{}", parts[1], parts[2]),
        ] {
            assert_eq!(
                Jws::parse(&token).unwrap_err(),
                JwsError::Malformed,
                "{token}"
            );
        }
        let jws = Jws::parse(&format!("{}.{not_json}.{}", parts[0], parts[2])).unwrap();
        assert_eq!(jws.claims::<Value>().unwrap_err(), JwsError::Malformed);
    }

    #[test]
    fn a_changed_payload_or_signature_does_not_verify() {
        let (key, _) = SigningKey::generate(KeyAlg::PS256).unwrap();
        let public = PublicKey::from_jwk(key.public_jwk()).unwrap();
        let good = signed(&key, "PS256", &json!({"sub": "s"}));
        let parts: Vec<&str> = good.split('.').collect();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
        let forged = Jws::parse(&format!("{}.{forged_body}.{}", parts[0], parts[2])).unwrap();
        assert_eq!(forged.verify(&public), Err(JwsError::BadSignature));
        let unsigned = Jws::parse(&format!("{}.{}.", parts[0], parts[1])).unwrap();
        assert_eq!(unsigned.verify(&public), Err(JwsError::BadSignature));
    }
}
