//! What a client checks before trusting an authorization server's metadata (RFC 8414 §3 and §3.3), and
//! its JWKS (RFC 7517): the well-known URLs to try, and every problem a document or key set has. Used by
//! `latchkey discover` against any server; no I/O here.
use serde_json::Value;
use url::Url;

use crate::metadata::WELL_KNOWN_SUFFIX;

/// OpenID Connect Discovery 1.0 §4: the suffix appended to the issuer.
pub const OPENID_SUFFIX: &str = "/.well-known/openid-configuration";

/// The URLs to try for `issuer`, in order: RFC 8414 §3.1 (suffix inserted before the path), the suffix
/// appended to an issuer with a path (what many servers serve), and OpenID Connect Discovery.
pub fn well_known_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    let mut urls = vec![format!("{origin}{WELL_KNOWN_SUFFIX}{path}")];
    if !path.is_empty() {
        urls.push(format!("{origin}{path}{WELL_KNOWN_SUFFIX}"));
    }
    urls.push(format!("{origin}{path}{OPENID_SUFFIX}"));
    urls
}

/// How an advertised endpoint is probed: a person's browser `GET`s some, clients `POST` forms to others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `GET` without parameters.
    Get,
    /// `POST` of an empty form.
    Post,
}

/// Endpoint members a browser visits with `GET`; every other `*_endpoint` receives `POST`s.
const GET_ENDPOINTS: [&str; 3] = [
    "authorization_endpoint",
    "userinfo_endpoint",
    "end_session_endpoint",
];

/// Client authentication methods registered with IANA ("OAuth Token Endpoint Authentication Methods").
const KNOWN_AUTH_METHODS: [&str; 7] = [
    "none",
    "client_secret_post",
    "client_secret_basic",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
];

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The endpoints a document advertises (`*_endpoint` members with a string value), in document order,
/// and how each is probed. `jwks_uri` is fetched separately.
pub fn advertised_endpoints(doc: &Value) -> Vec<(String, String, Probe)> {
    let Some(members) = doc.as_object() else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(name, _)| name.ends_with("_endpoint"))
        .filter_map(|(name, value)| {
            let probe = if GET_ENDPOINTS.contains(&name.as_str()) {
                Probe::Get
            } else {
                Probe::Post
            };
            value
                .as_str()
                .map(|url| (name.clone(), url.to_owned(), probe))
        })
        .collect()
}

/// Whether a `*_supported` member is a boolean flag rather than a list.
fn is_flag(name: &str) -> bool {
    name.ends_with("_parameter_supported")
        || name.ends_with("logout_supported")
        || name.ends_with("logout_session_supported")
        || name == "client_id_metadata_document_supported"
}

fn strings<'a>(doc: &'a Value, name: &str) -> Option<Vec<&'a str>> {
    doc.get(name)?
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// Every problem with a metadata document fetched for `requested` (the issuer the client was given).
///
/// RFC 8414 §3.3: the `issuer` must be identical to the requested one, or the document must not be
/// used. Endpoints must be https, except that a development issuer on loopback http may have loopback
/// http endpoints. Required members must be there with the right types, and what is advertised must
/// hang together: `code` needs an authorization endpoint, which needs `S256` (OAuth 2.1 §4.1.1), and
/// `private_key_jwt` needs the signing algorithms (RFC 8414 §2).
pub fn check_metadata(requested: &str, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(members) = doc.as_object() else {
        return vec!["the metadata is not a JSON object".into()];
    };
    match doc.get("issuer").and_then(Value::as_str) {
        None => problems.push("required member `issuer` is missing".into()),
        Some(issuer) if issuer != requested => problems.push(format!(
            "issuer `{issuer}` is not the requested `{requested}` (RFC 8414 §3.3: the document must not be used)"
        )),
        Some(_) => {}
    }
    let loopback_http =
        Url::parse(requested).is_ok_and(|u| u.scheme() == "http" && is_loopback(&u));
    for (name, value) in members {
        problems.extend(check_member(name, value, loopback_http));
    }
    let response_types = strings(doc, "response_types_supported");
    if doc.get("response_types_supported").is_none() {
        problems.push("required member `response_types_supported` is missing".into());
    }
    // RFC 8414 §2: an absent list means authorization_code and implicit.
    let grant_types =
        strings(doc, "grant_types_supported").unwrap_or(vec!["authorization_code", "implicit"]);
    let has_authorization = doc.get("authorization_endpoint").is_some();
    let needs_authorization = response_types.as_ref().is_some_and(|r| !r.is_empty())
        || grant_types
            .iter()
            .any(|g| matches!(*g, "authorization_code" | "implicit"));
    if needs_authorization && !has_authorization {
        problems.push(
            "`authorization_endpoint` is missing, yet response types or the authorization_code grant are advertised".into(),
        );
    }
    if doc.get("token_endpoint").is_none() && grant_types.iter().any(|g| *g != "implicit") {
        problems.push("required member `token_endpoint` is missing".into());
    }
    if has_authorization
        && !strings(doc, "code_challenge_methods_supported").is_some_and(|m| m.contains(&"S256"))
    {
        problems.push(
            "`code_challenge_methods_supported` does not list S256, which OAuth 2.1 requires with an authorization endpoint".into(),
        );
    }
    check_auth_methods(doc, &mut problems);
    problems
}

