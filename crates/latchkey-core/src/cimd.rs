//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is
//! an https URL names a JSON document of client metadata, published by the client itself.
use serde_json::Value;

use crate::OAuthError;
use crate::client::{Client, ClientAuth, ClientPolicy};
use crate::registration::{ClientMetadata, RegistrationRules};
use crate::types::{AuthMethod, ClientId, Timestamp};

/// Whether a client_id is a metadata document URL: https, with a path, and no fragment.
pub fn is_document_url(client_id: &ClientId) -> bool {
    url::Url::parse(client_id.as_str()).is_ok_and(|u| {
        u.scheme() == "https" && u.fragment().is_none() && u.path() != "/" && u.host().is_some()
    })
}

/// The host a person should see on the consent page for a document client.
pub fn host_of(client_id: &ClientId) -> Option<String> {
    url::Url::parse(client_id.as_str())
        .ok()
        .filter(|u| u.scheme() == "https")
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// Builds the client a fetched document describes.
///
/// # Security
/// The document must name itself (`client_id` equal to its URL, byte for byte), so nobody can publish
/// metadata for someone else's client_id; it must not carry a secret (anyone can read it), and its
/// redirect URIs are the only ones the client gets. Like a self-registered client it may have only
/// the published scopes and the grant types `rules` allow (H1), and never `client_credentials`:
/// what it lists beyond them is dropped (RFC 7591 §3.2.1), not granted.
pub fn client_from_document(
    client_id: &ClientId,
    document: &Value,
    rules: &RegistrationRules,
    now: Timestamp,
) -> Result<Client, OAuthError> {
    let bad = |m: &str| OAuthError::invalid_client_metadata(m.to_owned());
    if document.get("client_id").and_then(|v| v.as_str()) != Some(client_id.as_str()) {
        return Err(bad("the document's client_id does not equal its URL"));
    }
    if document.get("client_secret").is_some() || document.get("client_secret_expires_at").is_some()
    {
        return Err(bad(
            "a client metadata document must not contain a client secret",
        ));
    }
    let mut document = document.clone();
    if document.get("token_endpoint_auth_method").is_none() {
        document["token_endpoint_auth_method"] = "none".into();
    }
    let bytes = serde_json::to_vec(&document).map_err(|_| bad("the document is not JSON"))?;
    let rules = RegistrationRules {
        client_credentials_resources: None,
        ..rules.clone()
    };
    let r = ClientMetadata::from_json(&bytes)?.validate(&rules)?;
    if !matches!(r.method, AuthMethod::None | AuthMethod::PrivateKeyJwt) {
        return Err(bad(
            "a document client is public (none) or uses private_key_jwt; it cannot hold a secret",
        ));
    }
    Ok(Client {
        name: r
            .name
            .or_else(|| host_of(client_id))
            .unwrap_or_else(|| client_id.to_string()),
        auth: match r.method {
            AuthMethod::PrivateKeyJwt => ClientAuth::PrivateKeyJwt {
                jwks: r.jwks,
                jwks_uri: r.jwks_uri,
            },
            _ => ClientAuth::Public,
        },
        grant_types: r.grant_types,
        scope: r.scope,
        redirect_uris: r.redirect_uris,
        created_at: now,
        policy: ClientPolicy {
            metadata_document: true,
            ..ClientPolicy::default()
        },
        client_id: client_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::types::{GrantType, Scope};
    use serde_json::json;

    fn id() -> ClientId {
        ClientId::parse("https://app.example/oauth/client.json").unwrap()
    }

    /// A document naming itself with one redirect URI, with `changes` applied.
    fn document(changes: Value) -> Value {
        let mut doc = json!({"client_id": "https://app.example/oauth/client.json", "redirect_uris": ["https://app.example/cb"]});
        for (member, value) in changes.as_object().unwrap() {
            doc[member] = value.clone();
        }
        doc
    }

    fn rules(scopes: &str) -> RegistrationRules {
        RegistrationRules {
            scopes: Scope::parse(scopes).unwrap(),
            ..RegistrationRules::default()
        }
    }

    fn build(doc: Value) -> Result<Client, OAuthError> {
        client_from_document(&id(), &doc, &rules("read"), Timestamp(0))
    }

    #[test]
    fn h1_document_clients_get_only_published_scopes_and_no_machine_grant() {
        // Asked for, not granted: the unpublished scope and the machine grant are dropped.
        let hidden = build(document(json!({"scope": "read internal"}))).unwrap();
        assert_eq!(hidden.scope.to_string(), "read");
        let machine = build(document(json!({
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks",
        })))
        .unwrap();
        assert_eq!(machine.grant_types, [GrantType::AuthorizationCode].into());
        // Nothing usable left: refused.
        let only_machine = document(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks",
        }));
        assert_eq!(
            build(only_machine).unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
        let none =
            client_from_document(&id(), &document(json!({})), &rules(""), Timestamp(0)).unwrap();
        assert!(none.scope.is_empty(), "no published scopes: no scope");
    }

    #[test]
    fn a_document_naming_itself_becomes_a_public_client() {
        let client = build(json!({
            "client_id": "https://app.example/oauth/client.json",
            "client_name": "App",
            "redirect_uris": ["https://app.example/cb"],
        }))
        .unwrap();
        assert!(client.is_public());
        assert_eq!(client.name, "App");
        assert_eq!(client.scope.to_string(), "read");
        assert!(is_document_url(&id()));
        assert_eq!(host_of(&id()).as_deref(), Some("app.example"));
        assert!(!is_document_url(&ClientId::parse("plain-id").unwrap()));
        assert!(!is_document_url(
            &ClientId::parse("http://app.example/c.json").unwrap()
        ));
    }

    #[test]
    fn mismatched_secret_bearing_or_confidential_documents_are_refused() {
        let other = document(json!({"client_id": "https://evil.example/oauth/client.json"}));
        let secret = document(json!({"client_secret": "s"}));
        let basic = document(json!({"token_endpoint_auth_method": "client_secret_basic"}));
        let trailing = document(json!({"client_id": "https://app.example/oauth/client.json/"}));
        for doc in [
            other,
            secret,
            basic,
            trailing,
            json!({"client_id": "https://app.example/oauth/client.json"}),
        ] {
            let err = build(doc.clone()).unwrap_err();
            assert!(
                matches!(
                    err.code,
                    ErrorCode::InvalidClientMetadata | ErrorCode::InvalidRedirectUri
                ),
                "{doc}"
            );
        }
    }
}
