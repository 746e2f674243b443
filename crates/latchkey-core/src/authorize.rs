//! The authorization request and response (RFC 6749 §4.1.1-4.1.2, OAuth 2.1 §4.1, RFC 9207 `iss`).
//!
//! An error found before the client and its `redirect_uri` are trusted is shown to the user and never
//! redirected; an error found after is sent back to that `redirect_uri`. The two are separate variants,
//! so nothing can redirect to an unchecked URI.
use url::Url;

use crate::OAuthError;
use crate::client::Client;
use crate::oidc::request::OpenIdRequest;
use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::types::{GrantType, ResourceUri, Scope};

/// A validated authorization request.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    /// The client, as registered.
    pub client: Client,
    /// Where the response goes: a registered URI (or a loopback one differing only in port).
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri`, in which case the token request must repeat it.
    pub redirect_uri_sent: bool,
    /// `state`, returned unchanged.
    pub state: Option<String>,
    /// The requested scope (the client's allowed set when the request names none).
    pub scope: Scope,
    /// The PKCE challenge; `None` only for a confidential client's OpenID request with a `nonce`.
    pub code_challenge: Option<CodeChallenge>,
    /// `prompt`.
    pub prompt: Prompt,
    /// RFC 8707 `resource`: the audience of the tokens.
    pub resource: Option<ResourceUri>,
    /// `ui_locales`, the user's preferred languages for the pages.
    pub ui_locales: Option<String>,
    /// The OpenID Connect parameters, when OpenID is on and the scope holds `openid`.
    pub openid: Option<OpenIdRequest>,
}

/// What an OpenID Provider decides for every authentication request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenIdDefaults {
    /// `[openid] require_pkce_for_confidential_clients`: whether a confidential client's OpenID
    /// request needs PKCE or a `nonce` (OAuth 2.1 §7.5.1), unless its registration says otherwise.
    pub require_pkce_for_confidential_clients: bool,
}

impl Default for OpenIdDefaults {
    fn default() -> Self {
        OpenIdDefaults {
            require_pkce_for_confidential_clients: true,
        }
    }
}

/// `prompt` values (OpenID Connect Core §3.1.2.1), the ones an OAuth server has use for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show no page: answer at once or fail with `login_required` / `consent_required`.
    pub none: bool,
    /// Sign the user in again even with a session.
    pub login: bool,
    /// Ask for consent again even when it is remembered.
    pub consent: bool,
}

/// Why an authorization request failed, and where the answer goes.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or `redirect_uri` cannot be trusted: show an error page, redirect nowhere.
    Page(OAuthError),
    /// Send `error` to the checked `redirect_uri`.
    Redirect(ErrorRedirect),
}

/// An error response to a trusted `redirect_uri`.
#[derive(Debug)]
pub struct ErrorRedirect {
    /// The checked redirect URI.
    pub redirect_uri: String,
    /// `state` from the request.
    pub state: Option<String>,
    /// The error.
    pub error: OAuthError,
}

impl ErrorRedirect {
    /// The URL to redirect the user agent to, with `error`, `error_description`, `state` and `iss`.
    pub fn location(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error.code.as_str()),
            ("error_description", self.error.description()),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        append_query(&self.redirect_uri, &pairs)
    }
}

fn undecodable(params: &Params) -> OAuthError {
    params
        .undecodable()
        .unwrap_or_else(|| OAuthError::invalid_request("a parameter could not be decoded"))
}

/// The `client_id` an authorization request names, for the caller to load the client.
pub fn requested_client_id(params: &Params) -> Result<crate::types::ClientId, AuthorizeError> {
    if params.is_undecodable("client_id") {
        return Err(AuthorizeError::Page(undecodable(params)));
    }
    let id = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page(OAuthError::invalid_request("client_id is missing")))?;
    crate::types::ClientId::parse(id).map_err(AuthorizeError::Page)
}

impl AuthorizationRequest {
    /// Validates an OAuth request for `client` (`None`: the client_id is unknown). A parameter that
    /// could not be decoded (`Params::parse_urlencoded_partly`) is `invalid_request`, shown when it is
    /// the client or redirect URI, and otherwise sent back (without `state` when that is the one).
    pub fn parse(params: &Params, client: Option<Client>) -> Result<Self, AuthorizeError> {
        Self::parse_with(params, client, false)
    }

    /// Validates a request for `client`; with `openid`, a request whose scope holds `openid` is an
    /// OpenID Connect authentication request (Core §3.1.2.1) and its parameters are read too.
    pub fn parse_with(
        params: &Params,
        client: Option<Client>,
        openid: bool,
    ) -> Result<Self, AuthorizeError> {
        Self::parse_openid(params, client, openid.then(OpenIdDefaults::default))
    }

    /// Validates a request for `client` on a server that is an OpenID Provider when `openid` is
    /// `Some`, with that provider's defaults.
    pub fn parse_openid(
        params: &Params,
        client: Option<Client>,
        defaults: Option<OpenIdDefaults>,
    ) -> Result<Self, AuthorizeError> {
        let openid = defaults.is_some();
        let client = client.ok_or_else(|| {
            AuthorizeError::Page(OAuthError::invalid_request(
                "the client_id is not registered here",
            ))
        })?;
        let (redirect_uri, redirect_uri_sent) =
            trusted_redirect_uri(params, &client).map_err(AuthorizeError::Page)?;
        let state = params.get("state").map(str::to_owned);
        let redirect = |error: OAuthError| {
            AuthorizeError::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                error,
            })
        };

        if let Some(error) = params.undecodable() {
            return Err(redirect(error));
        }
        check_response_type(params.get("response_type")).map_err(redirect)?;
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(redirect(OAuthError::unauthorized_client(
                "this client may not use the authorization code grant",
            )));
        }
        let requested = params
            .get("scope")
            .map(Scope::parse)
            .transpose()
            .map_err(redirect)?;
        let scope = client
            .requested_scope(requested.as_ref())
            .map_err(redirect)?;
        // Core §6.1, §6.2: a provider that does not support request objects MUST answer
        // `request_not_supported` / `request_uri_not_supported`, whatever else the request lacks; a
        // request carried in a request object has nothing else, so this comes before PKCE.
        if openid {
            crate::oidc::request::refuse_request_objects(params).map_err(redirect)?;
        }
        let openid = openid && scope.contains(crate::oidc::OPENID_SCOPE);
        // N-I3: OpenID Connect Core §3.1.2.1 makes `redirect_uri` REQUIRED in an authentication
        // request, where OAuth 2.1 lets a client with one registered URI leave it out.
        if openid && !redirect_uri_sent {
            return Err(redirect(OAuthError::invalid_request(
                "redirect_uri is required in an OpenID Connect authentication request",
            )));
        }
        // OAuth 2.1 §7.5.1: a confidential client may bind the code to its transaction with the
        // OpenID Connect `nonce` instead of PKCE (the ID token echoes it); every other request needs
        // PKCE. The token endpoint then refuses a `code_verifier` (RFC 9700 §2.1.1 downgrade).
        // Core §3.1.2.1 makes both optional: where the operator (or the client's registration)
        // turned `require_pkce` off, a confidential client's OpenID request may send neither, and
        // the code is bound by the client's authentication and redirect URI alone. A public client
        // always needs PKCE: anyone can redeem its codes.
        let require_pkce = client
            .policy
            .openid
            .require_pkce
            .or(defaults.map(|d| d.require_pkce_for_confidential_clients))
            .unwrap_or(true);
        let pkce_optional =
            openid && !client.is_public() && (params.get("nonce").is_some() || !require_pkce);
        let code_challenge = match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (None, None) if pkce_optional => None,
            (challenge, method) => Some(CodeChallenge::parse(challenge, method).map_err(redirect)?),
        };
        let prompt = parse_prompt(params.get("prompt"), openid).map_err(redirect)?;
        let openid = match openid {
            true => Some(OpenIdRequest::parse(params, &client.policy.openid).map_err(redirect)?),
            false => None,
        };
        let resource = params
            .get("resource")
            .map(ResourceUri::parse)
            .transpose()
            .map_err(redirect)?;
        Ok(AuthorizationRequest {
            client,
            redirect_uri,
            redirect_uri_sent,
            state,
            scope,
            code_challenge,
            prompt,
            resource,
            ui_locales: params.get("ui_locales").map(str::to_owned),
            openid,
        })
    }

    /// An error response for this request.
    pub fn error(&self, error: OAuthError) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
        }
    }

    /// The successful response (RFC 6749 §4.1.2 plus RFC 9207 `iss`).
    pub fn success_location(&self, code: &str, issuer: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// The redirect URI errors may be sent to, once it is known to be registered (RFC 6749 §3.1.2.4:
/// until then an error is shown, never redirected), and whether the request named it. OAuth 2.1
/// §4.1.1: it may be omitted only when exactly one is registered.
fn trusted_redirect_uri(params: &Params, client: &Client) -> Result<(String, bool), OAuthError> {
    if params.is_undecodable("redirect_uri") {
        return Err(undecodable(params));
    }
    match (params.get("redirect_uri"), client.redirect_uris.as_slice()) {
        (Some(requested), registered) => match registered.iter().any(|r| r.matches(requested)) {
            true => Ok((requested.to_owned(), true)),
            false => Err(OAuthError::invalid_request(
                "redirect_uri does not match any URI registered for this client",
            )),
        },
        (None, [only]) => Ok((only.as_str().to_owned(), false)),
        (None, []) => Err(OAuthError::invalid_request(
            "this client has no registered redirect_uri",
        )),
        (None, _) => Err(OAuthError::invalid_request(
            "redirect_uri is required: this client registered several",
        )),
    }
}

/// RFC 6749 §4.1.1: `response_type` is required, and `code` is the only one offered.
fn check_response_type(value: Option<&str>) -> Result<(), OAuthError> {
    match value {
        Some("code") => Ok(()),
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some(_) => Err(OAuthError::unsupported_response_type(
            "only response_type=code is supported",
        )),
    }
}

fn parse_prompt(value: Option<&str>, openid: bool) -> Result<Prompt, OAuthError> {
    let mut prompt = Prompt::default();
    let mut select_account = false;
    for word in value.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
        match word {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" if openid => select_account = true,
            _ => {
                return Err(OAuthError::invalid_request(
                    "prompt must be none, login or consent",
                ));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent || select_account) {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with another value",
        ));
    }
    // Core §3.1.2.6: a person signs in to one account at a time here; there is nothing to select.
    if select_account {
        return Err(OAuthError::account_selection_required(
            "this server does not offer a choice of accounts",
        ));
    }
    Ok(prompt)
}

/// Adds parameters to a URI's query, keeping any query it already has (RFC 6749 §3.1.2).
fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.into()
        }
        // Registered URIs are absolute; this branch only keeps the function total.
        Err(_) => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::client::ClientAuth;
    use crate::types::{ClientId, RedirectUri, Timestamp};

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: ClientId::parse("app").unwrap(),
            name: "App".into(),
            auth: ClientAuth::Public,
            grant_types: [GrantType::AuthorizationCode].into(),
            scope: Scope::parse("read write").unwrap(),
            redirect_uris: uris
                .iter()
                .map(|u| RedirectUri::parse(*u).unwrap())
                .collect(),
            created_at: Timestamp(0),
            policy: crate::client::ClientPolicy::default(),
        }
    }

    fn parse(query: &str, client: Option<Client>) -> Result<AuthorizationRequest, AuthorizeError> {
        AuthorizationRequest::parse(&Params::parse_urlencoded(query.as_bytes()).unwrap(), client)
    }

    fn good(extra: &str) -> String {
        format!(
            "client_id=app&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256&state=xyz{extra}"
        )
    }

    fn redirected(result: Result<AuthorizationRequest, AuthorizeError>) -> ErrorRedirect {
        match result {
            Err(AuthorizeError::Redirect(r)) => r,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_parses_with_defaults() {
        let req = parse(&good(""), Some(client(&["https://app.example/cb"]))).unwrap();
        assert_eq!(req.redirect_uri, "https://app.example/cb");
        assert!(!req.redirect_uri_sent);
        assert_eq!(req.scope.to_string(), "read write");
        assert_eq!(req.state.as_deref(), Some("xyz"));
        assert_eq!(
            req.success_location("c0de", "https://as.example"),
            "https://app.example/cb?code=c0de&state=xyz&iss=https%3A%2F%2Fas.example"
        );
    }

    #[test]
    fn undecodable_parameters_are_invalid_request_shown_or_sent_back() {
        let partly = |query: &str| Params::parse_urlencoded_partly(query.as_bytes()).unwrap();
        let one = || Some(client(&["https://app.example/cb"]));
        // The state is the broken one: sent back without it, never a lossy copy of it.
        let sent = redirected(AuthorizationRequest::parse(
            &partly(&good("").replace("state=xyz", "state=%FF%FE")),
            one(),
        ));
        assert_eq!(sent.error.code, ErrorCode::InvalidRequest);
        assert_eq!(sent.state, None);
        let sent = redirected(AuthorizationRequest::parse(
            &partly(&good("&scope=%C3")),
            one(),
        ));
        assert_eq!(sent.state.as_deref(), Some("xyz"));
        // The client or redirect URI is the broken one: an error page.
        let page = AuthorizationRequest::parse(&partly(&good("&redirect_uri=%FF")), one());
        assert!(
            matches!(page, Err(AuthorizeError::Page(e)) if e.code == ErrorCode::InvalidRequest)
        );
        let page = requested_client_id(&partly("client_id=%FF&state=xyz"));
        assert!(
            matches!(page, Err(AuthorizeError::Page(e)) if e.code == ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn untrusted_client_or_redirect_uri_never_redirects() {
        let two = client(&["https://app.example/a", "https://app.example/b"]);
        for (query, client) in [
            (good(""), None),
            (
                good("&redirect_uri=https://evil.example/cb"),
                Some(two.clone()),
            ),
            (good(""), Some(two)),
            (good(""), Some(client(&[]))),
        ] {
            assert!(
                matches!(parse(&query, client), Err(AuthorizeError::Page(_))),
                "{query}"
            );
        }
        let missing = AuthorizationRequest::parse(&Params::default(), None);
        assert!(matches!(missing, Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn other_errors_redirect_with_state() {
        let c = || Some(client(&["https://app.example/cb?x=1"]));
        let cases = [
            ("client_id=app&state=s", ErrorCode::InvalidRequest),
            (
                "client_id=app&response_type=token&state=s",
                ErrorCode::UnsupportedResponseType,
            ),
            (
                "client_id=app&response_type=code&state=s",
                ErrorCode::InvalidRequest,
            ),
            (
                &format!("client_id=app&response_type=code&code_challenge={CHALLENGE}&state=s"),
                ErrorCode::InvalidRequest,
            ),
            (&good("&scope=admin"), ErrorCode::InvalidScope),
            (&good("&prompt=none+login"), ErrorCode::InvalidRequest),
            (&good("&prompt=select_account"), ErrorCode::InvalidRequest),
            (&good("&resource=%2Frelative"), ErrorCode::InvalidTarget),
            (
                &good("&resource=https%3A%2F%2Fapi.example%2F%23frag"),
                ErrorCode::InvalidTarget,
            ),
        ];
        for (query, code) in cases {
            let r = redirected(parse(query, c()));
            assert_eq!(r.error.code, code, "{query}");
            let location = r.location("https://as.example");
            assert!(
                location.starts_with("https://app.example/cb?x=1&error="),
                "{location}"
            );
            assert!(
                location.contains("&iss=https%3A%2F%2Fas.example"),
                "{location}"
            );
        }
    }

    #[test]
    fn a_client_without_the_grant_is_unauthorized() {
        let mut c = client(&["https://app.example/cb"]);
        c.grant_types.clear();
        assert_eq!(
            redirected(parse(&good(""), Some(c))).error.code,
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn loopback_redirects_may_change_port() {
        let req = parse(
            &good("&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Fcb&prompt=login+consent&resource=https%3A%2F%2Fapi.example%2F"),
            Some(client(&["http://127.0.0.1/cb"])),
        )
        .unwrap();
        assert_eq!(req.redirect_uri, "http://127.0.0.1:49152/cb");
        assert!(req.redirect_uri_sent);
        assert_eq!(
            req.prompt,
            Prompt {
                none: false,
                login: true,
                consent: true
            }
        );
        assert_eq!(req.resource.unwrap().as_str(), "https://api.example/");
    }

    fn parse_openid(query: &str) -> Result<AuthorizationRequest, AuthorizeError> {
        let mut c = client(&["https://app.example/cb"]);
        c.scope = Scope::parse("openid profile read").unwrap();
        let query = format!("{query}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
        AuthorizationRequest::parse_with(
            &Params::parse_urlencoded(query.as_bytes()).unwrap(),
            Some(c),
            true,
        )
    }

    #[test]
    fn n_i3_an_openid_request_without_redirect_uri_is_refused() {
        let mut c = client(&["https://app.example/cb"]);
        c.scope = Scope::parse("openid read").unwrap();
        let parse = |query: &str, openid: bool| {
            AuthorizationRequest::parse_with(
                &Params::parse_urlencoded(query.as_bytes()).unwrap(),
                Some(c.clone()),
                openid,
            )
        };
        let r = redirected(parse(&good("&scope=openid&nonce=n"), true));
        assert_eq!(r.error.code, ErrorCode::InvalidRequest);
        assert!(r.error.description().contains("redirect_uri"));
        // OAuth 2.1 still lets a plain request with one registered URI leave it out.
        assert!(parse(&good("&scope=read"), true).is_ok());
        assert!(parse(&good("&scope=openid"), false).is_ok());
    }

    #[test]
    fn openid_requests_read_their_parameters_only_with_openid_scope_and_on() {
        let req = parse_openid(&good("&scope=openid+profile&nonce=n1")).unwrap();
        assert_eq!(req.openid.unwrap().nonce.as_deref(), Some("n1"));
        assert!(
            parse_openid(&good("&scope=read&nonce=n1"))
                .unwrap()
                .openid
                .is_none()
        );
        // OpenID off: `openid` is only a scope, and its parameters mean nothing.
        let mut c = client(&["https://app.example/cb"]);
        c.scope = Scope::parse("openid").unwrap();
        let off = parse(&good("&scope=openid&request=x"), Some(c)).unwrap();
        assert!(off.openid.is_none());
    }

    #[test]
    fn openid_errors_redirect_with_their_codes() {
        for (extra, code) in [
            (
                "&prompt=select_account",
                ErrorCode::AccountSelectionRequired,
            ),
            ("&prompt=none+select_account", ErrorCode::InvalidRequest),
            ("&prompt=unknown", ErrorCode::InvalidRequest),
            ("&request=e30.e30.", ErrorCode::RequestNotSupported),
            (
                "&request_uri=https%3A%2F%2Fa.example%2F",
                ErrorCode::RequestUriNotSupported,
            ),
            ("&max_age=x", ErrorCode::InvalidRequest),
        ] {
            let r = redirected(parse_openid(&good(&format!("&scope=openid{extra}"))));
            assert_eq!(r.error.code, code, "{extra}");
        }
        // An OpenID request still needs response_type=code.
        let r = redirected(parse_openid(
            "client_id=app&response_type=id_token&scope=openid&nonce=n",
        ));
        assert_eq!(r.error.code, ErrorCode::UnsupportedResponseType);
    }

    #[test]
    fn a_confidential_openid_client_may_bind_the_code_with_nonce_instead_of_pkce() {
        let confidential = |uris: &[&str]| {
            let mut c = client(uris);
            c.auth = crate::client::ClientAuth::Secret {
                method: crate::types::AuthMethod::ClientSecretBasic,
                hash: crate::secret::SecretHash::of(b"secret"),
            };
            c.scope = Scope::parse("openid").unwrap();
            c
        };
        let parse_with = |query: &str, c: Client, openid: bool| {
            AuthorizationRequest::parse_with(
                &Params::parse_urlencoded(query.as_bytes()).unwrap(),
                Some(c),
                openid,
            )
        };
        let no_pkce = "client_id=app&response_type=code&scope=openid&state=s\
                       &redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        let req = parse_with(
            &format!("{no_pkce}&nonce=n"),
            confidential(&["https://app.example/cb"]),
            true,
        )
        .unwrap();
        assert!(req.code_challenge.is_none());
        // Without a nonce, for a public client, or with OpenID off: PKCE stays required.
        for (query, c, openid) in [
            (
                no_pkce.to_owned(),
                confidential(&["https://app.example/cb"]),
                true,
            ),
            (
                format!("{no_pkce}&nonce=n"),
                {
                    let mut c = client(&["https://app.example/cb"]);
                    c.scope = Scope::parse("openid").unwrap();
                    c
                },
                true,
            ),
            (
                format!("{no_pkce}&nonce=n"),
                confidential(&["https://app.example/cb"]),
                false,
            ),
        ] {
            let r = redirected(parse_with(&query, c, openid));
            assert_eq!(r.error.code, ErrorCode::InvalidRequest, "{query}");
        }
        // A challenge that is sent is checked as ever.
        let bad = redirected(parse_with(
            &format!("{no_pkce}&nonce=n&code_challenge=short&code_challenge_method=S256"),
            confidential(&["https://app.example/cb"]),
            true,
        ));
        assert_eq!(bad.error.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn request_objects_are_refused_before_pkce_is_asked_for() {
        // Core §6.1, §6.2: all a request object leaves outside is client_id, response_type and scope.
        for (extra, code) in [
            ("&request=e30.e30.", ErrorCode::RequestNotSupported),
            (
                "&request_uri=https%3A%2F%2Fa.example%2Fr",
                ErrorCode::RequestUriNotSupported,
            ),
        ] {
            let query = format!("client_id=app&response_type=code&scope=openid{extra}");
            assert_eq!(redirected(parse_openid(&query)).error.code, code, "{extra}");
        }
    }

    #[test]
    fn require_pkce_off_lets_a_confidential_openid_client_send_neither_pkce_nor_nonce() {
        let confidential = |require_pkce: Option<bool>| {
            let mut c = client(&["https://app.example/cb"]);
            c.auth = crate::client::ClientAuth::Secret {
                method: crate::types::AuthMethod::ClientSecretBasic,
                hash: crate::secret::SecretHash::of(b"secret"),
            };
            c.scope = Scope::parse("openid read").unwrap();
            c.policy.openid.require_pkce = require_pkce;
            c
        };
        let parse = |query: &str, c: Client, require: bool| {
            AuthorizationRequest::parse_openid(
                &Params::parse_urlencoded(query.as_bytes()).unwrap(),
                Some(c),
                Some(OpenIdDefaults {
                    require_pkce_for_confidential_clients: require,
                }),
            )
        };
        let bare = "client_id=app&response_type=code&scope=openid&state=s\
                    &redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        // The server's setting, and the client's own, which wins.
        assert!(
            parse(bare, confidential(None), false)
                .unwrap()
                .code_challenge
                .is_none()
        );
        assert!(
            parse(bare, confidential(Some(false)), true)
                .unwrap()
                .code_challenge
                .is_none()
        );
        for (c, require) in [
            (confidential(None), true),
            (confidential(Some(true)), false),
        ] {
            let r = redirected(parse(bare, c, require));
            assert_eq!(r.error.code, ErrorCode::InvalidRequest);
        }
        // Public clients and plain OAuth requests always need PKCE.
        let mut public = client(&["https://app.example/cb"]);
        public.scope = Scope::parse("openid read").unwrap();
        public.policy.openid.require_pkce = Some(false);
        let r = redirected(parse(bare, public, false));
        assert_eq!(r.error.code, ErrorCode::InvalidRequest);
        let oauth = "client_id=app&response_type=code&scope=read&state=s";
        let r = redirected(parse(oauth, confidential(Some(false)), false));
        assert_eq!(r.error.code, ErrorCode::InvalidRequest);
    }
}