/// The problem with one member's type, or with an endpoint URL (RFC 8414 §2: https, no fragment).
fn check_member(name: &str, value: &Value, loopback_http: bool) -> Option<String> {
    if name.ends_with("_supported") {
        let well_typed = if is_flag(name) {
            value.is_boolean()
        } else {
            value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        };
        if !well_typed {
            let expected = if is_flag(name) {
                "a boolean"
            } else {
                "an array of strings"
            };
            return Some(format!("`{name}` is not {expected}"));
        }
    }
    if !(name.ends_with("_endpoint") || name == "jwks_uri") {
        return None;
    }
    let Some(text) = value.as_str() else {
        return Some(format!("`{name}` is not a string"));
    };
    match Url::parse(text) {
        Err(_) => Some(format!("`{name}` `{text}` is not an absolute URL")),
        Ok(url) if url.fragment().is_some() => Some(format!("`{name}` `{text}` has a fragment")),
        Ok(url) if url.scheme() == "https" => None,
        Ok(url) if url.scheme() == "http" && loopback_http && is_loopback(&url) => None,
        Ok(_) => Some(format!("`{name}` `{text}` is not https")),
    }
}

/// RFC 8414 §2: each client-authenticating endpoint lists registered methods, and its signing
/// algorithms (never `none`) whenever it lists a JWT method.
fn check_auth_methods(doc: &Value, problems: &mut Vec<String>) {
    for endpoint in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let methods_member = format!("{endpoint}_auth_methods_supported");
        let Some(methods) = strings(doc, &methods_member) else {
            continue;
        };
        for method in &methods {
            if !KNOWN_AUTH_METHODS.contains(method) {
                problems.push(format!(
                "`{methods_member}` lists `{method}`, which is not a registered client authentication method"
            ));
            }
        }
        let algs_member = format!("{endpoint}_auth_signing_alg_values_supported");
        let jwt = methods
            .iter()
            .any(|m| matches!(*m, "private_key_jwt" | "client_secret_jwt"));
        match strings(doc, &algs_member) {
            None if jwt => problems.push(format!(
                "`{methods_member}` lists a JWT method but `{algs_member}` is missing (RFC 8414 §2)"
            )),
            Some(algs) if algs.contains(&"none") => problems.push(format!(
                "`{algs_member}` lists `none` (RFC 8414 §2 forbids it)"
            )),
            _ => {}
        }
    }
}

