//! Dynamic client registration (RFC 7591) and management (RFC 7592): which metadata a client may
//! register, and how a registered client is described back.
use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::OAuthError;
use crate::client::Client;
use crate::types::{AuthMethod, GrantType, RedirectUri, ResourceUri, Scope};

/// What a client that registers itself (RFC 7591) or describes itself in a metadata document may
/// have. Nobody vouches for such a client, so it gets only what the operator publishes.
///
/// RFC 7591 §3.2.1 lets the server "reject or replace" requested values: a grant type or scope
/// outside these rules is dropped and the client is kept with the rest, as widely used clients list
/// grants a given server need not offer (Claude's document names the JWT bearer grant). Only when
/// nothing usable remains is the registration refused.
///
/// # Security
/// Open registration lets anyone on the internet create a client. A scope hidden from
/// `scopes_supported` or a machine grant (`client_credentials`, no user involved) would hand that
/// anyone tokens no person approved: both stay with the operator unless published or opted in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationRules {
    /// `scopes_supported`: the only scopes such a client may register, and its default; empty means
    /// the client gets no scope at all.
    pub scopes: Scope,
    /// `Some` when the operator lets such clients use `client_credentials`: the resources their
    /// machine tokens may name (with no `resource`, a token goes to the default audience).
    pub client_credentials_resources: Option<Vec<ResourceUri>>,
    /// The grant types the server's policy enables (`grant_types_supported`); `None` puts no bound
    /// beyond what self-registration allows.
    pub grant_types: Option<BTreeSet<GrantType>>,
}

/// The metadata members Latchkey reads (RFC 7591 §2). Unknown members are ignored and never stored.
#[derive(Debug, Default, Deserialize)]
pub struct ClientMetadata {
    /// Required for RFC 7592 updates: the client being replaced.
    pub client_id: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
}

/// What a registration asked for and did not get (RFC 7591 §3.2.1 "reject or replace"): the values
/// as sent, so the registrant can see why its client has less than it listed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// `grant_types` the server does not grant to such a client.
    pub grant_types: Vec<String>,
    /// `response_types` the server does not implement.
    pub response_types: Vec<String>,
    /// `scope` values the server does not publish.
    pub scope: Vec<String>,
}

impl Dropped {
    /// Whether everything asked for was kept.
    pub fn is_empty(&self) -> bool {
        self.grant_types.is_empty() && self.response_types.is_empty() && self.scope.is_empty()
    }

    /// The `dropped_metadata` member of a registration response: per member, the values not
    /// registered; `None` when nothing was dropped.
    pub fn describe(&self) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let mut out = serde_json::Map::new();
        if !self.grant_types.is_empty() {
            out.insert("grant_types".into(), json!(self.grant_types));
        }
        if !self.response_types.is_empty() {
            out.insert("response_types".into(), json!(self.response_types));
        }
        if !self.scope.is_empty() {
            out.insert("scope".into(), json!(self.scope.join(" ")));
        }
        Some(Value::Object(out))
    }
}

/// Validated registration metadata.
#[derive(Debug, PartialEq, Eq)]
pub struct Registration {
    /// `client_name` (the client_id when absent).
    pub name: Option<String>,
    /// `token_endpoint_auth_method`.
    pub method: AuthMethod,
    /// `grant_types`.
    pub grant_types: BTreeSet<GrantType>,
    /// `redirect_uris`.
    pub redirect_uris: Vec<RedirectUri>,
    /// `scope`.
    pub scope: Scope,
    /// `jwks` keys, for `private_key_jwt`.
    pub jwks: Vec<Value>,
    /// `jwks_uri`, for `private_key_jwt` clients that publish their keys.
    pub jwks_uri: Option<String>,
    /// What was asked for and not registered.
    pub dropped: Dropped,
}

/// Grant types a client may register itself for. Token exchange is a trust decision for the operator.
const REGISTRABLE: [GrantType; 3] = [
    GrantType::AuthorizationCode,
    GrantType::ClientCredentials,
    GrantType::RefreshToken,
];

