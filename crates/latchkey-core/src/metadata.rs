//! RFC 8414 authorization server metadata, built from one `Features` value so that the document and
//! the routes can never disagree about what exists.
//!
//! Members come out in a stable order: `issuer` first, then the operator's `member_order`, then the
//! rest in the order of [`GENERATED_MEMBERS`] (RFC 8414 §2's order, then the later RFCs'), then the
//! operator's extra members in the order configured. Lists keep the order the operator configured.
use serde_json::{Map, Value, json};

use crate::OAuthError;
use crate::client::Client;
use crate::types::{AuthMethod, GrantType, Issuer};

/// The well-known suffix of RFC 8414 §3.
pub const WELL_KNOWN_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// The well-known suffix of OpenID Connect Discovery 1.0 §4.
pub const OPENID_WELL_KNOWN_SUFFIX: &str = "/.well-known/openid-configuration";

/// What OpenID Connect adds when it is on (Discovery 1.0 §3, RP-Initiated Logout 1.0 §2.1).
#[derive(Clone, Debug)]
pub struct OpenIdFeatures {
    /// Core §5.3.
    pub userinfo_endpoint: String,
    /// RP-Initiated Logout 1.0.
    pub end_session_endpoint: String,
    /// Algorithms ID tokens and UserInfo responses may be signed with; RS256 always among them.
    pub signing_algs: Vec<crate::keys::KeyAlg>,
    /// `public`, `pairwise`, or both, in the published order.
    pub subject_types: Vec<String>,
}

/// Where each endpoint is published. URLs are absolute; they may sit on another host than the issuer.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// RFC 6749 §3.1; `None` when the server offers no authorization code flow.
    pub authorization: Option<String>,
    /// RFC 6749 §3.2.
    pub token: String,
    /// RFC 8414 `jwks_uri`.
    pub jwks: String,
    /// RFC 7662 introspection endpoint; `None` when introspection is off.
    pub introspection: Option<String>,
    /// RFC 7009 revocation endpoint; `None` when revocation is off.
    pub revocation: Option<String>,
    /// RFC 7591 registration endpoint; `None` when registration is off.
    pub registration: Option<String>,
}

/// Everything the server implements and has enabled. Lists are in the order they are published and
/// hold no duplicates.
#[derive(Clone, Debug)]
pub struct Features {
    /// The issuer identifier.
    pub issuer: Issuer,
    /// Endpoint URLs.
    pub endpoints: Endpoints,
    /// Grant types served by the token endpoint; any other is `unsupported_grant_type`.
    pub grant_types: Vec<GrantType>,
    /// Client authentication methods accepted at the token endpoint.
    pub token_endpoint_auth_methods: Vec<AuthMethod>,
    /// Client authentication methods accepted at the introspection endpoint, when it is served.
    pub introspection_endpoint_auth_methods: Vec<AuthMethod>,
    /// Client authentication methods accepted at the revocation endpoint, when it is served.
    pub revocation_endpoint_auth_methods: Vec<AuthMethod>,
    /// Whether `resource` (RFC 8707) is accepted.
    pub resource_parameter_supported: bool,
    /// Whether https client_ids are resolved as Client ID Metadata Documents.
    pub client_id_metadata_document_supported: bool,
    /// Scopes to publish in `scopes_supported` (the public ones), in the configured order.
    pub scopes_supported: Vec<String>,
    /// Human-readable documentation for developers.
    pub service_documentation: Option<String>,
    /// Policy on how clients may use data.
    pub op_policy_uri: Option<String>,
    /// Terms of service.
    pub op_tos_uri: Option<String>,
    /// Languages of the user interface, as BCP 47 tags; omitted when empty.
    pub ui_locales_supported: Vec<String>,
    /// Operator-defined extra members: facts about the operator, never claims about features (see
    /// [`describes_a_feature`]).
    pub extra: Map<String, Value>,
    /// Members to publish right after `issuer`, in this order; the others follow in the default order.
    pub member_order: Vec<String>,
    /// OpenID Connect, when it is on.
    pub openid: Option<OpenIdFeatures>,
}

/// Members Latchkey generates, in their default order (RFC 8414 §2's, with OpenID Connect Discovery
/// 1.0 §3's members where that document places them); configured extras may not replace them.
pub const GENERATED_MEMBERS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "acr_values_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "userinfo_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "display_values_supported",
    "claim_types_supported",
    "claims_supported",
    "service_documentation",
    "ui_locales_supported",
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "op_policy_uri",
    "op_tos_uri",
    "end_session_endpoint",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "authorization_response_iss_parameter_supported",
    "client_id_metadata_document_supported",
    "resource_parameter_supported",
];

