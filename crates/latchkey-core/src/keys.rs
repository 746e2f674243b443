//! Signing keys (RFC 7518 algorithms), their public JWK form (RFC 7517, thumbprints per RFC 7638), and
//! sealing of private keys at rest under the operator's master key (AES-256-GCM).
use std::fmt;
use std::str::FromStr;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::secret::random_bytes;

/// JWS algorithms Latchkey signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlg {
    /// ECDSA P-256 with SHA-256: the default, small and fast.
    ES256,
    /// Ed25519.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys, for verifiers that know nothing else.
    RS256,
    /// RSASSA-PSS with SHA-256, 2048-bit keys. A key of its own: an RSA key is published with one
    /// `alg`, so it is never used for both RS256 and PS256.
    PS256,
}

// The `alg` header values (RFC 7518 §3.1, RFC 8037 §3.1), in the order metadata lists them.
wire_enum!(KeyAlg {
    RS256 => "RS256",
    PS256 => "PS256",
    ES256 => "ES256",
    EdDSA => "EdDSA",
});

impl KeyAlg {
    /// The hash whose left half makes `at_hash` and `c_hash` (OpenID Connect Core §3.1.3.6): the
    /// hash of the JWS algorithm, SHA-512 for Ed25519 as node-oidc-provider and openidconnect-rs do.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            Self::ES256 | Self::RS256 | Self::PS256 => &aws_lc_rs::digest::SHA256,
            Self::EdDSA => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
    }
}

impl FromStr for KeyAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(s).ok_or_else(|| {
            format!("unknown signing algorithm `{s}` (expected ES256, EdDSA, RS256 or PS256)")
        })
    }
}

/// A public key as published in the JWKS (RFC 7517 §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// The one algorithm this key is used with.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Curve, for EC and OKP keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// X coordinate (EC) or public key (OKP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Y coordinate, for EC keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url.
    fn thumbprint(&self) -> String {
        let canonical = match self.kty.as_str() {
            "EC" => serde_json::json!({"crv": self.crv, "kty": self.kty, "x": self.x, "y": self.y}),
            "OKP" => serde_json::json!({"crv": self.crv, "kty": self.kty, "x": self.x}),
            _ => serde_json::json!({"e": self.e, "kty": self.kty, "n": self.n}),
        };
        // Written in lexicographic order, which json! keeps; plain strings serialise without whitespace.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

enum KeyPairInner {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(aws_lc_rs::rsa::KeyPair),
}

/// A private signing key with its id and public JWK.
pub struct SigningKey {
    alg: KeyAlg,
    jwk: Jwk,
    inner: KeyPairInner,
}

/// A freshly generated private key, in PKCS#8 DER, to be sealed before it is stored.
pub struct Pkcs8(Vec<u8>);

impl Pkcs8 {
    /// The DER bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pkcs8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pkcs8(<redacted>)")
    }
}

impl SigningKey {
    /// Generates a new key for `alg`.
    pub fn generate(alg: KeyAlg) -> Result<(SigningKey, Pkcs8), KeyError> {
        let rng = SystemRandom::new();
        let der = match alg {
            KeyAlg::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError("could not generate an ES256 key"))?
                    .as_ref()
                    .to_vec()
            }
            KeyAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| KeyError("could not generate an EdDSA key"))?
                .as_ref()
                .to_vec(),
            KeyAlg::RS256 | KeyAlg::PS256 => aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(|_| KeyError("could not generate an RSA key"))?
                .as_ref()
                .to_vec(),
        };
        let key = Self::from_pkcs8(alg, &der)?;
        Ok((key, Pkcs8(der)))
    }

    /// Loads a key from PKCS#8 DER.
    pub fn from_pkcs8(alg: KeyAlg, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rejected = |_| KeyError("the stored private key does not match its algorithm");
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (inner, mut jwk) = match alg {
            KeyAlg::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                        .map_err(rejected)?;
                let point = pair.public_key().as_ref();
                let jwk = Jwk::blank("EC", alg).with_curve(
                    "P-256",
                    b64(&point[1..33]),
                    Some(b64(&point[33..65])),
                );
                (KeyPairInner::Es256(pair), jwk)
            }
            KeyAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?;
                let jwk = Jwk::blank("OKP", alg).with_curve(
                    "Ed25519",
                    b64(pair.public_key().as_ref()),
                    None,
                );
                (KeyPairInner::EdDsa(pair), jwk)
            }
            KeyAlg::RS256 | KeyAlg::PS256 => {
                let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(rejected)?;
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let mut jwk = Jwk::blank("RSA", alg);
                jwk.n = Some(b64(strip_leading_zeros(&public.n)));
                jwk.e = Some(b64(strip_leading_zeros(&public.e)));
                (KeyPairInner::Rs256(pair), jwk)
            }
        };
        jwk.kid = jwk.thumbprint();
        Ok(SigningKey { alg, jwk, inner })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// The public key for the JWKS.
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `message`, returning the JWS signature bytes (fixed-width r||s for ECDSA, RFC 7518 §3.4).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError("signing failed");
        match &self.inner {
            KeyPairInner::Es256(pair) => Ok(pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            KeyPairInner::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPairInner::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    KeyAlg::PS256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                pair.sign(padding, &SystemRandom::new(), message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }
}

/// Checks that a client's JWK is a public signing key Latchkey can verify with, for registration.
pub fn check_client_jwk(jwk: &serde_json::Value) -> Result<(), String> {
    let member = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk.get(*m).is_some())
    {
        return Err("a jwks key contains private key material".into());
    }
    let fine = match (member("kty"), member("crv")) {
        (Some("EC"), Some("P-256")) => member("x").is_some() && member("y").is_some(),
        (Some("OKP"), Some("Ed25519")) => member("x").is_some(),
        (Some("RSA"), _) => member("n").is_some() && member("e").is_some(),
        _ => false,
    };
    if !fine {
        return Err("a jwks key is not an EC P-256, Ed25519 or RSA public key".into());
    }
    Ok(())
}

