//! `grant_type=authorization_code`: issuing a code at the authorization endpoint (RFC 6749 §4.1.2) and
//! redeeming it at the token endpoint (§4.1.3), bound to client, redirect_uri and PKCE challenge.
use crate::OAuthError;
use crate::authorize::AuthorizationRequest;
use crate::client::Client;
use crate::grant::record::{Grant, GrantId};
use crate::pkce::{CodeChallenge, CodeVerifier};
use crate::resource::{Resource, check_resource, target};
use crate::secret::{ClientSecret, SecretHash};
use crate::token::{IssuedTokens, TokenPolicy};
use crate::types::{ClientId, GrantType, ResourceUri, Timestamp};

/// An authorization code as stored: only its hash, and everything it is bound to.
#[derive(Clone, Debug)]
pub struct AuthorizationCodeRecord {
    /// SHA-256 of the code.
    pub hash: SecretHash,
    /// The grant the code starts.
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The redirect_uri the code was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request named redirect_uri, so the token request must too.
    pub redirect_uri_sent: bool,
    /// The PKCE challenge; `None` when the request was bound by an OpenID `nonce` instead.
    pub code_challenge: Option<CodeChallenge>,
    /// When the code expires.
    pub expires_at: Timestamp,
    /// OpenID `nonce`, for the ID token this code yields.
    pub nonce: Option<String>,
}

/// A new code: the value for the redirect, and the records to store.
#[derive(Debug)]
pub struct IssuedCode {
    /// The code in clear: sent once, in the redirect.
    pub code: ClientSecret,
    /// The stored code.
    pub record: AuthorizationCodeRecord,
    /// The grant it starts.
    pub grant: Grant,
}

/// Parameters of an authorization_code request.
#[derive(Debug)]
pub struct AuthorizationCodeRequest {
    /// SHA-256 of `code`: the code itself is never kept.
    pub code: SecretHash,
    /// `redirect_uri`, required when the authorization request carried one.
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE); absent only for a code whose request was bound by an OpenID `nonce`
    /// instead (the grant rule decides whether that is acceptable).
    pub code_verifier: Option<CodeVerifier>,
    /// `resource`, which must name the resource the grant was for.
    pub resource: Option<ResourceUri>,
}