impl ClientMetadata {
    /// Parses a JSON body; a member of the wrong type is `invalid_client_metadata`. The parser's own
    /// message quotes the input, so the description says what kind of fault and where, in our words.
    pub fn from_json(body: &[u8]) -> Result<Self, OAuthError> {
        serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            let what = match e.classify() {
                Category::Data => "a member has the wrong type or value",
                Category::Eof => "the JSON ends too early",
                Category::Syntax | Category::Io => "the body is not valid JSON",
            };
            OAuthError::invalid_client_metadata(format!(
                "the body is not valid client metadata: {what} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }

    /// Applies RFC 7591's defaults and this server's `rules`; an omitted scope means every published
    /// scope.
    pub fn validate(self, rules: &RegistrationRules) -> Result<Registration, OAuthError> {
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(bad(
                "jwks and jwks_uri are mutually exclusive (RFC 7591 §2)",
            ));
        }
        let method = match self.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(m) => m.parse::<AuthMethod>().map_err(|_| {
                OAuthError::invalid_client_metadata(format!(
                    "token_endpoint_auth_method `{m}` is not supported here"
                ))
            })?,
        };
        let (jwks, jwks_uri) = self.keys(method)?;
        let mut dropped = Dropped::default();
        let grant_types = self.grant_types(method, rules, &mut dropped)?;
        let redirect_uris = self.redirect_uris(&grant_types)?;
        Ok(Registration {
            scope: self.registered_scope(rules, &mut dropped)?,
            name: self.client_name()?,
            method,
            grant_types,
            redirect_uris,
            jwks,
            jwks_uri,
            dropped,
        })
    }

    /// `redirect_uris` (RFC 7591 §2), at least one for the authorization code grant.
    fn redirect_uris(
        &self,
        grant_types: &BTreeSet<GrantType>,
    ) -> Result<Vec<RedirectUri>, OAuthError> {
        let redirect_uris = self
            .redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(u.clone()).map_err(OAuthError::invalid_redirect_uri))
            .collect::<Result<Vec<_>, _>>()?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(OAuthError::invalid_redirect_uri(
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        Ok(redirect_uris)
    }

    /// `scope` (RFC 7591 §2): within what the server publishes; all of that when omitted.
    ///
    /// # Security
    /// H1: a value the server does not publish is dropped, never registered, so it can never be
    /// granted; the rest is kept (RFC 7591 §3.2.1).
    fn registered_scope(
        &self,
        rules: &RegistrationRules,
        dropped: &mut Dropped,
    ) -> Result<Scope, OAuthError> {
        let Some(text) = &self.scope else {
            return Ok(rules.scopes.clone());
        };
        let scope = Scope::parse(text).map_err(|_| bad("scope is malformed"))?;
        dropped.scope = scope
            .difference(&rules.scopes)
            .map(|t| t.as_str().to_owned())
            .collect();
        Ok(scope
            .iter()
            .filter(|t| rules.scopes.contains(t.as_str()))
            .cloned()
            .collect())
    }

    /// `client_name`, trimmed; a blank one is none.
    fn client_name(&self) -> Result<Option<String>, OAuthError> {
        let name = self
            .client_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 200) {
            return Err(bad("client_name is longer than 200 characters"));
        }
        // N-L7: the name is shown on the consent page and printed by the CLI and the audit trail; a
        // newline or an escape sequence there could forge lines in an operator's terminal.
        if name.is_some_and(|n| !crate::types::is_display_safe(n)) {
            return Err(bad(
                "client_name contains a control or bidirectional formatting character",
            ));
        }
        Ok(name.map(str::to_owned))
    }

    /// `jwks` or `jwks_uri` (RFC 7591 §2), read only for `private_key_jwt`: the keys, or where the
    /// client publishes them.
    fn keys(&self, method: AuthMethod) -> Result<(Vec<Value>, Option<String>), OAuthError> {
        if method != AuthMethod::PrivateKeyJwt {
            return Ok((Vec::new(), None));
        }
        if let Some(uri) = &self.jwks_uri {
            if !crate::types::is_display_safe(uri) {
                return Err(bad("jwks_uri contains a control character"));
            }
            let url = url::Url::parse(uri).map_err(|_| bad("jwks_uri is not a URL"))?;
            if url.scheme() != "https" || url.fragment().is_some() {
                return Err(bad("jwks_uri must be an https URL without fragment"));
            }
            return Ok((Vec::new(), Some(uri.clone())));
        }
        let keys = self
            .jwks
            .as_ref()
            .and_then(|j| j.get("keys"))
            .and_then(|k| k.as_array())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("private_key_jwt needs jwks with at least one key"))?;
        for key in keys {
            crate::keys::check_client_jwk(key).map_err(OAuthError::invalid_client_metadata)?;
        }
        Ok((keys.clone(), None))
    }

