//! `grant_type=refresh_token` (RFC 6749 §6) with rotation: every use returns a new refresh token;
//! one found used, or beaten to the store's update, revokes its whole grant (OAuth 2.1 §4.3.1).
use crate::OAuthError;
use crate::client::Client;
use crate::grant::record::Grant;
use crate::resource::{Resource, check_resource, target};
use crate::token::{IssuedTokens, RefreshTokenRecord, TokenPolicy};
use crate::types::{GrantType, Timestamp};

/// Decides the tokens for a refresh token as found, before the store marks it used (L2: a failed
/// check spends nothing); the store's conditional update afterwards lets one concurrent use win.
pub fn refresh_token(
    client: &Client,
    req: &RefreshTokenRequest,
    record: &RefreshTokenRecord,
    grant: &Grant,
    resource: Option<&Resource>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<IssuedTokens, OAuthError> {
    if !client.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the refresh_token grant",
        ));
    }
    if record.client_id != client.client_id
        || now >= record.expires_at
        || now >= grant.expires_at
        || grant.revoked_at.is_some()
    {
        return Err(OAuthError::invalid_grant(
            "the refresh token is invalid, expired, revoked or was issued to another client",
        ));
    }
    let scope = match &req.scope {
        None => grant.scope.clone(),
        Some(requested) if requested.is_subset(&grant.scope) => requested.clone(),
        Some(_) => {
            return Err(OAuthError::invalid_scope(
                "scope is broader than what was granted",
            ));
        }
    };
    check_resource(&req.resource, &grant.resource)?;
    // The grant's resource, with the scope narrowed to what that resource offers.
    let target = target(
        client,
        grant.resource.as_ref(),
        resource,
        &scope,
        req.scope.is_some(),
        policy,
    )?;
    Ok(policy.issue_for_grant(client, grant, &target, now))
}

/// Parameters of a refresh_token request.
#[derive(Debug)]
pub struct RefreshTokenRequest {
    /// SHA-256 of `refresh_token`.
    pub refresh_token: crate::secret::SecretHash,
    /// `scope`: no broader than the grant's (RFC 6749 §6).
    pub scope: Option<crate::types::Scope>,
    /// `resource`, which must name the resource the grant was for.
    pub resource: Option<crate::types::ResourceUri>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::grant::authorization_code::tests::{client, issued, policy, target_for};
    use crate::secret::SecretHash;
    use crate::types::Scope;

    fn request(scope: Option<&str>) -> RefreshTokenRequest {
        RefreshTokenRequest {
            refresh_token: SecretHash::of(b"looked up by the store"),
            scope: scope.map(|s| Scope::parse(s).unwrap()),
            resource: None,
        }
    }

    #[test]
    fn refresh_rotates_and_may_narrow_scope() {
        let c = client(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let code = issued("", &c);
        let first = c.clone();
        let tokens = policy().issue_for_grant(
            &first,
            &code.grant,
            &target_for(&code.grant),
            Timestamp(1000),
        );
        let record = tokens.refresh.unwrap().record;
        let next = refresh_token(
            &c,
            &request(Some("read")),
            &record,
            &code.grant,
            None,
            &policy(),
            Timestamp(2000),
        )
        .unwrap();
        assert_eq!(next.access.claims.scope.to_string(), "read");
        let rotated = next.refresh.unwrap();
        assert_ne!(rotated.record.hash, record.hash);
        assert_eq!(rotated.record.grant_id, record.grant_id);
        assert_eq!(
            refresh_token(
                &c,
                &request(Some("read admin")),
                &record,
                &code.grant,
                None,
                &policy(),
                Timestamp(2000)
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn idle_absolute_revoked_and_foreign_tokens_are_refused() {
        let c = client(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let code = issued("", &c);
        let record = policy()
            .issue_for_grant(&c, &code.grant, &target_for(&code.grant), Timestamp(1000))
            .refresh
            .unwrap()
            .record;
        let refuse = |client: &Client, grant: &Grant, now: i64| {
            refresh_token(
                client,
                &request(None),
                &record,
                grant,
                None,
                &policy(),
                Timestamp(now),
            )
            .unwrap_err()
            .code
        };
        // Idle lifetime: 3600 s after issue.
        assert_eq!(
            refuse(&c, &code.grant, 1000 + 3600),
            ErrorCode::InvalidGrant
        );
        let mut revoked = code.grant.clone();
        revoked.revoked_at = Some(Timestamp(1500));
        assert_eq!(refuse(&c, &revoked, 1600), ErrorCode::InvalidGrant);
        let mut ended = code.grant.clone();
        ended.expires_at = Timestamp(1500);
        assert_eq!(refuse(&c, &ended, 1600), ErrorCode::InvalidGrant);
        let mut other = c.clone();
        other.client_id = crate::types::ClientId::parse("other").unwrap();
        assert_eq!(refuse(&other, &code.grant, 1600), ErrorCode::InvalidGrant);
        let no_grant = client(&[GrantType::AuthorizationCode]);
        assert_eq!(
            refuse(&no_grant, &code.grant, 1600),
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn refresh_tokens_never_outlive_the_grant() {
        let c = client(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let code = issued("", &c);
        // The grant ends at 1000 + 86400; a token issued an hour before that ends with it.
        let late = Timestamp(1000 + 86_400 - 60);
        let record = policy()
            .issue_for_grant(&c, &code.grant, &target_for(&code.grant), late)
            .refresh
            .unwrap()
            .record;
        assert_eq!(record.expires_at, code.grant.expires_at);
    }
}
