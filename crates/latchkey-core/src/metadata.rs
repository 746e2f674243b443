//! RFC 8414 authorization server metadata, built from one `Features` value so that the document and
//! the routes can never disagree about what exists.
use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::types::{AuthMethod, GrantType, Issuer};

/// The well-known suffix of RFC 8414 §3.
pub const WELL_KNOWN_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// Where each endpoint is published. URLs are absolute; they may sit on another host than the issuer.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// RFC 6749 §3.1; `None` when the server offers no authorization code flow.
    pub authorization: Option<String>,
    /// RFC 6749 §3.2.
    pub token: String,
    /// RFC 8414 `jwks_uri`.
    pub jwks: String,
    /// RFC 7662 introspection endpoint.
    pub introspection: Option<String>,
    /// RFC 7009 revocation endpoint.
    pub revocation: Option<String>,
    /// RFC 7591 registration endpoint; `None` when registration is off.
    pub registration: Option<String>,
}

/// Everything the server implements and has enabled.
#[derive(Clone, Debug)]
pub struct Features {
    /// The issuer identifier.
    pub issuer: Issuer,
    /// Endpoint URLs.
    pub endpoints: Endpoints,
    /// Grant types served by the token endpoint.
    pub grant_types: BTreeSet<GrantType>,
    /// Client authentication methods accepted at the token endpoint.
    pub token_endpoint_auth_methods: BTreeSet<AuthMethod>,
    /// Whether `resource` (RFC 8707) is accepted.
    pub resource_parameter_supported: bool,
    /// Whether https client_ids are resolved as Client ID Metadata Documents.
    pub client_id_metadata_document_supported: bool,
    /// Scopes to publish in `scopes_supported` (the public ones).
    pub scopes_supported: Vec<String>,
    /// Human-readable documentation for developers.
    pub service_documentation: Option<String>,
    /// Policy on how clients may use data.
    pub op_policy_uri: Option<String>,
    /// Terms of service.
    pub op_tos_uri: Option<String>,
    /// Languages of the user interface, as BCP 47 tags; omitted when empty.
    pub ui_locales_supported: Vec<String>,
    /// Operator-defined extra members, checked not to collide with the ones above.
    pub extra: Map<String, Value>,
}

/// Members Latchkey generates; configured extras may not replace them.
pub const GENERATED_MEMBERS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "service_documentation",
    "ui_locales_supported",
    "op_policy_uri",
    "op_tos_uri",
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

impl Features {
    /// The metadata document (RFC 8414 §2). Members appear only for what is implemented and enabled.
    pub fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("issuer".into(), json!(self.issuer.as_str()));
        if let Some(authorization) = &self.endpoints.authorization {
            doc.insert("authorization_endpoint".into(), json!(authorization));
        }
        doc.insert("token_endpoint".into(), json!(self.endpoints.token));
        doc.insert("jwks_uri".into(), json!(self.endpoints.jwks));
        if !self.scopes_supported.is_empty() {
            doc.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        // REQUIRED by RFC 8414 §2 even for a server without an authorization endpoint, where the
        // honest value is the empty list.
        if self.endpoints.authorization.is_some() {
            doc.insert("response_types_supported".into(), json!(["code"]));
            doc.insert("response_modes_supported".into(), json!(["query"]));
            // RFC 7636 §4.2: `plain` is not offered, so a client cannot downgrade.
            doc.insert("code_challenge_methods_supported".into(), json!(["S256"]));
            // RFC 9207 §3: every authorization response carries `iss`.
            doc.insert(
                "authorization_response_iss_parameter_supported".into(),
                json!(true),
            );
        } else {
            doc.insert("response_types_supported".into(), json!([]));
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
        if self
            .token_endpoint_auth_methods
            .contains(&AuthMethod::PrivateKeyJwt)
        {
            doc.insert(
                "token_endpoint_auth_signing_alg_values_supported".into(),
                json!(crate::client_auth::ASSERTION_ALGS),
            );
        }
        doc.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(
                self.token_endpoint_auth_methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        let methods =
            |set: &BTreeSet<AuthMethod>| json!(set.iter().map(|m| m.as_str()).collect::<Vec<_>>());
        if let Some(introspection) = &self.endpoints.introspection {
            doc.insert("introspection_endpoint".into(), json!(introspection));
            // RFC 7662 §2.1 requires authorisation; a public client has nothing to prove.
            let confidential: BTreeSet<_> = self
                .token_endpoint_auth_methods
                .iter()
                .copied()
                .filter(|m| m.is_confidential())
                .collect();
            doc.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                methods(&confidential),
            );
        }
        if let Some(revocation) = &self.endpoints.revocation {
            doc.insert("revocation_endpoint".into(), json!(revocation));
            // RFC 7009 §2.1: public clients revoke their own tokens with their client_id.
            doc.insert(
                "revocation_endpoint_auth_methods_supported".into(),
                methods(&self.token_endpoint_auth_methods),
            );
        }
        if let Some(registration) = &self.endpoints.registration {
            doc.insert("registration_endpoint".into(), json!(registration));
        }
        if self.client_id_metadata_document_supported {
            doc.insert("client_id_metadata_document_supported".into(), json!(true));
        }
        if self.resource_parameter_supported {
            doc.insert("resource_parameter_supported".into(), json!(true));
        }
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
        for (name, value) in &self.extra {
            doc.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(doc)
    }

    /// Request paths at which the document is served.
    ///
    /// RFC 8414 §3.1 inserts the well-known suffix between host and path, so `https://h/v3/oauth` is
    /// described at `/.well-known/oauth-authorization-server/v3/oauth`. Some clients instead append it
    /// to the issuer (`/v3/oauth/.well-known/oauth-authorization-server`), so both are served.
    pub fn well_known_paths(&self) -> Vec<String> {
        let path = self.issuer.path();
        if path.is_empty() {
            vec![WELL_KNOWN_SUFFIX.to_owned()]
        } else {
            vec![
                format!("{WELL_KNOWN_SUFFIX}{path}"),
                format!("{path}{WELL_KNOWN_SUFFIX}"),
            ]
        }
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
            grant_types: [GrantType::ClientCredentials].into(),
            token_endpoint_auth_methods: [
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
            ]
            .into(),
            resource_parameter_supported: false,
            client_id_metadata_document_supported: false,
            scopes_supported: vec!["read:orders".into()],
            service_documentation: None,
            op_policy_uri: Some("https://example.com/privacy".into()),
            op_tos_uri: None,
            ui_locales_supported: vec![],
            extra: Map::new(),
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
}