/// Every problem with a JWKS: its shape, and above all any private or symmetric key material.
pub fn check_jwks(jwks: &Value) -> Vec<String> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return vec!["the JWKS has no `keys` array".into()];
    };
    let mut problems = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let name = key
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(|| format!("key {i}"), |kid| format!("key `{kid}`"));
        if key.get("kty").and_then(Value::as_str).is_none() {
            problems.push(format!("{name} has no `kty`"));
        }
        for member in PRIVATE_JWK_MEMBERS {
            if key.get(member).is_some() {
                problems.push(format!(
                    "{name} publishes private key material (`{member}`): rotate that key now"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn good() -> Value {
        json!({
            "issuer": "https://as.example.com/v3/oauth",
            "authorization_endpoint": "https://app.example.com/oauth/authorize",
            "token_endpoint": "https://as.example.com/v3/oauth/token",
            "jwks_uri": "https://as.example.com/v3/oauth/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "client_id_metadata_document_supported": true,
        })
    }

    #[test]
    fn the_well_known_urls_follow_rfc_8414_then_the_appended_form_then_openid() {
        let urls = well_known_urls(&Url::parse("https://api.example.com/v3/oauth").unwrap());
        assert_eq!(
            urls,
            [
                "https://api.example.com/.well-known/oauth-authorization-server/v3/oauth",
                "https://api.example.com/v3/oauth/.well-known/oauth-authorization-server",
                "https://api.example.com/v3/oauth/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            well_known_urls(&Url::parse("https://as.example.com").unwrap()).len(),
            2
        );
    }

    #[test]
    fn a_consistent_document_has_no_problem() {
        assert_eq!(
            check_metadata("https://as.example.com/v3/oauth", &good()),
            Vec::<String>::new()
        );
        let endpoints = advertised_endpoints(&good());
        assert_eq!(
            endpoints
                .iter()
                .map(|(n, _, p)| (n.as_str(), *p))
                .collect::<Vec<_>>(),
            [
                ("authorization_endpoint", Probe::Get),
                ("token_endpoint", Probe::Post)
            ]
        );
    }

    fn problems_with(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut doc = good();
        change(&mut doc);
        check_metadata("https://as.example.com/v3/oauth", &doc)
    }

    #[test]
    fn each_broken_rule_is_named() {
        let required = [
            "response_types_supported",
            "authorization_endpoint",
            "token_endpoint_auth_signing_alg_values_supported",
        ];
        for member in required {
            let problems = problems_with(|d| {
                d.as_object_mut().unwrap().remove(member);
            });
            let expected = format!("`{member}` is missing");
            assert!(
                problems.iter().any(|p| p.contains(&expected)),
                "{expected}: {problems:?}"
            );
        }
        // Each case overrides members of a good document and names the problem that must follow.
        let cases = [
            (
                json!({"issuer": "https://evil.example.com"}),
                "is not the requested",
            ),
            (
                json!({"token_endpoint": "http://as.example.com/token"}),
                "is not https",
            ),
            (
                json!({"code_challenge_methods_supported": ["plain"]}),
                "does not list S256",
            ),
            (
                json!({"token_endpoint_auth_methods_supported": ["client_secret_magic"]}),
                "not a registered client authentication method",
            ),
            (
                json!({"client_id_metadata_document_supported": "yes"}),
                "is not a boolean",
            ),
            (
                json!({"grant_types_supported": "authorization_code"}),
                "is not an array of strings",
            ),
        ];
        for (changes, expected) in cases {
            let problems = problems_with(|d| {
                for (member, value) in changes.as_object().unwrap() {
                    d[member] = value.clone();
                }
            });
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn loopback_http_is_allowed_only_for_a_loopback_http_issuer() {
        let doc = json!({
            "issuer": "http://127.0.0.1:8080",
            "token_endpoint": "http://127.0.0.1:8080/token",
            "response_types_supported": [],
            "grant_types_supported": ["client_credentials"],
        });
        assert_eq!(
            check_metadata("http://127.0.0.1:8080", &doc),
            Vec::<String>::new()
        );
        let mut elsewhere = doc.clone();
        elsewhere["token_endpoint"] = json!("http://auth.example.com/token");
        assert_eq!(check_metadata("http://127.0.0.1:8080", &elsewhere).len(), 1);
    }

    #[test]
    fn a_jwks_with_private_material_is_a_problem() {
        assert!(
            check_jwks(
                &json!({"keys": [{"kty": "EC", "kid": "a", "crv": "P-256", "x": "x", "y": "y"}]})
            )
            .is_empty()
        );
        let problems = check_jwks(
            &json!({"keys": [{"kty": "EC", "kid": "a", "crv": "P-256", "x": "x", "y": "y", "d": "secret"}]}),
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("key `a`") && problems[0].contains("`d`"));
        assert_eq!(check_jwks(&json!({"nope": []})).len(), 1);
    }
}