/// RFC 7518 §6.3.1: `n` and `e` are unsigned big-endian integers in their shortest form.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    fn blank(kty: &str, alg: KeyAlg) -> Jwk {
        Jwk {
            kty: kty.into(),
            kid: String::new(),
            alg: alg.as_str().into(),
            use_: "sig".into(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        }
    }

    fn with_curve(mut self, crv: &str, x: String, y: Option<String>) -> Jwk {
        self.crv = Some(crv.into());
        self.x = Some(x);
        self.y = y;
        self
    }
}

/// A failure to create, load, seal or use a key. The message never contains key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for KeyError {}

/// The 256-bit key that seals signing keys at rest.
///
/// # Security
/// Never printed; lives only in memory. Losing it makes the stored signing keys unusable, which is the
/// point: a copy of the database alone cannot sign tokens.
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Parses 32 bytes written in base64 (standard or URL-safe, padded or not) or 64 hex digits.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<_>, _>>()
                .ok()
        } else {
            [&STANDARD, &URL_SAFE]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
        };
        let bytes = bytes.ok_or("expected 32 bytes written as base64 or 64 hex digits")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "expected 32 bytes, got {} (generate one with `openssl rand -base64 32`)",
                b.len()
            )
        })?;
        Ok(MasterKey(bytes))
    }

    /// A new random master key.
    pub fn generate() -> MasterKey {
        MasterKey(random_bytes())
    }

    /// The key as base64, to write to a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A key for another purpose (CSRF tokens, say), derived with HMAC-SHA256 under a label so that it
    /// is independent of the sealing key and of every other label's key.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, label.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key fits AES-256-GCM"),
        )
    }

    /// Encrypts a private key. The key id is bound as associated data, so a sealed key copied onto
    /// another row does not open.
    pub fn seal(&self, kid: &str, private: &Pkcs8) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut buffer = private.0.clone();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        [&nonce[..], &buffer].concat()
    }

    /// Decrypts and loads a sealed private key.
    pub fn open(&self, kid: &str, alg: KeyAlg, sealed: &[u8]) -> Result<SigningKey, KeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyError("sealed key is truncated"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| KeyError("sealed key is truncated"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| KeyError("the master key does not open the stored signing key (wrong LATCHKEY_MASTER_KEY?)"))?;
        let key = SigningKey::from_pkcs8(alg, plain)?;
        if key.kid() != kid {
            return Err(KeyError("the stored signing key does not match its key id"));
        }
        Ok(key)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_what_its_jwk_verifies() {
        for alg in KeyAlg::ALL {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let sig = key.sign(b"payload").unwrap();
            assert!(key.public_jwk().verify(b"payload", &sig), "{alg}");
            assert!(!key.public_jwk().verify(b"payload!", &sig), "{alg}");
            assert_eq!(key.public_jwk().alg, alg.as_str());
        }
    }

    #[test]
    fn es256_signatures_are_fixed_width() {
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        assert_eq!(key.sign(b"x").unwrap().len(), 64);
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1: the RSA key whose thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
        let jwk = Jwk {
            e: Some("AQAB".into()),
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            ..Jwk::blank("RSA", KeyAlg::RS256)
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_master_key_and_kid() {
        let master = MasterKey::generate();
        let (key, der) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let sealed = master.seal(key.kid(), &der);
        assert!(
            !sealed.windows(der.0.len()).any(|w| w == der.0.as_slice()),
            "private key stored in clear"
        );
        assert_eq!(
            master
                .open(key.kid(), KeyAlg::ES256, &sealed)
                .unwrap()
                .kid(),
            key.kid()
        );
        assert!(
            MasterKey::generate()
                .open(key.kid(), KeyAlg::ES256, &sealed)
                .is_err()
        );
        assert!(master.open("other-kid", KeyAlg::ES256, &sealed).is_err());
    }

    #[test]
    fn master_key_parses_base64_and_hex_and_names_the_problem() {
        let key = MasterKey::generate();
        assert!(MasterKey::parse(&key.to_base64()).is_ok());
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("c2hvcnQ=").unwrap_err().contains("got 5"));
        assert!(MasterKey::parse("not base64!").is_err());
    }
}
