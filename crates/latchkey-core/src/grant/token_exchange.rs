//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a service trades an access
//! token this server issued for one aimed at another resource, never with more scope, and with an `act`
//! claim naming the actor when it presents an actor token.
use serde_json::json;

use crate::OAuthError;
use crate::client::Client;
use crate::params::Params;
use crate::resource::{Resource, target};
use crate::token::{AccessTokenClaims, IssuedAccessToken, TokenPolicy};
use crate::types::{GrantType, ResourceUri, Scope, Timestamp};

/// RFC 8693 §3: the token type this server exchanges from and to.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Parameters of a token exchange request.
#[derive(Debug)]
pub struct TokenExchangeRequest {
    /// The token being exchanged.
    pub subject_token: String,
    /// A token for the party acting on the subject's behalf.
    pub actor_token: Option<String>,
    /// The resource the new token is for (`resource`, or `audience` naming a configured resource).
    pub resource: Option<ResourceUri>,
    /// `scope`: no broader than the subject token's.
    pub scope: Option<Scope>,
}

impl TokenExchangeRequest {
    /// Parses the parameters of RFC 8693 §2.1.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        let subject_token = params.require("subject_token")?.to_owned();
        if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        let actor_token = params.get("actor_token").map(str::to_owned);
        match (actor_token.is_some(), params.get("actor_token_type")) {
            (true, Some(ACCESS_TOKEN_TYPE)) | (false, None) => {}
            (true, _) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
                ));
            }
            (false, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type without actor_token",
                ));
            }
        }
        if params
            .get("requested_token_type")
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(OAuthError::invalid_request(
                "this server issues only access tokens by exchange",
            ));
        }
        let resource = params.get("resource").map(ResourceUri::parse).transpose()?;
        let audience = params
            .get("audience")
            .map(|a| {
                ResourceUri::parse(a).map_err(|_| {
                    OAuthError::invalid_target("audience must name a configured resource")
                })
            })
            .transpose()?;
        let resource = match (resource, audience) {
            (Some(r), Some(a)) if r != a => {
                return Err(OAuthError::invalid_target(
                    "resource and audience name different targets; this server issues one audience",
                ));
            }
            (r, a) => r.or(a),
        };
        Ok(Self {
            subject_token,
            actor_token,
            resource,
            scope: params.get("scope").map(Scope::parse).transpose()?,
        })
    }
}

