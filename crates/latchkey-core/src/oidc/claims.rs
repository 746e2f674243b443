//! Standard claims (OpenID Connect Core §5.1), which scopes release them (§5.4), and the `claims`
//! request parameter (§5.5) that asks for individual ones in the UserInfo response or the ID token.
//!
//! With the code flow an access token is always issued, so the scopes' claims go to UserInfo only
//! (§5.4); the ID token carries the claims the `claims` parameter asks for in its `id_token` member.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::OAuthError;
use crate::types::Scope;
use crate::user::User;

/// The claims each scope releases (Core §5.4), in the order the consent page lists them.
pub const SCOPE_CLAIMS: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The scopes OpenID defines besides `openid`, which a server with OpenID on offers.
pub const CLAIM_SCOPES: [&str; 4] = ["profile", "email", "address", "phone"];

/// Claims in ID tokens that are not about the user, for `claims_supported`.
const PROTOCOL_CLAIMS: [&str; 11] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "acr",
    "sid",
];

/// `claims_supported` (Discovery §3): every claim Latchkey can put in an ID token or UserInfo.
pub fn claims_supported() -> Vec<&'static str> {
    PROTOCOL_CLAIMS
        .into_iter()
        .chain(SCOPE_CLAIMS.iter().flat_map(|(_, c)| c.iter().copied()))
        .collect()
}

/// The authentication context class claim (Core §2).
const ACR: &str = "acr";

fn is_user_claim(name: &str) -> bool {
    SCOPE_CLAIMS.iter().any(|(_, c)| c.contains(&name))
}

/// What the `claims` parameter says about one claim (Core §5.5.1): `null`, or an object with
/// `essential`, `value` or `values`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The client says the claim is needed for a good experience. Latchkey releases every requested
    /// claim the user has, essential or not; an essential one is marked on the consent page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    /// A specific value asked for (meaningful for `sub` and `acr`, §5.5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Acceptable values, most preferred first (meaningful for `acr`, §5.5.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// The `claims` request parameter (Core §5.5), as stored with the grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims asked for in the UserInfo response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub userinfo: BTreeMap<String, ClaimRequest>,
    /// Claims asked for in the ID token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id_token: BTreeMap<String, ClaimRequest>,
}

impl ClaimsRequest {
    /// Parses the parameter's JSON. Members other than `userinfo` and `id_token`, and claims Latchkey
    /// does not know, are ignored as §5.5 allows; a value that is not the documented shape is
    /// `invalid_request`.
    pub fn parse(text: &str) -> Result<ClaimsRequest, OAuthError> {
        let bad = |why: &str| OAuthError::invalid_request(format!("claims: {why}"));
        let value: Value =
            serde_json::from_str(text).map_err(|_| bad("the parameter is not JSON"))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("the parameter is not a JSON object"))?;
        let mut out = ClaimsRequest::default();
        for (member, target) in [
            ("userinfo", &mut out.userinfo),
            ("id_token", &mut out.id_token),
        ] {
            let Some(requested) = object.get(member) else {
                continue;
            };
            let requested = requested
                .as_object()
                .ok_or_else(|| bad("userinfo and id_token must be objects"))?;
            for (name, spec) in requested {
                let request = match spec {
                    Value::Null => ClaimRequest::default(),
                    Value::Object(o) => ClaimRequest {
                        essential: match o.get("essential") {
                            None | Some(Value::Null) => false,
                            Some(Value::Bool(b)) => *b,
                            Some(_) => return Err(bad("essential must be true or false")),
                        },
                        value: o.get("value").cloned(),
                        values: match o.get("values") {
                            None | Some(Value::Null) => None,
                            Some(Value::Array(v)) => Some(v.clone()),
                            Some(_) => return Err(bad("values must be an array")),
                        },
                    },
                    _ => return Err(bad("each claim is null or an object")),
                };
                if name == "sub" || name == ACR || is_user_claim(name) {
                    target.insert(name.clone(), request);
                }
            }
        }
        Ok(out)
    }

    /// The `sub` the client demands (§5.5.1): the request may only succeed for that user.
    pub fn required_sub(&self) -> Option<&str> {
        self.id_token
            .get("sub")
            .or_else(|| self.userinfo.get("sub"))
            .and_then(|r| r.value.as_ref())
            .and_then(Value::as_str)
    }

    /// `acr_values` (Core §3.1.2.1): the `acr` claim requested as a voluntary claim with these
    /// values, unless the `claims` parameter already asks for it.
    pub fn request_acr_values(&mut self, acr_values: &str) {
        let values: Vec<Value> = acr_values
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(|v| Value::String(v.to_owned()))
            .collect();
        if !values.is_empty() {
            self.id_token.entry(ACR.to_owned()).or_insert(ClaimRequest {
                values: Some(values),
                ..ClaimRequest::default()
            });
        }
    }

    /// The `acr` the ID token carries: the password context whenever `acr` is asked for. An
    /// essential request whose `value` or `values` it does not match fails (Core §5.5.1.1: the
    /// outcome "MUST" be treated as a failed authentication), since that is the only context here.
    pub fn acr(&self) -> Result<Option<&'static str>, OAuthError> {
        let Some(asked) = self.id_token.get(ACR).or_else(|| self.userinfo.get(ACR)) else {
            return Ok(None);
        };
        let acceptable: Vec<&Value> = asked
            .value
            .iter()
            .chain(asked.values.iter().flatten())
            .collect();
        let met = acceptable.is_empty()
            || acceptable
                .iter()
                .any(|v| v.as_str() == Some(crate::oidc::ACR_PASSWORD));
        if asked.essential && !met {
            return Err(OAuthError::access_denied(format!(
                "the essential acr cannot be met: this server authenticates with {} only",
                crate::oidc::ACR_PASSWORD
            )));
        }
        Ok(Some(crate::oidc::ACR_PASSWORD))
    }

    /// True when nothing is requested.
    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }
}

