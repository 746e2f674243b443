//! The ID token (OpenID Connect Core §2) issued with the authorization code grant (§3.1.3.3) and on
//! refresh (§12.2), and `at_hash` (§3.1.3.6).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::keys::{Jwk, KeyAlg};
use crate::token::jwt;
use crate::types::{ClientId, Timestamp};

/// The claims of an ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer: exactly the issuer identifier.
    pub iss: String,
    /// The user, as this client sees them (public or pairwise).
    pub sub: String,
    /// The one audience: the client. `azp` is then not required (Core §2) and is left out.
    pub aud: ClientId,
    /// Expiry.
    pub exp: Timestamp,
    /// Issued at.
    pub iat: Timestamp,
    /// When the user authenticated. Always present, which satisfies `max_age`, `require_auth_time`
    /// and an essential `auth_time` request alike.
    pub auth_time: Timestamp,
    /// The request's `nonce`, exactly as sent; absent when it sent none, and on refresh (§12.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of the hash of the access token issued with this ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// How the user authenticated (RFC 8176).
    pub amr: Vec<String>,
    /// The authentication context class, when the client asked for it (Core §2, §3.1.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The session, for RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// User claims the `claims` parameter asked for in the ID token.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

/// What an ID token is made from, besides the user's claims.
#[derive(Clone, Debug)]
pub struct IdTokenInput<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `sub` as the client sees it.
    pub sub: String,
    /// `aud`.
    pub client_id: &'a ClientId,
    /// `auth_time`.
    pub auth_time: Timestamp,
    /// `nonce`, for the code grant only.
    pub nonce: Option<String>,
    /// `sid`, when the grant belongs to a browser session.
    pub sid: Option<String>,
    /// The access token issued alongside, and the algorithm the ID token is signed with.
    pub access_token: Option<(&'a str, KeyAlg)>,
    /// The released user claims.
    pub claims: Map<String, Value>,
    /// `acr`, when asked for.
    pub acr: Option<&'static str>,
}

impl IdTokenClaims {
    /// The claims for `input`, valid `ttl` seconds from `now`.
    pub fn new(input: IdTokenInput<'_>, ttl: u64, now: Timestamp) -> IdTokenClaims {
        IdTokenClaims {
            iss: input.issuer.to_owned(),
            sub: input.sub,
            aud: input.client_id.clone(),
            exp: now.plus(ttl),
            iat: now,
            auth_time: input.auth_time,
            nonce: input.nonce,
            at_hash: input
                .access_token
                .map(|(token, alg)| token_hash(alg, token)),
            amr: vec![crate::oidc::AMR_PASSWORD.to_owned()],
            acr: input.acr.map(str::to_owned),
            sid: input.sid,
            claims: input.claims,
        }
    }
}

