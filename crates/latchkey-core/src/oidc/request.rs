//! The parameters an OpenID Connect authentication request adds to an authorization request (Core
//! §3.1.2.1), parsed once. The rules that need the session or the keys (`max_age`, `id_token_hint`, a
//! demanded `sub`) are methods the authorization endpoint calls with what it loaded.
use crate::OAuthError;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::client::OpenIdClient;
use crate::params::Params;
use crate::types::Timestamp;

/// Longest `nonce` kept: it is stored with the code and echoed in the ID token.
const MAX_NONCE: usize = 512;

/// An authentication request's OpenID parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenIdRequest {
    /// `nonce`, echoed in the ID token exactly. Optional for the code flow (Core §3.1.2.1).
    pub nonce: Option<String>,
    /// `max_age`, or the client's `default_max_age`: the longest time since the user authenticated.
    pub max_age: Option<u64>,
    /// `id_token_hint`, as sent; the endpoint verifies it with its keys.
    pub id_token_hint: Option<String>,
    /// `login_hint`, which prefills the username.
    pub login_hint: Option<String>,
    /// `claims` (Core §5.5).
    pub claims: ClaimsRequest,
    /// `claims_locales`. Claims are stored in one language, so this changes nothing.
    pub claims_locales: Option<String>,
    /// `acr_values`, also folded into `claims` as a voluntary `acr` request (Core §3.1.2.1).
    pub acr_values: Option<String>,
}

/// `request` and `request_uri` (Core §6) are refused with `request_not_supported` and
/// `request_uri_not_supported` (§6.1, §6.2), as the metadata says (`request_parameter_supported` and
/// `request_uri_parameter_supported` are false).
pub fn refuse_request_objects(params: &Params) -> Result<(), OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::request_not_supported(
            "request objects are not supported; send the parameters in the query",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::request_uri_not_supported(
            "request_uri is not supported; send the parameters in the query",
        ));
    }
    Ok(())
}