/// Whether a metadata member name claims a feature (RFC 8414 §2, OpenID Connect Discovery 1.0 §3 and
/// the registries that extend them): an endpoint, a `*_supported` list or flag, a `require_*` policy,
/// signed metadata, a session iframe, endpoint aliases or certificate-bound tokens. Such a member is
/// published only when Latchkey implements what it describes, so `[metadata.extra]` may not add one.
pub fn describes_a_feature(name: &str) -> bool {
    GENERATED_MEMBERS.contains(&name)
        || name.ends_with("_endpoint")
        || name.ends_with("_supported")
        || name.ends_with("_iframe")
        || name.ends_with("_aliases")
        || name.starts_with("require_")
        || matches!(
            name,
            "signed_metadata" | "tls_client_certificate_bound_access_tokens"
        )
}

/// A list of methods as published.
fn methods(list: &[AuthMethod]) -> Value {
    json!(list.iter().map(|m| m.as_str()).collect::<Vec<_>>())
}

/// `<name>_endpoint` and how clients authenticate there (RFC 8414 §2): its
/// `<name>_endpoint_auth_methods_supported`, and the `*_auth_signing_alg_values_supported` list that
/// MUST be present when the endpoint accepts `private_key_jwt`.
fn authenticated_endpoint(
    doc: &mut Map<String, Value>,
    name: &str,
    url: &str,
    accepted: &[AuthMethod],
) {
    doc.insert(format!("{name}_endpoint"), json!(url));
    doc.insert(
        format!("{name}_endpoint_auth_methods_supported"),
        methods(accepted),
    );
    if accepted.contains(&AuthMethod::PrivateKeyJwt) {
        doc.insert(
            format!("{name}_endpoint_auth_signing_alg_values_supported"),
            json!(crate::client_auth::ASSERTION_ALGS),
        );
    }
}

impl OpenIdFeatures {
    /// The members OpenID Connect Discovery 1.0 §3 adds.
    fn members(&self, doc: &mut Map<String, Value>) {
        let algs: Vec<&str> = self.signing_algs.iter().map(|a| a.as_str()).collect();
        doc.insert("userinfo_endpoint".into(), json!(self.userinfo_endpoint));
        doc.insert(
            "end_session_endpoint".into(),
            json!(self.end_session_endpoint),
        );
        // Core §2, Discovery §3: the one authentication context honoured, a password sign-in.
        doc.insert(
            "acr_values_supported".into(),
            json!([crate::oidc::ACR_PASSWORD]),
        );
        doc.insert("subject_types_supported".into(), json!(self.subject_types));
        doc.insert("id_token_signing_alg_values_supported".into(), json!(algs));
        doc.insert("userinfo_signing_alg_values_supported".into(), json!(algs));
        doc.insert(
            "display_values_supported".into(),
            json!(["page", "popup", "touch", "wap"]),
        );
        // Core §5.6: aggregated and distributed claims are not offered.
        doc.insert("claim_types_supported".into(), json!(["normal"]));
        doc.insert(
            "claims_supported".into(),
            json!(crate::oidc::claims::claims_supported()),
        );
        doc.insert("claims_parameter_supported".into(), json!(true));
        doc.insert("request_parameter_supported".into(), json!(false));
        // Discovery §3: absent means true, so `false` is said out loud.
        doc.insert("request_uri_parameter_supported".into(), json!(false));
    }
}

impl Features {
    /// The metadata document (RFC 8414 §2). Members appear only for what is implemented and enabled.
    pub fn document(&self) -> Value {
        let members = self.members();
        if self.member_order.is_empty() {
            return Value::Object(members);
        }
        let mut ordered = Map::new();
        for name in std::iter::once("issuer").chain(self.member_order.iter().map(String::as_str)) {
            if let Some(value) = members.get(name) {
                ordered.insert(name.to_owned(), value.clone());
            }
        }
        for (name, value) in members {
            ordered.entry(name).or_insert(value);
        }
        Value::Object(ordered)
    }