/// Where claims are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The UserInfo response: the scopes' claims and `claims.userinfo`.
    UserInfo,
    /// The ID token: `claims.id_token` only.
    IdToken,
}

/// The names of the user claims released to `destination` for `scope` and `request`, for a client
/// that may ask for `allowed` (its registered scope).
///
/// # Security
/// N-M4: a claim named in `claims` is released only when the scope that covers it (Core §5.4) is one
/// the client may request. Otherwise the parameter would hand out what the operator kept from the
/// client by leaving the scope out of its registration (or, for self-registered clients, by not
/// publishing it). Core §5.5 lets the server decide what it returns, so such a claim, essential or
/// not, is simply left out.
pub fn released(
    scope: &Scope,
    request: Option<&ClaimsRequest>,
    destination: Destination,
    allowed: &Scope,
) -> BTreeSet<&'static str> {
    let mut names = BTreeSet::new();
    if destination == Destination::UserInfo {
        for (s, claims) in SCOPE_CLAIMS {
            if scope.contains(s) {
                names.extend(claims.iter().copied());
            }
        }
    }
    if let Some(request) = request {
        let asked = match destination {
            Destination::UserInfo => &request.userinfo,
            Destination::IdToken => &request.id_token,
        };
        for (s, claims) in SCOPE_CLAIMS {
            if allowed.contains(s) {
                names.extend(claims.iter().copied().filter(|c| asked.contains_key(*c)));
            }
        }
    }
    names
}

/// Whether `request` asks for user claims the scopes alone would not release: remembered consent is
/// for scopes, so such a request needs the consent page again.
pub fn beyond_scopes(scope: &Scope, request: &ClaimsRequest, allowed: &Scope) -> bool {
    let by_scope = released(scope, None, Destination::UserInfo, allowed);
    [Destination::UserInfo, Destination::IdToken]
        .into_iter()
        .flat_map(|d| released(scope, Some(request), d, allowed))
        .any(|name| !by_scope.contains(name))
}

/// Every claim the user has, by name: `preferred_username` is the username, `updated_at` is always
/// known, the rest only when set.
pub fn user_claims(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    let a = &user.attributes;
    let mut text = |name: &str, value: &Option<String>| {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            out.insert(name.to_owned(), json!(v));
        }
    };
    text("name", &user.name);
    text("given_name", &a.given_name);
    text("family_name", &a.family_name);
    text("middle_name", &a.middle_name);
    text("nickname", &a.nickname);
    text("profile", &a.profile);
    text("picture", &a.picture);
    text("website", &a.website);
    text("gender", &a.gender);
    text("birthdate", &a.birthdate);
    text("zoneinfo", &a.zoneinfo);
    text("locale", &a.locale);
    text("email", &user.email);
    text("phone_number", &a.phone_number);
    out.insert("preferred_username".into(), json!(user.username.as_str()));
    out.insert("updated_at".into(), json!(user.updated_at));
    // A verification flag means nothing without the value it is about.
    if user.email.is_some() {
        out.insert(
            "email_verified".into(),
            json!(a.email_verified.unwrap_or(false)),
        );
    }
    if a.phone_number.is_some() {
        out.insert(
            "phone_number_verified".into(),
            json!(a.phone_number_verified.unwrap_or(false)),
        );
    }
    if let Some(address) = a.address.as_ref().filter(|a| !a.is_empty()) {
        out.insert("address".into(), json!(address));
    }
    out
}