/// `at_hash` (Core §3.1.3.6): base64url of the left-most half of the hash of the token's ASCII
/// octets, with the hash of the ID token's signing algorithm.
pub fn token_hash(alg: KeyAlg, token: &str) -> String {
    let digest = alg.hash(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What `id_token_hint` identifies, once its signature and issuer are checked ([`verify_hint`]).
#[derive(Clone, Debug, Deserialize)]
pub struct HintClaims {
    /// Issuer.
    pub iss: String,
    /// The subject as the client saw it.
    pub sub: String,
    /// The client it was issued to (a string or an array of one, Core §2).
    pub aud: Value,
    /// The session, when the token had one.
    #[serde(default)]
    pub sid: Option<String>,
}

impl HintClaims {
    /// The client the hint was issued to, when `aud` names exactly one.
    pub fn client_id(&self) -> Option<&str> {
        match &self.aud {
            Value::String(s) => Some(s),
            Value::Array(a) if a.len() == 1 => a[0].as_str(),
            _ => None,
        }
    }
}

/// Reads an `id_token_hint`: an ID token this server signed with one of `keys` (typed `JWT`, so an
/// access token is no hint) for `issuer`. Expired hints are accepted (Core §3.1.2.1 and RP-Initiated
/// Logout §2: the hint names a user, it grants nothing).
pub fn verify_hint(hint: &str, keys: &[Jwk], issuer: &str) -> Option<HintClaims> {
    match jwt::verify::<HintClaims>(hint, keys) {
        Ok((header, claims)) if header.typ == jwt::JWT_TYP && claims.iss == issuer => Some(claims),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use serde_json::json;

    /// User `u1` signed in at 900 for `client`, with nothing optional.
    fn input(client: &ClientId) -> IdTokenInput<'_> {
        IdTokenInput {
            issuer: "https://as.example",
            sub: "u1".into(),
            client_id: client,
            auth_time: Timestamp(900),
            nonce: None,
            sid: None,
            access_token: None,
            claims: Map::new(),
            acr: None,
        }
    }

    #[test]
    fn at_hash_matches_the_core_spec_example() {
        // OpenID Connect Core, Appendix A.3: the access token `jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y`
        // signed with RS256 has at_hash `77QmUPtjPfzWtF2AnpK9RQ`.
        assert_eq!(
            token_hash(KeyAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(token_hash(KeyAlg::ES256, "x").len(), 22);
        // Ed25519: the left half of SHA-512, 32 bytes.
        assert_eq!(token_hash(KeyAlg::EdDSA, "x").len(), 43);
    }

    #[test]
    fn the_claims_follow_core_section_2() {
        let client = ClientId::parse("app").unwrap();
        let mut claims = Map::new();
        claims.insert("email".into(), json!("maria@example.com"));
        let token = IdTokenClaims::new(
            IdTokenInput {
                nonce: Some("n-0S6_WzA2Mj".into()),
                sid: Some("s1".into()),
                access_token: Some(("at", KeyAlg::RS256)),
                claims,
                ..input(&client)
            },
            600,
            Timestamp(1000),
        );
        let value = serde_json::to_value(&token).unwrap();
        assert_eq!(value["iss"], "https://as.example");
        assert_eq!(value["aud"], "app");
        assert_eq!(value["exp"], 1600);
        assert_eq!(value["iat"], 1000);
        assert_eq!(value["auth_time"], 900);
        assert_eq!(value["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(value["amr"], json!(["pwd"]));
        assert_eq!(value["sid"], "s1");
        assert_eq!(value["email"], "maria@example.com");
        assert!(
            value.get("azp").is_none(),
            "one audience, the client itself"
        );
        assert!(value.get("acr").is_none(), "acr only when asked for");
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let signed = jwt::sign_typed(&token, &key, jwt::JWT_TYP).unwrap();
        let (header, back): (jwt::Header, IdTokenClaims) =
            jwt::verify(&signed, &[key.public_jwk().clone()]).unwrap();
        assert_eq!(header.typ, "JWT");
        assert_eq!(back, token);
    }

    #[test]
    fn without_nonce_or_access_token_those_claims_are_absent() {
        let client = ClientId::parse("app").unwrap();
        let token = IdTokenClaims::new(input(&client), 600, Timestamp(1000));
        let value = serde_json::to_value(&token).unwrap();
        for absent in ["nonce", "at_hash", "sid"] {
            assert!(value.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn a_hint_names_its_client_by_aud() {
        let hint: HintClaims =
            serde_json::from_value(json!({"iss": "i", "sub": "s", "aud": ["app"]})).unwrap();
        assert_eq!(hint.client_id(), Some("app"));
        let many: HintClaims =
            serde_json::from_value(json!({"iss": "i", "sub": "s", "aud": ["a", "b"]})).unwrap();
        assert_eq!(many.client_id(), None);
    }

    #[test]
    fn a_hint_is_an_id_token_of_ours_for_this_issuer_even_when_expired() {
        let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        let keys = [key.public_jwk().clone()];
        let claims = json!({"iss": "https://as.example", "sub": "u1", "aud": "app", "exp": 1});
        let hint = jwt::sign_typed(&claims, &key, jwt::JWT_TYP).unwrap();
        let read = verify_hint(&hint, &keys, "https://as.example").unwrap();
        assert_eq!((read.sub.as_str(), read.client_id()), ("u1", Some("app")));
        assert!(verify_hint(&hint, &keys, "https://other.example").is_none());
        let access_token = jwt::sign(&claims, &key).unwrap();
        assert!(verify_hint(&access_token, &keys, "https://as.example").is_none());
        let (other, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
        assert!(verify_hint(&hint, &[other.public_jwk().clone()], "https://as.example").is_none());
        assert!(verify_hint("a.b.c", &keys, "https://as.example").is_none());
    }
}