    /// Every member in the default order.
    fn members(&self) -> Map<String, Value> {
        let mut doc = Map::new();
        self.server_members(&mut doc);
        self.authorization_members(&mut doc);
        for (name, url, accepted) in [
            (
                "token",
                Some(&self.endpoints.token),
                &self.token_endpoint_auth_methods,
            ),
            (
                "revocation",
                self.endpoints.revocation.as_ref(),
                &self.revocation_endpoint_auth_methods,
            ),
            (
                "introspection",
                self.endpoints.introspection.as_ref(),
                &self.introspection_endpoint_auth_methods,
            ),
        ] {
            if let Some(url) = url {
                authenticated_endpoint(&mut doc, name, url, accepted);
            }
        }
        if let Some(openid) = &self.openid {
            openid.members(&mut doc);
        }
        // Inserted by topic above; published in the default order, then the extras.
        let mut ordered = Map::new();
        for name in GENERATED_MEMBERS {
            if let Some(value) = doc.get(*name) {
                ordered.insert((*name).to_owned(), value.clone());
            }
        }
        for (name, value) in &self.extra {
            ordered.entry(name.clone()).or_insert_with(|| value.clone());
        }
        ordered
    }

    /// RFC 8414 §2 members about the server as a whole: who it is, where its keys and registration
    /// are, what it offers, and its documents.
    fn server_members(&self, doc: &mut Map<String, Value>) {
        doc.insert("issuer".into(), json!(self.issuer.as_str()));
        doc.insert("jwks_uri".into(), json!(self.endpoints.jwks));
        if let Some(registration) = &self.endpoints.registration {
            doc.insert("registration_endpoint".into(), json!(registration));
        }
        if !self.scopes_supported.is_empty() {
            doc.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        doc.insert(
            "grant_types_supported".into(),
            json!(
                self.grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        for (name, value) in [
            ("service_documentation", &self.service_documentation),
            ("op_policy_uri", &self.op_policy_uri),
            ("op_tos_uri", &self.op_tos_uri),
        ] {
            if let Some(value) = value {
                doc.insert(name.into(), json!(value));
            }
        }
        if !self.ui_locales_supported.is_empty() {
            doc.insert(
                "ui_locales_supported".into(),
                json!(self.ui_locales_supported),
            );
        }
        if self.client_id_metadata_document_supported {
            doc.insert("client_id_metadata_document_supported".into(), json!(true));
        }
        if self.resource_parameter_supported {
            doc.insert("resource_parameter_supported".into(), json!(true));
        }
    }

    /// The members of the authorization endpoint (RFC 8414 §2, RFC 7636 §4.2, RFC 9207 §3).
    fn authorization_members(&self, doc: &mut Map<String, Value>) {
        let Some(authorization) = &self.endpoints.authorization else {
            // REQUIRED by RFC 8414 §2 even for a server without an authorization endpoint, where the
            // honest value is the empty list.
            doc.insert("response_types_supported".into(), json!([]));
            return;
        };
        doc.insert("authorization_endpoint".into(), json!(authorization));
        doc.insert("response_types_supported".into(), json!(["code"]));
        // RFC 8414 §2: an absent list means `query` and `fragment`; only `query` is true.
        doc.insert("response_modes_supported".into(), json!(["query"]));
        // RFC 7636 §4.2: `plain` is not offered, so a client cannot downgrade.
        doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        // RFC 9207 §3: every authorization response carries `iss`; absent would claim it does not.
        doc.insert(
            "authorization_response_iss_parameter_supported".into(),
            json!(true),
        );
    }

    /// Whether a client's registration stays within what the server has enabled: every grant type
    /// and its authentication method. The error names the first thing that is off
    /// (`invalid_client_metadata`, RFC 7591 §3.2.2), for registration, metadata documents, the CLI
    /// and the warnings `serve` prints for existing clients.
    pub fn check_client(&self, client: &Client) -> Result<(), OAuthError> {
        if let Some(off) = client
            .grant_types
            .iter()
            .find(|g| !self.grant_types.contains(g))
        {
            return Err(OAuthError::invalid_client_metadata(format!(
                "grant type {off} is not enabled on this server"
            )));
        }
        let method = client.auth.method();
        if !self.token_endpoint_auth_methods.contains(&method) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "token_endpoint_auth_method {method} is not enabled on this server"
            )));
        }
        Ok(())
    }

    /// Request paths at which the document is served.
    ///
    /// RFC 8414 §3.1 inserts the well-known suffix between host and path, so `https://h/v3/oauth` is
    /// described at `/.well-known/oauth-authorization-server/v3/oauth`. Some clients instead append it
    /// to the issuer (`/v3/oauth/.well-known/oauth-authorization-server`), so both are served.
    ///
    /// With OpenID on, the same document is also the OpenID Provider configuration: Discovery §4
    /// appends `/.well-known/openid-configuration` to the issuer, and RFC 8414 §5 inserts it, so an
    /// issuer with a path is described at both.
    pub fn well_known_paths(&self) -> Vec<String> {
        let path = self.issuer.path();
        let mut suffixes = vec![WELL_KNOWN_SUFFIX];
        if self.openid.is_some() {
            suffixes.push(OPENID_WELL_KNOWN_SUFFIX);
        }
        let mut paths = Vec::new();
        for suffix in suffixes {
            if path.is_empty() {
                paths.push(suffix.to_owned());
            } else {
                paths.push(format!("{suffix}{path}"));
                paths.push(format!("{path}{suffix}"));
            }
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(issuer: &str) -> Features {
        Features {
            issuer: Issuer::parse(issuer).unwrap(),
            endpoints: Endpoints {
                authorization: None,
                token: format!("{issuer}/token"),
                jwks: format!("{issuer}/jwks"),
                introspection: None,
                revocation: None,
                registration: None,
            },
            grant_types: vec![GrantType::ClientCredentials],
            token_endpoint_auth_methods: vec![
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
            ],
            introspection_endpoint_auth_methods: vec![],
            revocation_endpoint_auth_methods: vec![],
            resource_parameter_supported: false,
            client_id_metadata_document_supported: false,
            scopes_supported: vec!["read:orders".into()],
            service_documentation: None,
            op_policy_uri: Some("https://example.com/privacy".into()),
            op_tos_uri: None,
            ui_locales_supported: vec![],
            extra: Map::new(),
            member_order: vec![],
            openid: None,
        }
    }

    #[test]
    fn document_lists_what_is_enabled_and_nothing_else() {
        let doc = features("https://as.example.com").document();
        assert_eq!(doc["issuer"], "https://as.example.com");
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(doc["op_policy_uri"], "https://example.com/privacy");
        for absent in [
            "authorization_endpoint",
            "registration_endpoint",
            "service_documentation",
            "op_tos_uri",
            "ui_locales_supported",
            "code_challenge_methods_supported",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                doc.get(absent).is_none(),
                "{absent} advertised but not implemented"
            );
        }
    }

    #[test]
    fn an_authorization_endpoint_brings_its_members() {
        let mut f = features("https://as.example.com");
        f.endpoints.authorization = Some("https://as.example.com/authorize".into());
        let doc = f.document();
        assert_eq!(
            doc["authorization_endpoint"],
            "https://as.example.com/authorize"
        );
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }

    #[test]
    fn token_services_bring_their_members() {
        let mut f = features("https://as.example.com");
        f.token_endpoint_auth_methods = AuthMethod::ALL.into();
        f.introspection_endpoint_auth_methods = vec![
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
            AuthMethod::PrivateKeyJwt,
        ];
        f.revocation_endpoint_auth_methods = AuthMethod::ALL.into();
        f.endpoints.introspection = Some("https://as.example.com/introspect".into());
        f.endpoints.revocation = Some("https://as.example.com/revoke".into());
        f.resource_parameter_supported = true;
        let doc = f.document();
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(
            doc["revocation_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ])
        );
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "PS256", "RS256"])
        );
        assert_eq!(doc["resource_parameter_supported"], true);
        // RFC 8414 §2: private_key_jwt at an endpoint needs that endpoint's signing algorithms too.
        for endpoint in ["introspection", "revocation"] {
            assert_eq!(
                doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                json!(["ES256", "EdDSA", "PS256", "RS256"])
            );
        }
    }

    #[test]
    fn lists_keep_the_configured_order() {
        let mut f = features("https://as.example.com");
        f.grant_types = vec![GrantType::RefreshToken, GrantType::AuthorizationCode];
        f.token_endpoint_auth_methods = vec![AuthMethod::None, AuthMethod::ClientSecretPost];
        f.scopes_supported = vec!["write:b".into(), "read:a".into()];
        let doc = f.document();
        assert_eq!(
            doc["grant_types_supported"],
            json!(["refresh_token", "authorization_code"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_post"])
        );
        assert_eq!(doc["scopes_supported"], json!(["write:b", "read:a"]));
    }

    fn names(doc: &Value) -> Vec<&str> {
        doc.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn members_come_in_the_default_order_with_issuer_first_and_extras_last() {
        let mut f = features("https://as.example.com");
        f.endpoints.authorization = Some("https://as.example.com/authorize".into());
        f.extra.insert("x_b".into(), json!(1));
        f.extra.insert("x_a".into(), json!(2));
        let doc = f.document();
        let names = names(&doc);
        assert_eq!(names.first(), Some(&"issuer"));
        assert_eq!(names[names.len() - 2..], ["x_b", "x_a"]);
        let positions: Vec<usize> = names[..names.len() - 2]
            .iter()
            .map(|n| GENERATED_MEMBERS.iter().position(|g| g == n).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    }

    #[test]
    fn a_configured_member_order_comes_right_after_issuer() {
        let mut f = features("https://as.example.com");
        f.member_order = vec!["jwks_uri".into(), "op_policy_uri".into()];
        let doc = f.document();
        assert_eq!(
            names(&doc)[..4],
            ["issuer", "jwks_uri", "op_policy_uri", "token_endpoint"]
        );
    }

    #[test]
    fn extras_that_claim_features_are_recognised() {
        for claim in [
            "userinfo_endpoint",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
            "require_pushed_authorization_requests",
            "check_session_iframe",
            "mtls_endpoint_aliases",
            "signed_metadata",
            "jwks_uri",
            "issuer",
        ] {
            assert!(describes_a_feature(claim), "{claim}");
        }
        for fact in ["x_vendor", "status_page_uri", "support_email"] {
            assert!(!describes_a_feature(fact), "{fact}");
        }
    }

    #[test]
    fn a_client_outside_the_enabled_policy_is_named() {
        let f = features("https://as.example.com");
        let mut client = Client {
            client_id: crate::types::ClientId::parse("c").unwrap(),
            name: "c".into(),
            auth: crate::client::ClientAuth::Public,
            grant_types: [GrantType::ClientCredentials].into(),
            scope: crate::types::Scope::default(),
            redirect_uris: vec![],
            created_at: crate::types::Timestamp(0),
            policy: crate::client::ClientPolicy::default(),
        };
        let err = f.check_client(&client).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::InvalidClientMetadata);
        assert!(err.description().contains("none"), "{}", err.description());
        client.grant_types = [GrantType::RefreshToken].into();
        assert!(
            f.check_client(&client)
                .unwrap_err()
                .description()
                .contains("refresh_token")
        );
    }

    #[test]
    fn extras_never_replace_generated_members() {
        let mut f = features("https://as.example.com");
        f.extra
            .insert("issuer".into(), json!("https://evil.example"));
        f.extra.insert("x_vendor".into(), json!({"a": 1}));
        let doc = f.document();
        assert_eq!(doc["issuer"], "https://as.example.com");
        assert_eq!(doc["x_vendor"], json!({"a": 1}));
    }

    #[test]
    fn well_known_paths_follow_rfc_8414_section_3_1() {
        assert_eq!(
            features("https://as.example.com").well_known_paths(),
            ["/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            features("https://api.example.com/v3/oauth").well_known_paths(),
            [
                "/.well-known/oauth-authorization-server/v3/oauth",
                "/v3/oauth/.well-known/oauth-authorization-server"
            ]
        );
    }

    fn with_openid(issuer: &str) -> Features {
        let mut f = features(issuer);
        f.endpoints.authorization = Some(format!("{issuer}/authorize"));
        f.openid = Some(OpenIdFeatures {
            userinfo_endpoint: format!("{issuer}/userinfo"),
            end_session_endpoint: format!("{issuer}/logout"),
            signing_algs: vec![crate::keys::KeyAlg::RS256, crate::keys::KeyAlg::ES256],
            subject_types: vec!["public".into(), "pairwise".into()],
        });
        f
    }

    #[test]
    fn openid_brings_the_discovery_members_in_their_order() {
        assert!(
            features("https://as.example.com")
                .document()
                .get("userinfo_endpoint")
                .is_none()
        );
        let doc = with_openid("https://as.example.com").document();
        assert_eq!(doc["userinfo_endpoint"], "https://as.example.com/userinfo");
        assert_eq!(doc["end_session_endpoint"], "https://as.example.com/logout");
        assert_eq!(
            doc["subject_types_supported"],
            json!(["public", "pairwise"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256"])
        );
        assert_eq!(doc["claims_parameter_supported"], true);
        assert_eq!(doc["request_parameter_supported"], false);
        assert_eq!(doc["request_uri_parameter_supported"], false);
        assert_eq!(doc["claim_types_supported"], json!(["normal"]));
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("email"))
        );
        let names: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let at = |n: &str| names.iter().position(|m| *m == n).unwrap();
        assert!(at("token_endpoint") < at("userinfo_endpoint"));
        assert!(at("userinfo_endpoint") < at("jwks_uri"));
    }

    #[test]
    fn openid_configuration_is_served_at_both_well_known_places() {
        assert_eq!(
            with_openid("https://as.example.com").well_known_paths(),
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            with_openid("https://api.example.com/v3/oauth").well_known_paths(),
            [
                "/.well-known/oauth-authorization-server/v3/oauth",
                "/v3/oauth/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration/v3/oauth",
                "/v3/oauth/.well-known/openid-configuration"
            ]
        );
    }
}
