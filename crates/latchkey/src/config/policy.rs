//! `[policy]`: the server-wide subsets of what Latchkey implements that this server offers (grant
//! types, client authentication methods per endpoint, whether introspection and revocation are served,
//! PKCE methods, response types). Each list is published in the order written, and the same lists are
//! enforced by the token endpoint, client authentication, registration, metadata-document clients and
//! `client create`, so the metadata never claims what the server refuses, or the reverse.
use latchkey_core::types::{AuthMethod, GrantType};

use super::error::{ConfigError, Section};
use super::raw::RawPolicy;

/// The resolved policy.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) token_endpoint_auth_methods: Vec<AuthMethod>,
    /// `None` when introspection is off.
    pub(crate) introspection: Option<Vec<AuthMethod>>,
    /// `None` when revocation is off.
    pub(crate) revocation: Option<Vec<AuthMethod>>,
    /// Whether the authorization endpoint (response type `code`) is served.
    pub(crate) authorization: bool,
}

pub(crate) fn policy(raw: &RawPolicy, file: &str) -> Result<Policy, ConfigError> {
    let s = Section::new(file, "policy");
    let grant_types = grant_types(s, &raw.grant_types)?;
    let code = grant_types.contains(&GrantType::AuthorizationCode);
    let token_endpoint_auth_methods = methods(
        s,
        "token_endpoint_auth_methods",
        &raw.token_endpoint_auth_methods,
    )?
    .unwrap_or_else(|| AuthMethod::ALL.to_vec());
    if token_endpoint_auth_methods.is_empty() {
        return Err(s.error(
            "token_endpoint_auth_methods",
            "must name at least one method",
        ));
    }
    let served = Served {
        s,
        token_endpoint_auth_methods: &token_endpoint_auth_methods,
    };
    // RFC 7662 §2.1: introspection requires an authenticated caller, so by default it takes the
    // token endpoint's methods but `none`, and is off when that leaves nothing.
    let confidential: Vec<_> = token_endpoint_auth_methods
        .iter()
        .copied()
        .filter(|m| m.is_confidential())
        .collect();
    let introspection = served.methods(
        "introspection",
        raw.introspection,
        &raw.introspection_endpoint_auth_methods,
        Some(confidential).filter(|list| !list.is_empty()),
        |list| {
            // RFC 7662 §2.1: the endpoint requires authorisation; a public client proves nothing.
            if list.contains(&AuthMethod::None) {
                return Err(s.error(
                    "introspection_endpoint_auth_methods",
                    "`none` proves nothing, and introspection requires an authenticated caller (RFC 7662 §2.1)",
                ));
            }
            Ok(())
        },
    )?;
    let revocation = served.methods(
        "revocation",
        raw.revocation,
        &raw.revocation_endpoint_auth_methods,
        // RFC 7009 §2.1: public clients revoke their own tokens with their client_id.
        Some(token_endpoint_auth_methods.clone()),
        |_| Ok(()),
    )?;
    if let Some(list) = &raw.code_challenge_methods {
        // The key exists so a configuration can say what it publishes; there is nothing to choose.
        if distinct(list) != ["S256"] {
            return Err(s.error(
                "code_challenge_methods",
                "only [\"S256\"] is implemented: PKCE is required, and `plain` is never offered (RFC 7636 §4.2)",
            ));
        }
    }
    let authorization = match &raw.response_types {
        None => code,
        Some(list) => response_type_code(s, list, code)?,
    };
    Ok(Policy {
        grant_types,
        token_endpoint_auth_methods,
        introspection,
        revocation,
        authorization,
    })
}