impl OpenIdRequest {
    /// Parses the OpenID parameters of a request for `client`.
    ///
    /// `request` and `request_uri` (Core §6) are refused with `request_not_supported` and
    /// `request_uri_not_supported`, as the metadata says; `display` must be one of Core's values.
    pub fn parse(params: &Params, client: &OpenIdClient) -> Result<OpenIdRequest, OAuthError> {
        refuse_request_objects(params)?;
        if let Some(display) = params.get("display")
            && !matches!(display, "page" | "popup" | "touch" | "wap")
        {
            return Err(OAuthError::invalid_request(
                "display must be page, popup, touch or wap",
            ));
        }
        let nonce = params.get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
            return Err(OAuthError::invalid_request(
                "nonce is longer than 512 characters",
            ));
        }
        let max_age = match params.get("max_age") {
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                OAuthError::invalid_request("max_age must be a non-negative number of seconds")
            })?),
            None => client.default_max_age,
        };
        let mut claims = match params.get("claims") {
            Some(text) => ClaimsRequest::parse(text)?,
            None => ClaimsRequest::default(),
        };
        if let Some(values) = params.get("acr_values") {
            claims.request_acr_values(values);
        }
        // N-L8: an essential acr no sign-in here can meet fails the request now (Core §5.5.1.1).
        claims.acr()?;
        Ok(OpenIdRequest {
            nonce,
            max_age,
            id_token_hint: params.get("id_token_hint").map(str::to_owned),
            login_hint: params.get("login_hint").map(str::to_owned),
            claims,
            claims_locales: params.get("claims_locales").map(str::to_owned),
            acr_values: params.get("acr_values").map(str::to_owned),
        })
    }

    /// Whether a session that authenticated at `auth_time` is too old for `max_age` (Core §3.1.2.1:
    /// the user must then authenticate again). `max_age=0` always asks, like `prompt=login`.
    pub fn needs_fresh_login(&self, auth_time: Timestamp, now: Timestamp) -> bool {
        match self.max_age {
            None => false,
            Some(0) => true,
            Some(max) => now.0.saturating_sub(auth_time.0) > i64::try_from(max).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn parse(query: &str) -> Result<OpenIdRequest, OAuthError> {
        OpenIdRequest::parse(
            &Params::parse_urlencoded(query.as_bytes()).unwrap(),
            &OpenIdClient::default(),
        )
    }

    #[test]
    fn every_parameter_is_read() {
        let r = parse("nonce=n1&max_age=300&id_token_hint=a.b.c&login_hint=maria&claims_locales=es&acr_values=1+2&display=popup&claims=%7B%22id_token%22%3A%7B%22email%22%3Anull%7D%7D").unwrap();
        assert_eq!(r.nonce.as_deref(), Some("n1"));
        assert_eq!(r.max_age, Some(300));
        assert_eq!(r.id_token_hint.as_deref(), Some("a.b.c"));
        assert_eq!(r.login_hint.as_deref(), Some("maria"));
        assert!(r.claims.id_token.contains_key("email"));
        assert_eq!(r.acr_values.as_deref(), Some("1 2"));
        assert_eq!(parse("").unwrap(), OpenIdRequest::default());
    }

    #[test]
    fn request_objects_and_bad_values_are_refused() {
        for (query, code) in [
            ("request=eyJ.eyJ.", ErrorCode::RequestNotSupported),
            (
                "request_uri=https%3A%2F%2Fa.example%2Fr",
                ErrorCode::RequestUriNotSupported,
            ),
            ("max_age=-1", ErrorCode::InvalidRequest),
            ("max_age=soon", ErrorCode::InvalidRequest),
            ("display=fullscreen", ErrorCode::InvalidRequest),
            ("claims=nope", ErrorCode::InvalidRequest),
        ] {
            assert_eq!(parse(query).unwrap_err().code, code, "{query}");
        }
        assert!(parse(&format!("nonce={}", "n".repeat(513))).is_err());
    }

    #[test]
    fn max_age_defaults_to_the_client_and_decides_reauthentication() {
        let client = OpenIdClient {
            default_max_age: Some(60),
            ..OpenIdClient::default()
        };
        let r = OpenIdRequest::parse(&Params::default(), &client).unwrap();
        assert_eq!(r.max_age, Some(60));
        assert!(!r.needs_fresh_login(Timestamp(1000), Timestamp(1060)));
        assert!(r.needs_fresh_login(Timestamp(1000), Timestamp(1061)));
        let zero = parse("max_age=0").unwrap();
        assert!(zero.needs_fresh_login(Timestamp(1000), Timestamp(1000)));
        let none = parse("").unwrap();
        assert!(!none.needs_fresh_login(Timestamp(0), Timestamp(1_000_000)));
    }

    #[test]
    fn n_l8_an_essential_acr_that_cannot_be_met_fails_the_request() {
        let with = |query: &str| {
            OpenIdRequest::parse(
                &Params::parse_urlencoded(query.as_bytes()).unwrap(),
                &OpenIdClient::default(),
            )
        };
        let claims = |spec: &str| {
            format!(
                "claims={}",
                url::form_urlencoded::byte_serialize(
                    format!(r#"{{"id_token":{{"acr":{spec}}}}}"#).as_bytes()
                )
                .collect::<String>()
            )
        };
        let mfa = with(&claims(
            r#"{"essential":true,"values":["urn:example:mfa"]}"#,
        ))
        .unwrap_err();
        assert_eq!(mfa.code, crate::ErrorCode::AccessDenied);
        let one = with(&claims(r#"{"essential":true,"value":"urn:example:mfa"}"#)).unwrap_err();
        assert_eq!(one.code, crate::ErrorCode::AccessDenied);
        // What can be met, or what is only voluntary, gets the password context.
        for query in [
            claims(
                r#"{"essential":true,"values":["urn:example:mfa","urn:latchkey:acr:password"]}"#,
            ),
            claims(r#"{"values":["urn:example:mfa"]}"#),
            claims("null"),
            "acr_values=urn%3Aexample%3Amfa+urn%3Alatchkey%3Aacr%3Apassword".to_owned(),
            "acr_values=urn%3Aexample%3Amfa".to_owned(),
        ] {
            let r = with(&query).unwrap();
            assert_eq!(
                r.claims.acr().unwrap(),
                Some(crate::oidc::ACR_PASSWORD),
                "{query}"
            );
        }
        assert_eq!(with("nonce=n").unwrap().claims.acr().unwrap(), None);
    }
}
