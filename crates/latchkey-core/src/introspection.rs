//! Token introspection (RFC 7662): who may ask about which token, and what an answer says.
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::grant::Grant;
use crate::token::{AccessTokenClaims, RefreshTokenRecord};
use crate::types::Timestamp;

/// A token this server issued and still honours, as found by the caller.
#[derive(Debug)]
pub enum Active {
    /// An access token (JWT or opaque).
    Access(AccessTokenClaims),
    /// A refresh token that has not been rotated out, with its grant.
    Refresh(RefreshTokenRecord, Grant),
}

impl Active {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Active::Access(c) => c.client_id.as_str(),
            Active::Refresh(r, _) => r.client_id.as_str(),
        }
    }

    /// The user, for tokens issued on a user's grant.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Active::Access(c) if c.auth_time.is_some() => Some(&c.sub),
            Active::Access(_) => None,
            Active::Refresh(_, g) => Some(&g.user_id),
        }
    }
}

/// The policy: a client may introspect the tokens issued to it; a confidential client given the
/// resource-server role may introspect any.
pub fn may_introspect(caller: &Client, token: &Active) -> bool {
    token.client_id() == caller.client_id.as_str()
        || (caller.policy.introspect_any && !caller.is_public())
}

/// RFC 7662 §2.2: `{"active": false}` and nothing else, whatever the reason.
pub fn inactive() -> Value {
    json!({ "active": false })
}

/// RFC 7662 §2.2 for an active token. `username` is the user's, when there is one.
pub fn active(
    token: &Active,
    issuer: &str,
    default_audience: &str,
    username: Option<&str>,
) -> Value {
    // The members both kinds carry, in the order they are published.
    let (scope, client_id, sub, token_type, exp, iat, aud, iss) = match token {
        Active::Access(c) => (
            &c.scope,
            &c.client_id,
            c.sub.as_str(),
            "Bearer",
            c.exp,
            c.iat,
            c.aud.as_str(),
            c.iss.as_str(),
        ),
        Active::Refresh(r, g) => (
            &g.scope,
            &r.client_id,
            g.user_id.as_str(),
            "refresh_token",
            r.expires_at,
            r.created_at,
            g.resource.as_ref().map_or(default_audience, |r| r.as_str()),
            issuer,
        ),
    };
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    if !scope.is_empty() {
        out.insert("scope".into(), json!(scope.to_string()));
    }
    out.insert("client_id".into(), json!(client_id));
    out.insert("sub".into(), json!(sub));
    out.insert("token_type".into(), json!(token_type));
    out.insert("exp".into(), json!(exp));
    out.insert("iat".into(), json!(iat));
    out.insert("nbf".into(), json!(iat));
    out.insert("aud".into(), json!(aud));
    out.insert("iss".into(), json!(iss));
    if let Active::Access(c) = token {
        out.insert("jti".into(), json!(c.jti));
        if let Some(act) = &c.act {
            out.insert("act".into(), act.clone());
        }
    }
    if let Some(username) = username {
        out.insert("username".into(), json!(username));
    }
    Value::Object(out)
}

/// Whether verified JWT claims describe a token that is still valid at `now` for this issuer.
pub fn jwt_is_current(claims: &AccessTokenClaims, issuer: &str, now: Timestamp) -> bool {
    claims.iss == issuer && now < claims.exp && claims.iat <= now.plus(60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::authorization_code::tests::client;
    use crate::types::{ClientId, GrantType, Scope};

    fn claims(client: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://as.example".into(),
            sub: "user-1".into(),
            aud: "https://api.example/".into(),
            client_id: ClientId::parse(client).unwrap(),
            scope: Scope::parse("read").unwrap(),
            iat: Timestamp(100),
            exp: Timestamp(700),
            jti: "jti-1".into(),
            auth_time: Some(Timestamp(90)),
            act: None,
        }
    }

    #[test]
    fn clients_see_their_own_tokens_and_resource_servers_see_all() {
        let token = Active::Access(claims("app"));
        let mut caller = client(&[GrantType::ClientCredentials]);
        assert!(may_introspect(&caller, &token));
        caller.client_id = ClientId::parse("other").unwrap();
        assert!(!may_introspect(&caller, &token));
        caller.policy.introspect_any = true;
        assert!(
            !may_introspect(&caller, &token),
            "a public client is never a resource server"
        );
        caller.auth = crate::client::ClientAuth::Secret {
            method: crate::types::AuthMethod::ClientSecretBasic,
            hash: crate::secret::ClientSecret::generate().hash(),
        };
        assert!(may_introspect(&caller, &token));
    }

    #[test]
    fn answers_carry_the_rfc_7662_members() {
        let doc = active(
            &Active::Access(claims("app")),
            "https://as.example",
            "x",
            Some("alice"),
        );
        for member in [
            "active",
            "scope",
            "client_id",
            "sub",
            "username",
            "token_type",
            "exp",
            "iat",
            "nbf",
            "aud",
            "iss",
            "jti",
        ] {
            assert!(doc.get(member).is_some(), "{member}");
        }
        assert_eq!(inactive(), json!({"active": false}));
    }

    #[test]
    fn expired_or_foreign_jwts_are_not_current() {
        let c = claims("app");
        assert!(jwt_is_current(&c, "https://as.example", Timestamp(699)));
        assert!(!jwt_is_current(&c, "https://as.example", Timestamp(700)));
        assert!(!jwt_is_current(&c, "https://other.example", Timestamp(200)));
    }
}
