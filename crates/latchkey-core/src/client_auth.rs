//! Client authentication at every endpoint that authenticates clients: RFC 6749 §2.3.1
//! (`client_secret_basic`, `client_secret_post`), RFC 7523 §2.2 (`private_key_jwt`), and public clients
//! (`none`, RFC 6749 §2.1), which only identify themselves.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::OAuthError;
use crate::client::{Client, ClientAuth};
use crate::jws::{Jws, PublicKey};
use crate::params::Params;
use crate::secret::ClientSecret;
use crate::types::{AuthMethod, ClientId, Timestamp};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Algorithms accepted for client assertions; never `none` or HMAC (a client's key is public).
pub const ASSERTION_ALGS: [&str; 4] = ["ES256", "EdDSA", "PS256", "RS256"];

/// How far ahead an assertion's `exp` may be: a short-lived proof, not a standing credential.
pub const MAX_ASSERTION_LIFETIME: u64 = 600;

/// The credentials a request carried, before any lookup.
#[derive(Debug)]
pub struct PresentedCredentials {
    /// Which method the request used.
    pub method: AuthMethod,
    /// The client the request claims to be.
    pub client_id: ClientId,
    credential: Credential,
}

#[derive(Debug)]
enum Credential {
    Secret(ClientSecret),
    Assertion(Jws),
    None,
}

/// What the server checks an assertion against.
#[derive(Debug)]
pub struct AssertionContext<'a> {
    /// This server's issuer identifier: the only acceptable `aud`.
    pub issuer: &'a str,
    /// The current time.
    pub now: Timestamp,
}

/// An authenticated client and, for an assertion, the `jti` the caller must record as used until
/// `exp` (RFC 7523 §3: a `jti` is never accepted twice).
#[derive(Debug)]
pub struct Authenticated<C> {
    /// The client.
    pub client: C,
    /// `(jti, exp)` of a verified assertion.
    pub assertion_jti: Option<(String, Timestamp)>,
}

/// The explicit type draft-ietf-oauth-rfc7523bis gives client assertions.
pub const CLIENT_AUTHENTICATION_TYP: &str = "client-authentication+jwt";

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// Reads the client's credentials from the `Authorization` header and the form, and removes them from
/// `params` so no later step can echo them.
///
/// RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
pub fn parse_credentials(
    authorization: Option<&str>,
    params: &mut Params,
) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.take("client_id");
    let body_secret = params.take("client_secret");
    let assertion_type = params.take("client_assertion_type");
    let assertion = params.take("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method",
            ));
        }
        if assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        let not_a_jwt = |_| OAuthError::invalid_client("client_assertion is not a JWT");
        let assertion = Jws::parse(&assertion).map_err(not_a_jwt)?;
        // The client is named by the assertion's `sub` (RFC 7523 §3); read unverified here only to
        // find its keys.
        let claims: AssertionClaims = assertion.claims().map_err(not_a_jwt)?;
        let sub = claims
            .sub
            .ok_or_else(|| OAuthError::invalid_client("client_assertion has no sub"))?;
        if body_id.as_ref().is_some_and(|id| *id != sub) {
            return Err(OAuthError::invalid_client(
                "client_id differs from the assertion's sub",
            ));
        }
        return Ok(PresentedCredentials {
            method: AuthMethod::PrivateKeyJwt,
            client_id: ClientId::parse(sub)
                .map_err(|_| OAuthError::invalid_client("client_assertion sub is malformed"))?,
            credential: Credential::Assertion(assertion),
        });
    }
    match authorization {
        Some(header) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "the client used more than one authentication method (HTTP Basic and client_secret)",
                ));
            }
            let (client_id, secret) = parse_basic(header)?;
            if body_id.is_some_and(|id| id != client_id.as_str()) {
                return Err(OAuthError::invalid_client(
                    "client_id in the body differs from the one in HTTP Basic",
                ));
            }
            Ok(PresentedCredentials {
                method: AuthMethod::ClientSecretBasic,
                client_id,
                credential: Credential::Secret(secret),
            })
        }
        None => match (body_id, body_secret) {
            (Some(id), secret) => Ok(PresentedCredentials {
                method: if secret.is_some() {
                    AuthMethod::ClientSecretPost
                } else {
                    AuthMethod::None
                },
                client_id: ClientId::parse(id)
                    .map_err(|_| OAuthError::invalid_client("client_id is malformed"))?,
                credential: match secret {
                    Some(secret) => Credential::Secret(ClientSecret::presented(secret)),
                    None => Credential::None,
                },
            }),
            (None, _) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
        },
    }
}