/// `policy.grant_types`: every grant by default; refresh tokens only with authorization codes.
fn grant_types(s: Section<'_>, list: &Option<Vec<String>>) -> Result<Vec<GrantType>, ConfigError> {
    let grant_types = match list {
        None => GrantType::ALL.to_vec(),
        Some(list) => distinct(list)
            .into_iter()
            .map(|g| {
                g.parse::<GrantType>().map_err(|_| {
                    s.error(
                        "grant_types",
                        format!(
                            "`{g}` is not a grant type Latchkey implements (implemented: {})",
                            names(GrantType::ALL.iter().map(|g| g.as_str()))
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if grant_types.is_empty() {
        return Err(s.error("grant_types", "must name at least one grant type"));
    }
    if grant_types.contains(&GrantType::RefreshToken)
        && !grant_types.contains(&GrantType::AuthorizationCode)
    {
        return Err(s.error(
            "grant_types",
            "refresh_token is only issued with authorization_code; add authorization_code or remove refresh_token",
        ));
    }
    Ok(grant_types)
}

/// The endpoints besides the token endpoint that authenticate clients: introspection and revocation.
#[derive(Clone, Copy)]
struct Served<'a> {
    s: Section<'a>,
    token_endpoint_auth_methods: &'a [AuthMethod],
}

impl Served<'_> {
    /// `policy.<endpoint>` and `policy.<endpoint>_endpoint_auth_methods`: `None` when the endpoint is
    /// off, else the methods it accepts (`default` when not listed). A listed method must be one the
    /// token endpoint accepts, or no client could be registered with it; `check` refuses what this
    /// endpoint cannot accept before that.
    fn methods(
        self,
        endpoint: &str,
        on: Option<bool>,
        listed: &Option<Vec<String>>,
        default: Option<Vec<AuthMethod>>,
        check: impl FnOnce(&[AuthMethod]) -> Result<(), ConfigError>,
    ) -> Result<Option<Vec<AuthMethod>>, ConfigError> {
        let key = format!("{endpoint}_endpoint_auth_methods");
        match (on.unwrap_or(true), methods(self.s, &key, listed)?) {
            (false, Some(_)) => Err(self.s.error(
                &key,
                format!("policy.{endpoint} is false; remove this key or turn {endpoint} on"),
            )),
            (false, None) => Ok(None),
            (true, None) => Ok(default),
            (true, Some(list)) => {
                check(&list)?;
                self.subset(&key, list).map(Some)
            }
        }
    }

    fn subset(self, key: &str, list: Vec<AuthMethod>) -> Result<Vec<AuthMethod>, ConfigError> {
        if list.is_empty() {
            return Err(self.s.error(
                key,
                "must name at least one method while the endpoint is served",
            ));
        }
        if let Some(m) = list
            .iter()
            .find(|m| !self.token_endpoint_auth_methods.contains(m))
        {
            return Err(self.s.error(
                key,
                format!("`{m}` is not in policy.token_endpoint_auth_methods, so no client can be registered with it"),
            ));
        }
        Ok(list)
    }
}

/// `policy.response_types`: only `code`, present exactly when the authorization_code grant is.
fn response_type_code(s: Section<'_>, list: &[String], code: bool) -> Result<bool, ConfigError> {
    let list = distinct(list);
    if let Some(other) = list.iter().find(|r| **r != "code") {
        return Err(s.error(
            "response_types",
            format!("`{other}` is not implemented (only code)"),
        ));
    }
    let on = !list.is_empty();
    if on != code {
        return Err(s.error(
            "response_types",
            "response type code and the authorization_code grant go together (RFC 7591 §2.1)",
        ));
    }
    Ok(on)
}

fn methods(
    s: Section<'_>,
    key: &str,
    value: &Option<Vec<String>>,
) -> Result<Option<Vec<AuthMethod>>, ConfigError> {
    value
        .as_ref()
        .map(|list| {
            distinct(list)
                .into_iter()
                .map(|m| m.parse::<AuthMethod>().map_err(|e| s.error(key, e)))
                .collect()
        })
        .transpose()
}

/// The list without repeats, first occurrence kept: a repeated value changes nothing but the text.
fn distinct(list: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item.as_str()) {
            out.push(item);
        }
    }
    out
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}