    /// `grant_types` (RFC 7591 §2; `authorization_code` when omitted), and their agreement with
    /// `response_types` (§2.1) and with the authentication method.
    ///
    /// A grant type this server does not let such a client have (one it does not implement, token
    /// exchange, `client_credentials` without the operator's opt-in or for a public client, one the
    /// policy turns off) is dropped, and so is a response type other than `code`. The registration
    /// fails only when no grant type is left, or when what is left does not agree.
    fn grant_types(
        &self,
        method: AuthMethod,
        rules: &RegistrationRules,
        dropped: &mut Dropped,
    ) -> Result<BTreeSet<GrantType>, OAuthError> {
        let grantable = |g: &GrantType| {
            REGISTRABLE.contains(g)
                && rules.grant_types.as_ref().is_none_or(|on| on.contains(g))
                && (*g != GrantType::ClientCredentials
                    || (rules.client_credentials_resources.is_some() && method != AuthMethod::None))
        };
        let grant_types: BTreeSet<GrantType> = match &self.grant_types {
            None => [GrantType::AuthorizationCode].into(),
            Some(list) => {
                let mut kept = BTreeSet::new();
                for g in list {
                    match g.parse::<GrantType>().ok().filter(grantable) {
                        Some(g) => {
                            kept.insert(g);
                        }
                        None if !dropped.grant_types.contains(g) => {
                            dropped.grant_types.push(g.clone())
                        }
                        None => {}
                    }
                }
                kept
            }
        };
        if grant_types.is_empty() {
            return Err(match dropped.grant_types.as_slice() {
                [] => bad("grant_types is empty"),
                listed => OAuthError::invalid_client_metadata(format!(
                    "none of the grant types can be registered here: {}",
                    listed.join(" ")
                )),
            });
        }
        let code = grant_types.contains(&GrantType::AuthorizationCode);
        // RFC 7591 §2.1: response_types and grant_types must agree.
        let response_types: BTreeSet<String> = match &self.response_types {
            Some(listed) => {
                let (known, unknown): (Vec<_>, Vec<_>) =
                    listed.iter().cloned().partition(|r| r == "code");
                if known.is_empty() && !unknown.is_empty() {
                    return Err(bad("only the `code` response type is supported"));
                }
                dropped.response_types = unknown;
                known.into_iter().collect()
            }
            None if code => ["code".to_owned()].into(),
            None => BTreeSet::new(),
        };
        if response_types.contains("code") != code {
            return Err(bad(
                "response_type `code` and grant type authorization_code go together",
            ));
        }
        if grant_types.contains(&GrantType::RefreshToken) && !code {
            return Err(bad("refresh_token is only issued with authorization_code"));
        }
        Ok(grant_types)
    }
}

fn bad(message: &str) -> OAuthError {
    OAuthError::invalid_client_metadata(message.to_owned())
}