/// Refuses credentials presented by a method the endpoint does not accept under the server's policy
/// (`*_endpoint_auth_methods_supported`). Checked before any lookup, so a client registered with a
/// method that was turned off later is refused, never silently served.
pub fn check_method(
    presented: &PresentedCredentials,
    accepted: &[AuthMethod],
) -> Result<(), OAuthError> {
    if accepted.contains(&presented.method) {
        Ok(())
    } else {
        Err(OAuthError::invalid_client(format!(
            "client authentication by {} is not accepted at this endpoint",
            presented.method
        )))
    }
}

/// Decodes `Authorization: Basic`, undoing the form-encoding RFC 6749 §2.3.1 applies to id and secret.
fn parse_basic(header: &str) -> Result<(ClientId, ClientSecret), OAuthError> {
    let malformed = || {
        OAuthError::invalid_client("the Authorization header is not valid HTTP Basic credentials")
    };
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "only the Basic scheme authenticates clients here",
        ));
    }
    let decoded = STANDARD.decode(value.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = crate::params::form_decode(id.as_bytes()).ok_or_else(malformed)?;
    let secret = crate::params::form_decode(secret.as_bytes()).ok_or_else(malformed)?;
    if secret.is_empty() {
        return Err(OAuthError::invalid_client(
            "HTTP Basic credentials carry no secret",
        ));
    }
    let client_id =
        ClientId::parse(id).map_err(|_| OAuthError::invalid_client("client_id is malformed"))?;
    Ok((client_id, ClientSecret::presented(secret)))
}

/// Checks presented credentials against the registered client (`None` when the client_id is unknown).
///
/// # Security
/// Every failure is the same `invalid_client` to the caller apart from its description, which never
/// says whether the client exists; the secret comparison is constant-time; an assertion's algorithm
/// comes from the allow-list, its key from the client's registration.
pub fn authenticate<C: std::borrow::Borrow<Client>>(
    client: Option<C>,
    presented: &PresentedCredentials,
    context: &AssertionContext<'_>,
) -> Result<Authenticated<C>, OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let client = client.ok_or_else(failed)?;
    let mut assertion_jti = None;
    match (&client.borrow().auth, &presented.credential) {
        (ClientAuth::Secret { method, hash }, Credential::Secret(secret)) => {
            if !secret.verify(hash) {
                return Err(failed());
            }
            if *method != presented.method {
                return Err(OAuthError::invalid_client(format!(
                    "this client is registered for {method}, not {}",
                    presented.method
                )));
            }
        }
        (ClientAuth::PrivateKeyJwt { jwks, .. }, Credential::Assertion(jwt)) => {
            assertion_jti = Some(verify_assertion(
                jwt,
                jwks,
                &client.borrow().client_id,
                context,
            )?);
        }
        (ClientAuth::Public, Credential::None) => {}
        // A secret sent by a public client proves nothing; accepting it would let a client believe it
        // is authenticated when it is not.
        (ClientAuth::Public, _) => {
            return Err(OAuthError::invalid_client(
                "this client is registered as public (none); it must not send credentials",
            ));
        }
        (registered, _) => {
            return Err(OAuthError::invalid_client(format!(
                "client authentication is required: this client is registered for {}",
                registered.method()
            )));
        }
    }
    Ok(Authenticated {
        client,
        assertion_jti,
    })
}