/// Decides the exchanged token. `subject` and `actor` are the claims of active tokens this server
/// issued (the caller answers `invalid_request` for anything else, RFC 8693 §2.2.2).
///
/// # Security
/// An exchanged token must never outlive or outrank what it came from (M2): it expires no later than
/// the subject token, carries no scope beyond both the subject's and the caller's registered scope,
/// names as actor only a token issued to the caller itself (another client's token, such as a
/// gateway's that reached this service, would let the caller pose as that client in `act`), and a
/// token already for the requested resource cannot be exchanged into it again (which only renews it).
/// The caller records the new token with the subject's grant, so revoking that grant revokes it too.
pub fn token_exchange(
    client: &Client,
    req: &TokenExchangeRequest,
    subject: &AccessTokenClaims,
    actor: Option<&AccessTokenClaims>,
    resource: Option<&Resource>,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<IssuedAccessToken, OAuthError> {
    if client.is_public() || !client.grant_types.contains(&GrantType::TokenExchange) {
        return Err(OAuthError::unauthorized_client(
            "this client may not exchange tokens",
        ));
    }
    let Some(requested) = &req.resource else {
        return Err(OAuthError::invalid_target(
            "name the resource the new token is for (resource or audience)",
        ));
    };
    // Exchange is how a service reaches further; only the resources configured for it are allowed.
    if !client.policy.resources.contains(requested) {
        return Err(OAuthError::invalid_target(
            "this client may not exchange tokens into that resource",
        ));
    }
    if subject.aud == requested.as_str() {
        return Err(OAuthError::invalid_target(
            "the subject token is already for that resource",
        ));
    }
    if actor.is_some_and(|a| a.client_id != client.client_id) {
        return Err(OAuthError::invalid_request(
            "actor_token was not issued to this client",
        ));
    }
    // Both bounds: what the user granted, and what the operator lets this client hold.
    let allowed: Scope = subject
        .scope
        .iter()
        .filter(|t| client.scope.contains(t.as_str()))
        .cloned()
        .collect();
    let scope = match &req.scope {
        None => allowed,
        Some(s) if s.is_subset(&allowed) => s.clone(),
        Some(_) => {
            return Err(OAuthError::invalid_scope(
                "scope is broader than the subject token's or this client's",
            ));
        }
    };
    let target = target(
        client,
        Some(requested),
        resource,
        &scope,
        req.scope.is_some(),
        policy,
    )?;
    let mut issued = IssuedAccessToken::new(
        policy,
        client,
        subject.sub.clone(),
        &target,
        subject.auth_time,
        now,
    );
    if issued.claims.exp > subject.exp {
        issued.claims.exp = subject.exp;
        issued.expires_in = subject.exp.0.saturating_sub(now.0).try_into().unwrap_or(0);
    }
    // RFC 8693 §4.1: the current actor outermost, earlier actors nested inside; without an actor
    // token the chain the subject token already carries stays as it is.
    issued.claims.act = match actor {
        Some(a) => {
            let mut act = json!({ "sub": a.sub, "client_id": a.client_id });
            if let Some(prior) = &subject.act {
                act["act"] = prior.clone();
            }
            Some(act)
        }
        None => subject.act.clone(),
    };
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::grant::authorization_code::tests::{client, policy};
    use crate::types::ClientId;

    fn exchanger() -> Client {
        let mut c = client(&[GrantType::TokenExchange]);
        c.auth = crate::client::ClientAuth::Secret {
            method: crate::types::AuthMethod::ClientSecretBasic,
            hash: crate::secret::ClientSecret::generate().hash(),
        };
        c.client_id = ClientId::parse("svc-a").unwrap();
        c.policy.resources = vec![ResourceUri::parse("https://b.example/").unwrap()];
        c.scope = Scope::parse("read write").unwrap();
        c
    }

    fn claims(sub: &str, scope: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as.example".into(),
            sub: sub.into(),
            aud: "https://a.example/".into(),
            client_id: ClientId::parse("app").unwrap(),
            scope: Scope::parse(scope).unwrap(),
            iat: Timestamp(0),
            exp: Timestamp(600),
            jti: "j".into(),
            auth_time: Some(Timestamp(0)),
            act: None,
        }
    }

    fn b() -> Resource {
        Resource {
            uri: ResourceUri::parse("https://b.example/").unwrap(),
            scopes: Scope::default(),
            format: None,
            access_token_ttl: None,
        }
    }

    fn request(query: &str) -> Result<TokenExchangeRequest, OAuthError> {
        TokenExchangeRequest::parse(
            &Params::parse_urlencoded(
                format!("subject_token=t&subject_token_type={ACCESS_TOKEN_TYPE}{query}").as_bytes(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn exchanges_into_an_allowed_resource_with_act() {
        let req = request("&resource=https%3A%2F%2Fb.example%2F&scope=read").unwrap();
        let mut actor = claims("svc-a", "");
        actor.client_id = ClientId::parse("svc-a").unwrap();
        let issued = token_exchange(
            &exchanger(),
            &req,
            &claims("alice", "read write"),
            Some(&actor),
            Some(&b()),
            &policy(),
            Timestamp(10),
        )
        .unwrap();
        let c = &issued.claims;
        assert_eq!(
            (c.sub.as_str(), c.aud.as_str()),
            ("alice", "https://b.example/")
        );
        assert_eq!(c.client_id.as_str(), "svc-a");
        assert_eq!(c.scope.to_string(), "read");
        assert_eq!(c.act.as_ref().unwrap()["sub"], "svc-a");
    }

    #[test]
    fn m2_exchanged_tokens_never_outlive_or_outrank_their_subject() {
        let req = |q: &str| request(&format!("&resource=https%3A%2F%2Fb.example%2F{q}")).unwrap();
        let exchange = |client: &Client, subject: &AccessTokenClaims, actor, q: &str| {
            token_exchange(
                client,
                &req(q),
                subject,
                actor,
                Some(&b()),
                &policy(),
                Timestamp(500),
            )
        };
        // Lifetime: the subject expires at 600, the policy would give 500 + 600.
        let issued = exchange(&exchanger(), &claims("alice", "read"), None, "").unwrap();
        assert_eq!(issued.claims.exp, Timestamp(600));
        assert_eq!(issued.expires_in, 100);
        // Scope: bounded by the caller's registered scope too.
        let mut narrow = exchanger();
        narrow.scope = Scope::parse("read").unwrap();
        let issued = exchange(&narrow, &claims("alice", "read write"), None, "").unwrap();
        assert_eq!(issued.claims.scope.to_string(), "read");
        let err = exchange(
            &narrow,
            &claims("alice", "read write"),
            None,
            "&scope=write",
        );
        assert_eq!(err.unwrap_err().code, ErrorCode::InvalidScope);
        // Actor: only a token issued to the caller.
        let gateway = claims("gateway", "");
        let err = exchange(&exchanger(), &claims("alice", "read"), Some(&gateway), "");
        assert_eq!(err.unwrap_err().code, ErrorCode::InvalidRequest);
        // Re-exchange into the same target: refused.
        let mut exchanged = claims("alice", "read");
        exchanged.aud = "https://b.example/".into();
        let err = exchange(&exchanger(), &exchanged, None, "");
        assert_eq!(err.unwrap_err().code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn every_refusal_has_its_rfc_error() {
        let subject = claims("alice", "read");
        let run = |client: &Client, query: &str| {
            let req = request(query)?;
            token_exchange(
                client,
                &req,
                &subject,
                None,
                Some(&b()),
                &policy(),
                Timestamp(10),
            )
        };
        let b_uri = "&resource=https%3A%2F%2Fb.example%2F";
        assert_eq!(
            run(&exchanger(), "").unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            run(&exchanger(), "&resource=https%3A%2F%2Fc.example%2F")
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            run(&exchanger(), &format!("{b_uri}&scope=read+write"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            run(&client(&[]), b_uri).unwrap_err().code,
            ErrorCode::UnauthorizedClient
        );
        assert_eq!(
            run(
                &exchanger(),
                &format!(
                    "{b_uri}&requested_token_type=urn:ietf:params:oauth:token-type:refresh_token"
                )
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            run(
                &exchanger(),
                &format!("{b_uri}&audience=https%3A%2F%2Fc.example%2F")
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidTarget
        );
        assert!(run(&exchanger(), "&audience=https%3A%2F%2Fb.example%2F").is_ok());
        let bad_type = TokenExchangeRequest::parse(
            &Params::parse_urlencoded(b"subject_token=t&subject_token_type=urn:x").unwrap(),
        );
        assert_eq!(bad_type.unwrap_err().code, ErrorCode::InvalidRequest);
    }
}
