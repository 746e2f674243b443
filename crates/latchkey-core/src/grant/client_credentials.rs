//! `grant_type=client_credentials`: RFC 6749 §4.4, access tokens per RFC 9068.
use crate::OAuthError;
use crate::client::Client;
use crate::resource::{Resource, target};
use crate::token::{IssuedAccessToken, TokenPolicy};
use crate::types::{GrantType, ResourceUri, Scope, Timestamp};

/// Parameters of a client_credentials request.
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    /// `scope`, when the request names one.
    pub scope: Option<Scope>,
    /// `resource` (RFC 8707), when the request names one.
    pub resource: Option<ResourceUri>,
}

/// Decides the access token for an authenticated client. No refresh token: RFC 6749 §4.4.3 says one
/// "SHOULD NOT be included", since the client can always authenticate again.
///
/// `resource` is the configured resource the request named (`None` when it named none or an unknown one).
/// `self_registered` is `RegistrationRules::client_credentials_resources`: whether a client that
/// registered itself may use this grant, and for which resources.
///
/// # Security
/// No person approves a machine token, so a client nobody vouches for (RFC 7591) gets one only when
/// the operator opted in, and only for the resources the operator listed (H1). The rule is read at
/// every request, so turning it off also stops clients registered before.
pub fn client_credentials(
    client: &Client,
    req: &ClientCredentialsRequest,
    resource: Option<&Resource>,
    self_registered: Option<&[ResourceUri]>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<IssuedAccessToken, OAuthError> {
    let unauthorized =
        || OAuthError::unauthorized_client("this client may not use the client_credentials grant");
    // RFC 6749 §4.4: "MUST only be used by confidential clients": a public client proves nothing.
    if client.is_public() || !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(unauthorized());
    }
    if client.policy.registration.is_some() {
        let allowed = self_registered.ok_or_else(unauthorized)?;
        if req.resource.as_ref().is_some_and(|r| !allowed.contains(r)) {
            return Err(OAuthError::invalid_target(
                "a self-registered client may not ask machine tokens for that resource",
            ));
        }
    }
    let scope = client.requested_scope(req.scope.as_ref())?;
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

    /// The grant for a client allowed `allowed` asking for `requested`, at no resource.
    fn issue(allowed: &str, requested: Option<&str>) -> Result<IssuedAccessToken, OAuthError> {
        let c = client(&[GrantType::ClientCredentials], allowed);
        client_credentials(
            &c,
            &request(requested),
            None,
            None,
            &policy(),
            Timestamp(1000),
        )
    }

    fn request(scope: Option<&str>) -> ClientCredentialsRequest {
        ClientCredentialsRequest {
            scope: scope.map(|s| Scope::parse(s).unwrap()),
            resource: None,
        }
    }

    #[test]
    fn issues_rfc_9068_claims() {
        let issued = issue("read write", Some("read")).unwrap();
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
        let issued = issue("read write", None).unwrap();
        assert_eq!(issued.claims.scope.to_string(), "read write");
    }

    #[test]
    fn scope_outside_the_allowed_set_is_invalid_scope() {
        let err = issue("read", Some("read admin")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.description().contains("admin"));
    }

    #[test]
    fn h1_self_registered_machine_clients_reach_only_listed_resources() {
        let mut c = client(&[GrantType::ClientCredentials], "read");
        c.policy.registration = Some(crate::client::DynamicRegistration {
            token_hash: ClientSecret::generate().hash(),
            activated_at: None,
        });
        let billing = ResourceUri::parse("https://billing.example/").unwrap();
        let api = Resource {
            uri: billing.clone(),
            scopes: Scope::default(),
            format: None,
            access_token_ttl: None,
        };
        let named = ClientCredentialsRequest {
            scope: None,
            resource: Some(billing.clone()),
        };
        let err = client_credentials(&c, &request(None), None, None, &policy(), Timestamp(0))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnauthorizedClient, "not opted in");
        let default_only =
            client_credentials(&c, &request(None), None, Some(&[]), &policy(), Timestamp(0))
                .unwrap();
        assert_eq!(default_only.claims.aud, "https://api.example.com");
        let err = client_credentials(&c, &named, Some(&api), Some(&[]), &policy(), Timestamp(0))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        let listed = client_credentials(
            &c,
            &named,
            Some(&api),
            Some(std::slice::from_ref(&billing)),
            &policy(),
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(listed.claims.aud, "https://billing.example/");
        // An operator's client is not narrowed.
        c.policy.registration = None;
        assert!(client_credentials(&c, &named, Some(&api), None, &policy(), Timestamp(0)).is_ok());
    }

    #[test]
    fn client_without_the_grant_is_unauthorized() {
        let err = client_credentials(
            &client(&[], "read"),
            &request(None),
            None,
            None,
            &policy(),
            Timestamp(0),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnauthorizedClient);
    }
}