/// A registered client's metadata as RFC 7591 §3.2.1 and RFC 7592 §3 return it.
pub fn describe(client: &Client, registration_client_uri: &str) -> Value {
    let grants: Vec<_> = client.grant_types.iter().map(|g| g.as_str()).collect();
    let response_types: Vec<&str> = if client.grant_types.contains(&GrantType::AuthorizationCode) {
        vec!["code"]
    } else {
        vec![]
    };
    let mut described = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.auth.method().as_str(),
        "grant_types": grants,
        "response_types": response_types,
        "scope": client.scope.to_string(),
        "registration_client_uri": registration_client_uri,
    });
    // RFC 7591 §3.2.1 and OpenID Dynamic Registration §3.2: every registered member comes back, the
    // client's keys (or where it publishes them) included.
    if let crate::client::ClientAuth::PrivateKeyJwt { jwks, jwks_uri } = &client.auth {
        match jwks_uri {
            Some(uri) => described["jwks_uri"] = json!(uri),
            None => described["jwks"] = json!({ "keys": jwks }),
        }
    }
    described
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn rules(scopes: &str, machines: bool) -> RegistrationRules {
        RegistrationRules {
            scopes: Scope::parse(scopes).unwrap(),
            client_credentials_resources: machines.then(Vec::new),
            grant_types: None,
        }
    }

    fn validate(body: &str) -> Result<Registration, OAuthError> {
        ClientMetadata::from_json(body.as_bytes())?.validate(&rules("read write", true))
    }

    #[test]
    fn h1_open_registration_cannot_obtain_unpublished_scopes() {
        let body = |scope: &str| {
            ClientMetadata::from_json(
                format!(r#"{{"redirect_uris":["https://a.example/cb"],"scope":"{scope}"}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        // Only what `scopes_supported` lists: `internal` is configured but not published, so it is
        // dropped (RFC 7591 §3.2.1) and the response says so.
        let kept = body("read internal")
            .validate(&rules("read write", false))
            .unwrap();
        assert_eq!(kept.scope.to_string(), "read");
        assert_eq!(kept.dropped.scope, ["internal"]);
        assert_eq!(kept.dropped.describe().unwrap()["scope"], "internal");
        // No scopes published: whatever is asked for is dropped, and an omitted scope is no scope.
        let admin = body("admin").validate(&rules("", false)).unwrap();
        assert!(admin.scope.is_empty());
        let none = ClientMetadata::from_json(br#"{"redirect_uris":["https://a.example/cb"]}"#)
            .unwrap()
            .validate(&rules("", false))
            .unwrap();
        assert!(none.scope.is_empty());
        assert!(none.dropped.describe().is_none());
    }

    #[test]
    fn h1_client_credentials_is_not_self_registrable_unless_the_operator_opts_in() {
        let machine =
            || ClientMetadata::from_json(br#"{"grant_types":["client_credentials"]}"#).unwrap();
        let err = machine().validate(&rules("read", false)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClientMetadata);
        assert!(err.description().contains("client_credentials"));
        assert!(machine().validate(&rules("read", true)).is_ok());
        // Listed beside a grant the client may have, it is dropped, not granted.
        let mixed = ClientMetadata::from_json(
            br#"{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","client_credentials"]}"#,
        )
        .unwrap()
        .validate(&rules("read", false))
        .unwrap();
        assert_eq!(mixed.grant_types, [GrantType::AuthorizationCode].into());
        assert_eq!(mixed.dropped.grant_types, ["client_credentials"]);
    }

    #[test]
    fn grant_types_the_server_will_not_grant_are_dropped_not_refused() {
        // Claude's published document (RFC 7591 §3.2.1 "reject or replace").
        let claude = r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none",
            "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "response_types":["code"]}"#;
        let r = validate(claude).unwrap();
        assert_eq!(
            r.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken].into()
        );
        assert_eq!(
            r.dropped.grant_types,
            ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        );
        // Every grant the policy does not allow, not only that one: token exchange, an unknown
        // grant, client_credentials for a public client, and a grant the server turned off.
        let policy = RegistrationRules {
            grant_types: Some([GrantType::AuthorizationCode].into()),
            ..rules("read", true)
        };
        let r = ClientMetadata::from_json(
            br#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none",
                "grant_types":["authorization_code","refresh_token","client_credentials","password",
                "urn:ietf:params:oauth:grant-type:token-exchange","urn:ietf:params:oauth:grant-type:device_code"],
                "response_types":["code","token"]}"#,
        )
        .unwrap()
        .validate(&policy)
        .unwrap();
        assert_eq!(r.grant_types, [GrantType::AuthorizationCode].into());
        assert_eq!(r.dropped.grant_types.len(), 5, "{:?}", r.dropped);
        assert_eq!(r.dropped.response_types, ["token"]);
        let described = r.dropped.describe().unwrap();
        assert_eq!(described["response_types"][0], "token");
        // Nothing usable left stays an error.
        for body in [
            r#"{"grant_types":["urn:ietf:params:oauth:grant-type:jwt-bearer"]}"#,
            r#"{"redirect_uris":["https://a/cb"],"response_types":["token","id_token"]}"#,
            r#"{"redirect_uris":["https://a/cb"],"token_endpoint_auth_method":"tls_client_auth"}"#,
        ] {
            assert_eq!(
                validate(body).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{body}"
            );
        }
    }

    #[test]
    fn n_l7_control_characters_are_refused_in_registered_strings() {
        for body in [
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Acme\u001b[1A\u001b[2K"}"#,
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Acme\n2026-12-07 key.revoked"}"#,
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Acme\u202egnp.exe"}"#,
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/j\nwks"}"#,
        ] {
            assert_eq!(
                validate(body).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{body}"
            );
        }
        for body in [
            r#"{"redirect_uris":["https://a.example/c\nb"]}"#,
            r#"{"redirect_uris":["https://a.example/c\tb"]}"#,
            r#"{"redirect_uris":["com.example.app:/cb\u001b"]}"#,
        ] {
            assert_eq!(
                validate(body).unwrap_err().code,
                ErrorCode::InvalidRedirectUri,
                "{body}"
            );
        }
        assert_eq!(
            validate(
                r#"{"redirect_uris":["https://a.example/cb"],"client_name":"Caf\u00e9 \u2615"}"#
            )
            .unwrap()
            .name
            .as_deref(),
            Some("Caf\u{e9} \u{2615}")
        );
    }

    #[test]
    fn registration_responses_echo_the_keys() {
        use crate::client::{ClientAuth, ClientPolicy};
        let client = |auth| Client {
            client_id: crate::types::ClientId::parse("c").unwrap(),
            name: "c".into(),
            auth,
            grant_types: [GrantType::ClientCredentials].into(),
            scope: Scope::default(),
            redirect_uris: Vec::new(),
            created_at: crate::types::Timestamp(0),
            policy: ClientPolicy::default(),
        };
        let key =
            json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let inline = describe(
            &client(ClientAuth::PrivateKeyJwt {
                jwks: vec![key.clone()],
                jwks_uri: None,
            }),
            "https://as/r/c",
        );
        assert_eq!(inline["jwks"]["keys"][0], key);
        assert!(inline.get("jwks_uri").is_none());
        let published = describe(
            &client(ClientAuth::PrivateKeyJwt {
                jwks: Vec::new(),
                jwks_uri: Some("https://c.example/jwks".into()),
            }),
            "https://as/r/c",
        );
        assert_eq!(published["jwks_uri"], "https://c.example/jwks");
        assert!(published.get("jwks").is_none());
        assert!(
            describe(&client(ClientAuth::Public), "x")
                .get("jwks")
                .is_none()
        );
    }

    #[test]
    fn malformed_bodies_are_described_without_echoing_the_parser() {
        for body in [
            r#"{"redirect_uris":"https://x"}"#,
            r#"{"client_name": "a"#,
            r#"{"client_name" "a"}"#,
            r#"{"scope": 5}"#,
        ] {
            let err = ClientMetadata::from_json(body.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClientMetadata);
            assert!(
                !err.description().contains('"') && err.description().contains("line 1"),
                "{}",
                err.description()
            );
        }
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let r = validate(
            r#"{"redirect_uris":["https://app.example/cb"],"client_name":"App","x_unknown":1}"#,
        )
        .unwrap();
        assert_eq!(r.method, AuthMethod::ClientSecretBasic);
        assert_eq!(r.grant_types, [GrantType::AuthorizationCode].into());
        assert_eq!(r.scope.to_string(), "read write");
        assert_eq!(r.name.as_deref(), Some("App"));
    }

    #[test]
    fn private_key_jwt_takes_inline_keys_or_an_https_jwks_uri() {
        let uri = validate(r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks"}"#).unwrap();
        assert_eq!(uri.jwks_uri.as_deref(), Some("https://a.example/jwks"));
        assert!(uri.jwks.is_empty());
        for bad in [
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://a.example/jwks"}"#,
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks#x"}"#,
            r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}"#,
        ] {
            assert_eq!(
                validate(bad).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{bad}"
            );
        }
    }

    #[test]
    fn every_rule_has_its_error() {
        for (body, code) in [
            (
                r#"{"redirect_uris":"https://x"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a/cb"],"jwks":{},"jwks_uri":"https://a/j"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a/cb"],"grant_types":["password"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a/cb"],"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"redirect_uris":["https://a/cb"],"response_types":["token"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"grant_types":["client_credentials"],"response_types":["code"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"grant_types":["refresh_token"]}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (
                r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#,
                ErrorCode::InvalidClientMetadata,
            ),
            (r#"{}"#, ErrorCode::InvalidRedirectUri),
            (
                r#"{"redirect_uris":["javascript:alert(1)"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
            (
                r#"{"redirect_uris":["https://a/cb#frag"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
            (
                r#"{"redirect_uris":["/relative"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
            (
                r#"{"redirect_uris":["http://a.example/cb"]}"#,
                ErrorCode::InvalidRedirectUri,
            ),
        ] {
            assert_eq!(validate(body).unwrap_err().code, code, "{body}");
        }
        // Native apps: loopback http and private-use schemes are fine.
        assert!(validate(r#"{"redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"],"token_endpoint_auth_method":"none"}"#).is_ok());
        assert!(validate(r#"{"grant_types":["client_credentials"]}"#).is_ok());
        let with_key = validate(r#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}"#).unwrap();
        assert_eq!(with_key.jwks.len(), 1);
    }
}