/// RFC 7523 §3 checks of a client assertion; returns its `(jti, exp)`.
fn verify_assertion(
    jwt: &Jws,
    jwks: &[serde_json::Value],
    client_id: &ClientId,
    context: &AssertionContext<'_>,
) -> Result<(String, Timestamp), OAuthError> {
    let invalid = |why: &'static str| OAuthError::invalid_client(why);
    let header = jwt.header();
    if !ASSERTION_ALGS.contains(&header.alg.as_str()) {
        return Err(invalid(
            "client_assertion alg must be ES256, EdDSA, PS256 or RS256",
        ));
    }
    // A JWT made for something else (an access token, an ID token) is never a client assertion.
    let typ = header.typ.as_deref().map(|t| {
        let t = t.to_ascii_lowercase();
        t.strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(t)
    });
    if !matches!(
        typ.as_deref(),
        None | Some("jwt" | CLIENT_AUTHENTICATION_TYP)
    ) {
        return Err(invalid(
            "client_assertion typ must be client-authentication+jwt (or JWT)",
        ));
    }
    let candidates = jwks.iter().filter(|k| match &header.kid {
        Some(kid) => k.get("kid").and_then(|v| v.as_str()) == Some(kid.as_str()),
        None => true,
    });
    let verified = candidates
        .filter_map(|k| PublicKey::from_client_jwk(k).ok())
        .any(|key| jwt.verify(&key).is_ok());
    if !verified {
        return Err(invalid(
            "client_assertion is not signed by a key registered for this client",
        ));
    }
    let claims: AssertionClaims = jwt
        .claims()
        .map_err(|_| invalid("client_assertion claims are malformed"))?;
    if claims.iss.as_deref() != Some(client_id.as_str())
        || claims.sub.as_deref() != Some(client_id.as_str())
    {
        return Err(invalid(
            "client_assertion iss and sub must be the client_id",
        ));
    }
    // M7: the issuer identifier and nothing else (draft-ietf-oauth-rfc7523bis §5). Endpoint URLs or an
    // array with other members are the audience-injection pattern: an assertion a client was led to
    // make for another server, whose metadata named our token endpoint, would be accepted here. An
    // array holding exactly the issuer means the same as the string (some JWT libraries always write
    // arrays), so it is accepted during the transition the draft describes.
    let audience_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => a == context.issuer,
        Some(serde_json::Value::Array(list)) => {
            matches!(list.as_slice(), [serde_json::Value::String(a)] if a == context.issuer)
        }
        _ => false,
    };
    if !audience_ok {
        return Err(invalid(
            "client_assertion aud must be this server's issuer identifier",
        ));
    }
    let exp = Timestamp(
        claims
            .exp
            .ok_or_else(|| invalid("client_assertion has no exp"))?,
    );
    if exp <= context.now {
        return Err(invalid("client_assertion has expired"));
    }
    if exp > context.now.plus(MAX_ASSERTION_LIFETIME) {
        return Err(invalid(
            "client_assertion exp is too far ahead (10 minutes at most)",
        ));
    }
    if claims
        .nbf
        .is_some_and(|nbf| Timestamp(nbf) > context.now.plus(60))
    {
        return Err(invalid("client_assertion is not valid yet"));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid("client_assertion needs a jti"))?;
    Ok((jti, exp))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ErrorCode;
    use crate::types::{Scope, Timestamp};

    fn client(method: AuthMethod, secret: &ClientSecret) -> Client {
        Client {
            client_id: ClientId::parse("my client").unwrap(),
            name: "test".into(),
            auth: match method {
                AuthMethod::None => ClientAuth::Public,
                method => ClientAuth::Secret {
                    method,
                    hash: secret.hash(),
                },
            },
            grant_types: BTreeSet::new(),
            scope: Scope::default(),
            redirect_uris: vec![],
            created_at: Timestamp(0),
            policy: crate::client::ClientPolicy::default(),
        }
    }

    fn ctx() -> AssertionContext<'static> {
        AssertionContext {
            issuer: "https://as.example",
            now: Timestamp(1000),
        }
    }

    /// Why `authenticate` refused `presented` for `registered`.
    fn refused(registered: Option<Client>, presented: &PresentedCredentials) -> ErrorCode {
        authenticate(registered, presented, &ctx())
            .unwrap_err()
            .code
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // RFC 6749 §2.3.1: id and secret are form-encoded before Base64, so `+` is a space and `%3A` a colon.
        let header = basic("my+client", "s%3Acret%2B");
        let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
        assert_eq!(presented.client_id.as_str(), "my client");
        let Credential::Secret(secret) = presented.credential else {
            panic!("a secret")
        };
        assert_eq!(secret.expose(), "s:cret+");
    }

    #[test]
    fn a_method_the_endpoint_does_not_accept_is_invalid_client() {
        let mut params = Params::parse_urlencoded(b"client_id=a").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        let err = check_method(&presented, &[AuthMethod::ClientSecretBasic]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient);
        assert!(err.description().contains("none"));
        assert!(check_method(&presented, &[AuthMethod::None]).is_ok());
    }

    #[test]
    fn two_methods_in_one_request_is_invalid_request() {
        let mut params = Params::parse_urlencoded(b"client_id=a&client_secret=b").unwrap();
        let err = parse_credentials(Some(&basic("a", "b")), &mut params).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn missing_secret_or_credentials_is_invalid_client() {
        let mut params = Params::parse_urlencoded(b"client_id=a").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        assert_eq!(presented.method, AuthMethod::None);
        let secret = ClientSecret::generate();
        let registered = client(AuthMethod::ClientSecretPost, &secret);
        assert_eq!(
            refused(Some(registered), &presented),
            ErrorCode::InvalidClient
        );
        for header in [
            None,
            Some("Basic !!!"),
            Some("Bearer abc"),
            Some(&basic("a", "")),
        ] {
            let err = parse_credentials(header, &mut Params::default()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClient, "{header:?}");
        }
    }

    #[test]
    fn credentials_are_removed_from_the_parameters() {
        let mut params =
            Params::parse_urlencoded(b"client_id=a&client_secret=b&grant_type=client_credentials")
                .unwrap();
        parse_credentials(None, &mut params).unwrap();
        assert_eq!(params.get("client_secret"), None);
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn authenticate_checks_secret_and_registered_method() {
        let secret = ClientSecret::generate();
        let header = basic("my+client", secret.expose());
        let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
        assert!(
            authenticate(
                Some(client(AuthMethod::ClientSecretBasic, &secret)),
                &presented,
                &ctx()
            )
            .is_ok()
        );
        let err = authenticate(
            Some(client(AuthMethod::ClientSecretPost, &secret)),
            &presented,
            &ctx(),
        )
        .unwrap_err();
        assert!(err.description().contains("client_secret_post"));
        let other = client(AuthMethod::ClientSecretBasic, &ClientSecret::generate());
        assert_eq!(refused(Some(other), &presented), ErrorCode::InvalidClient);
        assert_eq!(refused(None, &presented), ErrorCode::InvalidClient);
    }

    #[test]
    fn public_clients_identify_themselves_and_must_not_send_a_secret() {
        let secret = ClientSecret::generate();
        let public = || Some(client(AuthMethod::None, &secret));
        let mut params = Params::parse_urlencoded(b"client_id=my+client").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        assert!(authenticate(public(), &presented, &ctx()).is_ok());
        let mut params =
            Params::parse_urlencoded(b"client_id=my+client&client_secret=guess").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        assert_eq!(
            authenticate(public(), &presented, &ctx()).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let header = basic("my+client", "guess");
        let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
        assert_eq!(
            authenticate(public(), &presented, &ctx()).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    mod assertions {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;

        use super::*;
        use crate::keys::{KeyAlg, SigningKey};
        use serde_json::json;

        fn key_client(key: &SigningKey) -> Client {
            let mut c = client(AuthMethod::ClientSecretBasic, &ClientSecret::generate());
            c.client_id = ClientId::parse("svc").unwrap();
            c.auth = ClientAuth::PrivateKeyJwt {
                jwks: vec![serde_json::to_value(key.public_jwk()).unwrap()],
                jwks_uri: None,
            };
            c
        }

        fn assertion(key: &SigningKey, alg: &str, claims: serde_json::Value) -> String {
            typed(key, alg, "JWT", claims)
        }

        fn typed(key: &SigningKey, alg: &str, typ: &str, claims: serde_json::Value) -> String {
            let header = URL_SAFE_NO_PAD
                .encode(json!({"alg": alg, "kid": key.kid(), "typ": typ}).to_string());
            let body = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{header}.{body}");
            let sig = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).unwrap());
            format!("{signed}.{sig}")
        }

        fn good() -> serde_json::Value {
            json!({"iss": "svc", "sub": "svc", "aud": "https://as.example", "exp": 1300, "jti": "j-1"})
        }

        fn check(key: &SigningKey, jwt: &str) -> Result<Authenticated<Client>, OAuthError> {
            let body = format!(
                "client_assertion_type={}&client_assertion={jwt}",
                JWT_BEARER
            );
            let mut params = Params::parse_urlencoded(body.as_bytes()).unwrap();
            let presented = parse_credentials(None, &mut params)?;
            assert_eq!(presented.method, AuthMethod::PrivateKeyJwt);
            authenticate(Some(key_client(key)), &presented, &ctx())
        }

        #[test]
        fn a_signed_assertion_authenticates_and_yields_its_jti() {
            for alg in [KeyAlg::ES256, KeyAlg::EdDSA, KeyAlg::RS256] {
                let (key, _) = SigningKey::generate(alg).unwrap();
                let done = check(&key, &assertion(&key, alg.as_str(), good())).unwrap();
                assert_eq!(
                    done.assertion_jti,
                    Some(("j-1".into(), Timestamp(1300))),
                    "{alg}"
                );
            }
        }

        #[test]
        fn m7_the_audience_is_the_issuer_alone_and_typ_client_authentication_jwt_is_accepted() {
            let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
            let with_aud = |aud: serde_json::Value| {
                let mut c = good();
                c["aud"] = aud;
                c
            };
            for aud in [json!("https://as.example"), json!(["https://as.example"])] {
                assert!(
                    check(&key, &assertion(&key, "ES256", with_aud(aud.clone()))).is_ok(),
                    "{aud}"
                );
            }
            for aud in [
                json!("https://as.example/token"),
                json!("https://as.example/introspect"),
                json!(["https://other.example", "https://as.example"]),
                json!(["https://as.example", "https://as.example/token"]),
                json!([]),
            ] {
                let err =
                    check(&key, &assertion(&key, "ES256", with_aud(aud.clone()))).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidClient, "{aud}");
            }
            assert!(
                check(
                    &key,
                    &typed(&key, "ES256", "client-authentication+jwt", good())
                )
                .is_ok()
            );
            assert!(
                check(
                    &key,
                    &typed(
                        &key,
                        "ES256",
                        "application/client-authentication+jwt",
                        good()
                    )
                )
                .is_ok()
            );
            let err = check(&key, &typed(&key, "ES256", "at+jwt", good())).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClient);
        }

        #[test]
        fn every_broken_assertion_is_invalid_client() {
            let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
            let (other, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
            let with = |field: &str, value: serde_json::Value| {
                let mut c = good();
                c[field] = value;
                c
            };
            let mut no_jti = good();
            no_jti.as_object_mut().unwrap().remove("jti");
            let mut no_exp = good();
            no_exp.as_object_mut().unwrap().remove("exp");
            let cases = [
                (
                    "wrong audience",
                    assertion(&key, "ES256", with("aud", json!("https://evil.example"))),
                ),
                ("expired", assertion(&key, "ES256", with("exp", json!(999)))),
                (
                    "too far ahead",
                    assertion(&key, "ES256", with("exp", json!(1000 + 601))),
                ),
                ("no exp", assertion(&key, "ES256", no_exp)),
                ("no jti", assertion(&key, "ES256", no_jti)),
                (
                    "iss differs",
                    assertion(&key, "ES256", with("iss", json!("someone"))),
                ),
                ("unknown key", assertion(&other, "ES256", good())),
                ("alg mismatch", assertion(&key, "RS256", good())),
            ];
            for (why, jwt) in cases {
                assert_eq!(
                    check(&key, &jwt).unwrap_err().code,
                    ErrorCode::InvalidClient,
                    "{why}"
                );
            }
            // alg none and HMAC are refused outright.
            for alg in ["none", "HS256"] {
                let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
                let body = URL_SAFE_NO_PAD.encode(good().to_string());
                let jwt = format!("{header}.{body}.");
                assert_eq!(
                    check(&key, &jwt).unwrap_err().code,
                    ErrorCode::InvalidClient,
                    "{alg}"
                );
            }
            // A wrong assertion type, or an assertion beside a secret.
            let mut params =
                Params::parse_urlencoded(b"client_assertion_type=urn:x&client_assertion=a.b.c")
                    .unwrap();
            assert_eq!(
                parse_credentials(None, &mut params).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
            let body = format!(
                "client_assertion_type={JWT_BEARER}&client_assertion=a.b.c&client_secret=s"
            );
            let mut params = Params::parse_urlencoded(body.as_bytes()).unwrap();
            assert_eq!(
                parse_credentials(None, &mut params).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }

        #[test]
        fn a_secret_client_cannot_use_an_assertion_and_vice_versa() {
            let (key, _) = SigningKey::generate(KeyAlg::ES256).unwrap();
            let jwt = assertion(&key, "ES256", good());
            let body = format!("client_assertion_type={JWT_BEARER}&client_assertion={jwt}");
            let mut params = Params::parse_urlencoded(body.as_bytes()).unwrap();
            let presented = parse_credentials(None, &mut params).unwrap();
            let mut secret_client =
                client(AuthMethod::ClientSecretBasic, &ClientSecret::generate());
            secret_client.client_id = ClientId::parse("svc").unwrap();
            assert!(authenticate(Some(secret_client), &presented, &ctx()).is_err());
            let header = basic("svc", "x");
            let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
            assert!(authenticate(Some(key_client(&key)), &presented, &ctx()).is_err());
        }
    }
}
