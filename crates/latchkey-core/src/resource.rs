//! Resource indicators (RFC 8707): the configured resources (APIs), and which one a token is for.
//!
//! Latchkey follows a single-value policy: a token has exactly one audience, the resource the request
//! named, or the configured default audience when it named none.
use url::Url;

use crate::OAuthError;
use crate::client::{Client, TokenFormat};
use crate::token::policy::TokenPolicy;
use crate::types::{ResourceUri, Scope, is_loopback_host};

/// A configured resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Its identifier, which becomes the tokens' `aud`.
    pub uri: ResourceUri,
    /// Scopes that mean something at this resource; empty: any scope the client may have.
    pub scopes: Scope,
    /// Access-token format for this resource, overriding the client's.
    pub format: Option<TokenFormat>,
    /// Access-token lifetime for this resource, in seconds.
    pub access_token_ttl: Option<u64>,
}

impl Resource {
    /// Validates an identifier for the registry: an absolute https URI without fragment, or http on a
    /// loopback host for local development (MCP clients send their server's URL, such as
    /// `http://127.0.0.1:8788/mcp`).
    pub fn parse_identifier(value: &str) -> Result<ResourceUri, String> {
        let uri = ResourceUri::parse(value).map_err(|e| e.into_description())?;
        let url = Url::parse(value).map_err(|e| e.to_string())?;
        match url.scheme() {
            "https" => Ok(uri),
            "http" if is_loopback_host(&url) => Ok(uri),
            _ => Err(format!(
                "`{value}` must be an https URI, or http on a loopback host"
            )),
        }
    }
}

/// Where a token goes and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `aud`.
    pub audience: String,
    /// The resource, when one was named.
    pub resource: Option<ResourceUri>,
    /// The token's scope.
    pub scope: Scope,
    /// JWT or opaque.
    pub format: TokenFormat,
    /// Lifetime in seconds.
    pub ttl: u64,
}

/// Decides the target of a token for `client`.
///
/// `registered` is the configured resource named `requested` (`None` when unknown). An `explicit`
/// scope must fit the resource's scopes (`invalid_scope`); an implied one (the client's allowed set, a
/// grant's scope on refresh) is narrowed to them.
pub fn target(
    client: &Client,
    requested: Option<&ResourceUri>,
    registered: Option<&Resource>,
    scope: &Scope,
    explicit: bool,
    policy: &TokenPolicy,
) -> Result<Target, OAuthError> {
    let client_format = client
        .policy
        .access_token_format
        .unwrap_or(TokenFormat::Jwt);
    let Some(requested) = requested else {
        return Ok(Target {
            audience: policy.default_audience.clone(),
            resource: None,
            scope: scope.clone(),
            format: client_format,
            ttl: policy.access_token_ttl,
        });
    };
    let resource = registered
        .filter(|r| &r.uri == requested)
        .ok_or_else(|| OAuthError::invalid_target("resource is not one this server knows"))?;
    if !client.policy.resources.is_empty() && !client.policy.resources.contains(requested) {
        return Err(OAuthError::invalid_target(
            "this client may not ask for tokens for that resource",
        ));
    }
    let scope = if resource.scopes.is_empty() {
        scope.clone()
    } else if explicit {
        if !scope.is_subset(&resource.scopes) {
            let refused: Vec<_> = scope
                .difference(&resource.scopes)
                .map(|t| t.as_str())
                .collect();
            return Err(OAuthError::invalid_scope(format!(
                "scope not offered by this resource: {}",
                refused.join(" ")
            )));
        }
        scope.clone()
    } else {
        scope
            .iter()
            .filter(|t| resource.scopes.contains(t.as_str()))
            .cloned()
            .collect()
    };
    Ok(Target {
        audience: resource.uri.as_str().to_owned(),
        resource: Some(resource.uri.clone()),
        scope,
        format: resource.format.unwrap_or(client_format),
        ttl: resource.access_token_ttl.unwrap_or(policy.access_token_ttl),
    })
}

/// RFC 8707 §2.2: a token request may repeat the grant's resource, never name another.
pub(crate) fn check_resource(
    requested: &Option<ResourceUri>,
    granted: &Option<ResourceUri>,
) -> Result<(), OAuthError> {
    match (requested, granted) {
        (None, _) => Ok(()),
        (Some(r), Some(g)) if r == g => Ok(()),
        (Some(_), _) => Err(OAuthError::invalid_target(
            "resource is not one this grant covers",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::grant::authorization_code::tests::{client, policy};
    use crate::types::GrantType;

    fn api(scopes: &str) -> Resource {
        Resource {
            uri: ResourceUri::parse("https://api.example/").unwrap(),
            scopes: Scope::parse(scopes).unwrap(),
            format: Some(TokenFormat::Opaque),
            access_token_ttl: Some(120),
        }
    }

    #[test]
    fn identifiers_are_https_or_loopback_http_without_fragment() {
        for ok in ["https://api.example/v1", "http://127.0.0.1:8788/mcp"] {
            assert!(Resource::parse_identifier(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://api.example/", "plain http off loopback"),
            ("https://api.example/#x", "a fragment"),
            ("/relative", "not absolute"),
            ("urn:example:api", "not a URL a token can be sent to"),
        ] {
            assert!(Resource::parse_identifier(bad).is_err(), "{bad}: {why}");
        }
    }

    #[test]
    fn a_named_resource_sets_audience_format_ttl_and_scope() {
        let c = client(&[GrantType::AuthorizationCode]);
        let uri = ResourceUri::parse("https://api.example/").unwrap();
        let scope = Scope::parse("read write").unwrap();
        let t = target(&c, Some(&uri), Some(&api("read")), &scope, false, &policy()).unwrap();
        assert_eq!(t.audience, "https://api.example/");
        assert_eq!(t.scope.to_string(), "read", "narrowed to the resource");
        assert_eq!((t.format, t.ttl), (TokenFormat::Opaque, 120));
        let err = target(&c, Some(&uri), Some(&api("read")), &scope, true, &policy()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        let none = target(&c, None, None, &scope, true, &policy()).unwrap();
        assert_eq!(none.audience, "https://as.example");
        assert_eq!((none.format, none.ttl), (TokenFormat::Jwt, 600));
    }

    #[test]
    fn unknown_or_disallowed_resources_are_invalid_target() {
        let mut c = client(&[GrantType::AuthorizationCode]);
        let uri = ResourceUri::parse("https://other.example/").unwrap();
        let scope = Scope::default();
        let err = target(&c, Some(&uri), None, &scope, false, &policy()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        c.policy.resources = vec![ResourceUri::parse("https://other.example/").unwrap()];
        let mine = ResourceUri::parse("https://api.example/").unwrap();
        let err = target(&c, Some(&mine), Some(&api("")), &scope, false, &policy()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }
}