/// The released claims the user has, ready to be merged into a response.
pub fn select(user: &User, names: &BTreeSet<&'static str>) -> Map<String, Value> {
    let mut all = user_claims(user);
    all.retain(|k, _| names.contains(k.as_str()));
    all
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::password::PasswordHash;
    use crate::types::Timestamp;
    use crate::user::{Address, UserAttributes, Username};

    pub(crate) fn maria() -> User {
        User {
            user_id: "u1".into(),
            username: Username::parse("maria").unwrap(),
            email: Some("maria@example.com".into()),
            name: Some("María García".into()),
            password_hash: PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g".into()).unwrap(),
            created_at: Timestamp(1),
            attributes: UserAttributes {
                given_name: Some("María".into()),
                family_name: Some("García".into()),
                email_verified: Some(true),
                locale: Some("es-ES".into()),
                address: Some(Address {
                    locality: Some("Madrid".into()),
                    ..Address::default()
                }),
                ..UserAttributes::default()
            },
            updated_at: Timestamp(5),
        }
    }

    #[test]
    fn scopes_release_their_claims_to_userinfo_only() {
        let scope = Scope::parse("openid profile email").unwrap();
        let names = released(&scope, None, Destination::UserInfo, &scope);
        assert!(names.contains("name") && names.contains("email_verified"));
        assert!(!names.contains("address") && !names.contains("phone_number"));
        assert!(released(&scope, None, Destination::IdToken, &scope).is_empty());
        let claims = select(&maria(), &names);
        assert_eq!(claims["name"], "María García");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["preferred_username"], "maria");
        assert_eq!(claims["updated_at"], 5);
        assert!(claims.get("nickname").is_none(), "unset claims are absent");
        assert!(claims.get("address").is_none(), "address scope not granted");
    }

    #[test]
    fn phone_flag_only_with_a_phone_and_address_as_an_object() {
        let all = user_claims(&maria());
        assert!(all.get("phone_number_verified").is_none());
        assert_eq!(all["address"], json!({"locality": "Madrid"}));
    }

    #[test]
    fn the_claims_parameter_asks_for_individual_claims() {
        let request = ClaimsRequest::parse(
            r#"{"id_token":{"email":{"essential":true},"sub":{"value":"abc"},"x-unknown":null},
                "userinfo":{"address":null},"other":1}"#,
        )
        .unwrap();
        assert!(request.id_token["email"].essential);
        assert!(!request.id_token.contains_key("x-unknown"));
        assert_eq!(request.required_sub(), Some("abc"));
        let scope = Scope::parse("openid").unwrap();
        let allowed = Scope::parse("openid email address").unwrap();
        assert_eq!(
            released(&scope, Some(&request), Destination::IdToken, &allowed),
            ["email"].into()
        );
        assert_eq!(
            released(&scope, Some(&request), Destination::UserInfo, &allowed),
            ["address"].into()
        );
        for bad in [
            "not json",
            "[]",
            r#"{"userinfo":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_beyond_the_scopes_are_told_apart() {
        let all = Scope::parse("openid profile email address phone").unwrap();
        let email = ClaimsRequest::parse(r#"{"id_token":{"email":null}}"#).unwrap();
        assert!(!beyond_scopes(
            &Scope::parse("openid email").unwrap(),
            &email,
            &all
        ));
        assert!(beyond_scopes(
            &Scope::parse("openid").unwrap(),
            &email,
            &all
        ));
        assert!(!beyond_scopes(
            &Scope::parse("openid").unwrap(),
            &ClaimsRequest::default(),
            &all
        ));
        let sub_only = ClaimsRequest::parse(r#"{"id_token":{"sub":{"value":"x"}}}"#).unwrap();
        assert!(!beyond_scopes(
            &Scope::parse("openid").unwrap(),
            &sub_only,
            &all
        ));
    }

    #[test]
    fn n_m4_the_claims_parameter_releases_only_claims_of_scopes_the_client_may_request() {
        let request = ClaimsRequest::parse(
            r#"{"id_token":{"phone_number":{"essential":true},"email":null},
                "userinfo":{"address":null,"phone_number":null,"email":null}}"#,
        )
        .unwrap();
        let granted = Scope::parse("openid").unwrap();
        let allowed = Scope::parse("openid email").unwrap();
        assert_eq!(
            released(&granted, Some(&request), Destination::IdToken, &allowed),
            ["email"].into()
        );
        assert_eq!(
            released(&granted, Some(&request), Destination::UserInfo, &allowed),
            ["email"].into()
        );
        // Nothing outside the client's scope counts as asked beyond the scopes either.
        let phone = ClaimsRequest::parse(r#"{"userinfo":{"phone_number":null}}"#).unwrap();
        assert!(!beyond_scopes(&granted, &phone, &allowed));
    }

    #[test]
    fn claims_supported_lists_protocol_and_user_claims() {
        let supported = claims_supported();
        for name in ["sub", "at_hash", "email", "address", "updated_at"] {
            assert!(supported.contains(&name), "{name}");
        }
    }
}
