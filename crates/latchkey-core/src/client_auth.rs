//! Client authentication at the token endpoint: RFC 6749 §2.3.1 (`client_secret_basic`,
//! `client_secret_post`) and public clients (`none`, RFC 6749 §2.1), which only identify themselves.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::OAuthError;
use crate::client::{Client, ClientAuth};
use crate::params::Params;
use crate::secret::ClientSecret;
use crate::types::{AuthMethod, ClientId};

/// The credentials a request carried, before any lookup.
#[derive(Debug)]
pub struct PresentedCredentials {
    /// Which method the request used.
    pub method: AuthMethod,
    /// The client the request claims to be.
    pub client_id: ClientId,
    /// `None` for a public client's `none` method.
    secret: Option<ClientSecret>,
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
                secret: Some(secret),
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
                secret: secret.map(ClientSecret::presented),
            }),
            (None, _) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
        },
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
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if secret.is_empty() {
        return Err(OAuthError::invalid_client(
            "HTTP Basic credentials carry no secret",
        ));
    }
    let client_id =
        ClientId::parse(id).map_err(|_| OAuthError::invalid_client("client_id is malformed"))?;
    Ok((client_id, ClientSecret::presented(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
fn form_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Checks presented credentials against the registered client (`None` when the client_id is unknown).
///
/// # Security
/// Every failure is the same `invalid_client` to the caller apart from its description, which never
/// says whether the client exists; the secret comparison is constant-time.
pub fn authenticate<C: std::borrow::Borrow<Client>>(
    client: Option<C>,
    presented: &PresentedCredentials,
) -> Result<C, OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let client = client.ok_or_else(failed)?;
    match (&client.borrow().auth, &presented.secret) {
        (ClientAuth::Secret { method, hash }, Some(secret)) => {
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
        (ClientAuth::Secret { .. }, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication is required: no client_secret",
            ));
        }
        // A secret sent by a public client proves nothing; accepting it would let a client believe it
        // is authenticated when it is not.
        (ClientAuth::Public, Some(_)) => {
            return Err(OAuthError::invalid_client(
                "this client is registered as public (none); it must not send a client_secret",
            ));
        }
        (ClientAuth::Public, None) => {}
    }
    Ok(client)
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

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // RFC 6749 §2.3.1: id and secret are form-encoded before Base64, so `+` is a space and `%3A` a colon.
        let header = basic("my+client", "s%3Acret%2B");
        let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
        assert_eq!(presented.client_id.as_str(), "my client");
        assert_eq!(presented.secret.unwrap().expose(), "s:cret+");
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
        assert_eq!(
            authenticate(
                Some(client(AuthMethod::ClientSecretPost, &secret)),
                &presented
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            parse_credentials(None, &mut Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            parse_credentials(Some("Basic !!!"), &mut Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            parse_credentials(Some("Bearer abc"), &mut Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            parse_credentials(Some(&basic("a", "")), &mut Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
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
                &presented
            )
            .is_ok()
        );
        let err = authenticate(
            Some(client(AuthMethod::ClientSecretPost, &secret)),
            &presented,
        )
        .unwrap_err();
        assert!(err.description.contains("client_secret_post"));
        let other = ClientSecret::generate();
        assert_eq!(
            authenticate(
                Some(client(AuthMethod::ClientSecretBasic, &other)),
                &presented
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            authenticate::<Client>(None, &presented).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn public_clients_identify_themselves_and_must_not_send_a_secret() {
        let secret = ClientSecret::generate();
        let public = || Some(client(AuthMethod::None, &secret));
        let mut params = Params::parse_urlencoded(b"client_id=my+client").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        assert!(authenticate(public(), &presented).is_ok());
        let mut params =
            Params::parse_urlencoded(b"client_id=my+client&client_secret=guess").unwrap();
        let presented = parse_credentials(None, &mut params).unwrap();
        assert_eq!(
            authenticate(public(), &presented).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let header = basic("my+client", "guess");
        let presented = parse_credentials(Some(&header), &mut Params::default()).unwrap();
        assert_eq!(
            authenticate(public(), &presented).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }
}