/// Issues a code for an approved request.
pub fn issue_code(
    request: &AuthorizationRequest,
    user_id: &str,
    auth_time: Timestamp,
    sid: Option<&str>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> IssuedCode {
    let code = ClientSecret::generate();
    let grant = Grant {
        grant_id: GrantId::generate(),
        client_id: request.client.client_id.clone(),
        user_id: user_id.to_owned(),
        scope: request.scope.clone(),
        resource: request.resource.clone(),
        auth_time,
        created_at: now,
        expires_at: now.plus(policy.refresh_token_absolute_ttl),
        revoked_at: None,
        sid: sid.map(str::to_owned),
        claims: request.openid.as_ref().map(|o| o.claims.clone()),
    };
    let record = AuthorizationCodeRecord {
        hash: code.hash(),
        grant_id: grant.grant_id.clone(),
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_sent: request.redirect_uri_sent,
        code_challenge: request.code_challenge.clone(),
        expires_at: now.plus(policy.code_ttl),
        nonce: request.openid.as_ref().and_then(|o| o.nonce.clone()),
    };
    IssuedCode {
        code,
        record,
        grant,
    }
}

/// Decides the tokens for a code as found, before the store marks it used (L2: a failed check
/// spends nothing); the store's conditional update afterwards lets one concurrent redemption win.
pub fn authorization_code(
    client: &Client,
    req: &AuthorizationCodeRequest,
    code: &AuthorizationCodeRecord,
    grant: &Grant,
    resource: Option<&Resource>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<IssuedTokens, OAuthError> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization code grant",
        ));
    }
    // The same description for every mismatch: the client learns nothing about codes not its own.
    let invalid = || {
        OAuthError::invalid_grant("the code is invalid, expired or was issued to another client")
    };
    if code.client_id != client.client_id || now >= code.expires_at || grant.revoked_at.is_some() {
        return Err(invalid());
    }
    match (&req.redirect_uri, code.redirect_uri_sent) {
        (Some(sent), _) if *sent == code.redirect_uri => {}
        (None, false) => {}
        (None, true) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri is required: the authorization request included it",
            ));
        }
        (Some(_), _) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the one in the authorization request",
            ));
        }
    }
    match (&code.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request("code_verifier is required"));
        }
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the authorization request had no code_challenge, so no code_verifier is accepted",
            ));
        }
        (None, None) => {}
    }
    check_resource(&req.resource, &grant.resource)?;
    let target = target(
        client,
        grant.resource.as_ref(),
        resource,
        &grant.scope,
        false,
        policy,
    )?;
    Ok(policy.issue_for_grant(client, grant, &target, now))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::client::ClientAuth;
    use crate::params::Params;
    use crate::pkce::CodeVerifier;
    use crate::types::{Issuer, RedirectUri, ResourceUri, Scope};

    pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    pub(crate) fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: Issuer::parse("https://as.example").unwrap(),
            access_token_ttl: 600,
            default_audience: "https://as.example".into(),
            code_ttl: 60,
            refresh_token_idle_ttl: 3600,
            refresh_token_absolute_ttl: 86_400,
        }
    }

    /// The target of a grant without a resource, as `resource::target` decides it.
    pub(crate) fn target_for(grant: &Grant) -> crate::resource::Target {
        crate::resource::Target {
            audience: "https://as.example".into(),
            resource: None,
            scope: grant.scope.clone(),
            format: crate::client::TokenFormat::Jwt,
            ttl: 600,
        }
    }

    pub(crate) fn client(grants: &[GrantType]) -> Client {
        Client {
            client_id: ClientId::parse("app").unwrap(),
            name: "App".into(),
            auth: ClientAuth::Public,
            grant_types: grants.iter().copied().collect(),
            scope: Scope::parse("read write").unwrap(),
            redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
            created_at: Timestamp(0),
            policy: crate::client::ClientPolicy::default(),
        }
    }

    pub(crate) fn issued(query: &str, c: &Client) -> IssuedCode {
        let params = Params::parse_urlencoded(
            format!(
                "client_id=app&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256{query}"
            )
            .as_bytes(),
        )
        .unwrap();
        let request = AuthorizationRequest::parse(&params, Some(c.clone())).unwrap();
        issue_code(
            &request,
            "user-1",
            Timestamp(900),
            None,
            &policy(),
            Timestamp(1000),
        )
    }

    fn redeem(
        redirect_uri: Option<&str>,
        verifier: &str,
        resource: Option<&str>,
    ) -> AuthorizationCodeRequest {
        AuthorizationCodeRequest {
            code: SecretHash::of(b"ignored: the store looked it up"),
            redirect_uri: redirect_uri.map(str::to_owned),
            code_verifier: Some(CodeVerifier::parse(verifier).unwrap()),
            resource: resource.map(|r| ResourceUri::parse(r).unwrap()),
        }
    }

    #[test]
    fn a_code_yields_tokens_for_the_user_and_resource() {
        let c = client(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let code = issued("&scope=read&resource=https%3A%2F%2Fapi.example%2F", &c);
        assert_eq!(code.record.expires_at, Timestamp(1060));
        let api = crate::resource::Resource {
            uri: ResourceUri::parse("https://api.example/").unwrap(),
            scopes: Scope::default(),
            format: None,
            access_token_ttl: Some(300),
        };
        let tokens = authorization_code(
            &c,
            &redeem(None, VERIFIER, Some("https://api.example/")),
            &code.record,
            &code.grant,
            Some(&api),
            &policy(),
            Timestamp(1010),
        )
        .unwrap();
        assert_eq!(tokens.access.expires_in, 300, "the resource's lifetime");
        let claims = &tokens.access.claims;
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.aud, "https://api.example/");
        assert_eq!(claims.scope.to_string(), "read");
        assert_eq!(claims.auth_time, Some(Timestamp(900)));
        let refresh = tokens.refresh.unwrap();
        assert_eq!(refresh.record.grant_id, code.grant.grant_id);
        assert_eq!(refresh.record.expires_at, Timestamp(1010 + 3600));
    }

    #[test]
    fn no_refresh_token_without_the_refresh_grant() {
        let c = client(&[GrantType::AuthorizationCode]);
        let code = issued("", &c);
        let tokens = authorization_code(
            &c,
            &redeem(None, VERIFIER, None),
            &code.record,
            &code.grant,
            None,
            &policy(),
            Timestamp(1010),
        )
        .unwrap();
        assert!(tokens.refresh.is_none());
    }

    #[test]
    fn every_binding_is_checked() {
        use ErrorCode::{InvalidGrant, InvalidTarget};
        let c = client(&[GrantType::AuthorizationCode]);
        let with_uri = issued("&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", &c);
        let plain = issued("", &c);
        let mut other = c.clone();
        other.client_id = ClientId::parse("other").unwrap();
        let good = || redeem(None, VERIFIER, None);
        let wrong_verifier = redeem(None, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", None);
        let other_uri = redeem(Some("https://app.example/cb2"), VERIFIER, None);
        let other_resource = redeem(None, VERIFIER, Some("https://other.example/"));
        // Another client's code, an expired one, a wrong verifier, a missing or different
        // redirect_uri, another resource.
        let cases = [
            (&other, good(), &plain, 1010, InvalidGrant),
            (&c, good(), &plain, 1060, InvalidGrant),
            (&c, wrong_verifier, &plain, 1010, InvalidGrant),
            (&c, good(), &with_uri, 1010, InvalidGrant),
            (&c, other_uri, &with_uri, 1010, InvalidGrant),
            (&c, other_resource, &plain, 1010, InvalidTarget),
        ];
        for (i, (client, req, code, now, expected)) in cases.into_iter().enumerate() {
            let err = authorization_code(
                client,
                &req,
                &code.record,
                &code.grant,
                None,
                &policy(),
                Timestamp(now),
            )
            .unwrap_err();
            assert_eq!(err.code, expected, "case {i}: {err}");
        }
        // The matching redirect_uri is accepted.
        assert!(
            authorization_code(
                &c,
                &redeem(Some("https://app.example/cb"), VERIFIER, None),
                &with_uri.record,
                &with_uri.grant,
                None,
                &policy(),
                Timestamp(1010)
            )
            .is_ok()
        );
        // A revoked grant's code yields nothing.
        let mut revoked = plain.grant.clone();
        revoked.revoked_at = Some(Timestamp(1005));
        assert!(
            authorization_code(
                &c,
                &redeem(None, VERIFIER, None),
                &plain.record,
                &revoked,
                None,
                &policy(),
                Timestamp(1010)
            )
            .is_err()
        );
    }

    #[test]
    fn a_nonce_bound_code_takes_no_verifier_and_a_pkce_code_needs_one() {
        let c = client(&[GrantType::AuthorizationCode]);
        let pkce = issued("", &c);
        let mut nonce_bound = issued("", &c);
        nonce_bound.record.code_challenge = None;
        let run = |code: &IssuedCode, verifier: Option<&str>| {
            let mut req = redeem(None, VERIFIER, None);
            req.code_verifier = verifier.map(|v| CodeVerifier::parse(v).unwrap());
            authorization_code(
                &c,
                &req,
                &code.record,
                &code.grant,
                None,
                &policy(),
                Timestamp(1010),
            )
            .map(|_| ())
            .map_err(|e| e.code)
        };
        assert_eq!(run(&nonce_bound, None), Ok(()));
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        assert_eq!(
            run(&nonce_bound, Some(VERIFIER)),
            Err(ErrorCode::InvalidGrant)
        );
        assert_eq!(run(&pkce, None), Err(ErrorCode::InvalidRequest));
        assert_eq!(run(&pkce, Some(VERIFIER)), Ok(()));
    }
}
