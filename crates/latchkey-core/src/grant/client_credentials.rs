//! `grant_type=client_credentials`: RFC 6749 §4.4, access tokens per RFC 9068.
use crate::OAuthError;
use crate::client::Client;
use crate::grant::ClientCredentialsRequest;
use crate::resource::{Resource, target};
use crate::token::{IssuedAccessToken, TokenPolicy};
use crate::types::{GrantType, Timestamp};

/// Decides the access token for an authenticated client. No refresh token: RFC 6749 §4.4.3 says one
/// "SHOULD NOT be included", since the client can always authenticate again.
///
/// `resource` is the configured resource the request named (`None` when it named none or an unknown one).
pub fn client_credentials(
    client: &Client,
    req: &ClientCredentialsRequest,
    resource: Option<&Resource>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<IssuedAccessToken, OAuthError> {
    // RFC 6749 §4.4: "MUST only be used by confidential clients": a public client proves nothing.
    if client.is_public() || !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the client_credentials grant",
        ));
    }
    let scope = match &req.scope {
        None => client.scope.clone(),
        Some(requested) if requested.is_subset(&client.scope) => requested.clone(),
        Some(requested) => {
            let refused: Vec<_> = requested
                .difference(&client.scope)
                .map(|t| t.as_str())
                .collect();
            return Err(OAuthError::invalid_scope(format!(
                "scope not allowed for this client: {}",
                refused.join(" ")
            )));
        }
    };
    let target = target(
        client,
        req.resource.as_ref(),
        resource,
        &scope,
        req.scope.is_some(),
        policy,
    )?;
    // RFC 9068 §2.2: with no resource owner, `sub` identifies the client.
    let sub = client.client_id.as_str().to_owned();
    Ok(IssuedAccessToken::new(
        policy, client, sub, &target, None, now,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ErrorCode;
    use crate::client::ClientAuth;
    use crate::secret::ClientSecret;
    use crate::types::{AuthMethod, ClientId, Issuer, Scope};

    fn client(grants: &[GrantType], scope: &str) -> Client {
        Client {
            client_id: ClientId::parse("svc").unwrap(),
            name: "svc".into(),
            auth: ClientAuth::Secret {
                method: AuthMethod::ClientSecretBasic,
                hash: ClientSecret::generate().hash(),
            },
            grant_types: grants.iter().copied().collect::<BTreeSet<_>>(),
            scope: Scope::parse(scope).unwrap(),
            redirect_uris: vec![],
            created_at: Timestamp(0),
            policy: crate::client::ClientPolicy::default(),
        }
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: Issuer::parse("https://as.example.com").unwrap(),
            access_token_ttl: 600,
            default_audience: "https://api.example.com".into(),
            code_ttl: 60,
            refresh_token_idle_ttl: 86_400,
            refresh_token_absolute_ttl: 30 * 86_400,
        }
    }

    fn request(scope: Option<&str>) -> ClientCredentialsRequest {
        ClientCredentialsRequest {
            scope: scope.map(|s| Scope::parse(s).unwrap()),
            resource: None,
        }
    }

    #[test]
    fn issues_rfc_9068_claims() {
        let issued = client_credentials(
            &client(&[GrantType::ClientCredentials], "read write"),
            &request(Some("read")),
            None,
            &policy(),
            Timestamp(1000),
        )
        .unwrap();
        let c = issued.claims;
        assert_eq!(
            (c.iss.as_str(), c.sub.as_str(), c.aud.as_str()),
            ("https://as.example.com", "svc", "https://api.example.com")
        );
        assert_eq!(
            (c.iat, c.exp, issued.expires_in),
            (Timestamp(1000), Timestamp(1600), 600)
        );
        assert_eq!(c.scope.to_string(), "read");
        assert_eq!(c.jti.len(), 22);
    }

    #[test]
    fn omitted_scope_defaults_to_the_clients_allowed_set() {
        let issued = client_credentials(
            &client(&[GrantType::ClientCredentials], "read write"),
            &request(None),
            None,
            &policy(),
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(issued.claims.scope.to_string(), "read write");
    }

    #[test]
    fn scope_outside_the_allowed_set_is_invalid_scope() {
        let err = client_credentials(
            &client(&[GrantType::ClientCredentials], "read"),
            &request(Some("read admin")),
            None,
            &policy(),
            Timestamp(0),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.description.contains("admin"));
    }

    #[test]
    fn client_without_the_grant_is_unauthorized() {
        let err = client_credentials(
            &client(&[], "read"),
            &request(None),
            None,
            &policy(),
            Timestamp(0),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnauthorizedClient);
    }
}
