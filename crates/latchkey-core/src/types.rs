//! Protocol values as types: each is validated when built, so an invalid one cannot exist.
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::OAuthError;

/// Seconds since the Unix epoch. Time is always an argument: the core never reads a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This instant plus `seconds`, saturating rather than wrapping.
    pub fn plus(self, seconds: u64) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
        )
    }

    /// This instant minus `seconds`, saturating rather than wrapping.
    pub fn minus(self, seconds: u64) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(seconds).unwrap_or(i64::MAX)),
        )
    }

    /// The first second of this instant's minute (UTC): the window per-minute counters (rate limits,
    /// login lockout) share, so that every counter of one minute rolls over at the same instant.
    /// Rounds down for instants before the epoch too.
    pub fn minute_start(self) -> Self {
        Self(self.0 - self.0.rem_euclid(60))
    }
}

/// `client_id` (RFC 6749 §2.2): a non-empty string of visible ASCII characters (Appendix A.1, VSCHAR).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Longest client_id accepted; longer ones are refused before any lookup.
    pub const MAX_LEN: usize = 255;

    /// Validates a client_id received from a client or an operator.
    pub fn parse(value: impl Into<String>) -> Result<Self, OAuthError> {
        let value = value.into();
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if valid {
            Ok(Self(value))
        } else {
            Err(OAuthError::invalid_request("client_id is malformed"))
        }
    }

    /// A new random client_id: 128 bits, base64url, starting with a letter or digit so that it can be
    /// typed after a command (`latchkey client show ID`) without being taken for an option.
    pub fn generate() -> Self {
        Self(crate::secret::random_id())
    }

    /// The identifier as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

wire_text!(ClientId, OAuthError, |value| Self::parse(value));

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One scope token (RFC 6749 §3.3): `1*( %x21 / %x23-5B / %x5D-7E )`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeToken(String);

impl ScopeToken {
    /// Validates one scope token.
    pub fn parse(value: impl Into<String>) -> Result<Self, OAuthError> {
        let value = value.into();
        let valid = !value.is_empty()
            && value
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if valid {
            Ok(Self(value))
        } else {
            Err(OAuthError::invalid_scope(
                "scope contains a malformed token",
            ))
        }
    }

    /// The token as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

wire_text!(ScopeToken, OAuthError, |value| Self::parse(value));

/// A `scope` value (RFC 6749 §3.3): a set of tokens, space-delimited on the wire, order-insensitive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(BTreeSet<ScopeToken>);

impl Scope {
    /// Parses a space-delimited scope string. Any run of spaces separates tokens.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        value
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(ScopeToken::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// True when no token is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Tokens of `self` missing from `allowed`, for error descriptions.
    pub fn difference<'a>(
        &'a self,
        allowed: &'a Scope,
    ) -> impl Iterator<Item = &'a ScopeToken> + 'a {
        self.0.difference(&allowed.0)
    }

    /// The tokens, in stable order.
    pub fn iter(&self) -> impl Iterator<Item = &ScopeToken> {
        self.0.iter()
    }

    /// True when the token is present.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t.as_str() == token)
    }
}

impl FromIterator<ScopeToken> for Scope {
    fn from_iter<T: IntoIterator<Item = ScopeToken>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, token) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(token.as_str())?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Scope {
    type Error = OAuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> Self {
        value.to_string()
    }
}

/// The grant types Latchkey implements (RFC 6749 §4). An unknown `grant_type` never becomes one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1, with PKCE (RFC 7636) required.
    AuthorizationCode,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 8693 token exchange.
    TokenExchange,
}

// `grant_type` values (RFC 6749 §4, RFC 8693 §2.1).
wire_enum!(GrantType {
    AuthorizationCode => "authorization_code",
    ClientCredentials => "client_credentials",
    RefreshToken => "refresh_token",
    TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
});

impl FromStr for GrantType {
    type Err = OAuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(s).ok_or_else(|| {
            OAuthError::unsupported_grant_type("grant_type is not supported by this server")
        })
    }
}

/// Client authentication methods Latchkey implements (RFC 7591 §2 `token_endpoint_auth_method` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1, HTTP Basic.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1, credentials in the request body.
    ClientSecretPost,
    /// RFC 7523 §2.2: a JWT signed with the client's private key.
    PrivateKeyJwt,
    /// RFC 7591 §2: a public client, which has no credentials and identifies itself by `client_id`.
    None,
}

wire_enum!(AuthMethod {
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    PrivateKeyJwt => "private_key_jwt",
    None => "none",
});

impl AuthMethod {
    /// True for methods that prove possession of a client secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// True for methods that prove anything at all (every method but `none`).
    pub fn is_confidential(self) -> bool {
        self != Self::None
    }
}

impl FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(s).ok_or_else(|| {
            let known: Vec<_> = Self::ALL.iter().map(|m| m.as_str()).collect();
            format!(
                "unknown client authentication method `{s}` (expected one of: {})",
                known.join(", ")
            )
        })
    }
}

/// The issuer identifier (RFC 8414 §2): an https URL with no query or fragment.
///
/// Plain http is accepted only for loopback hosts, so a development server on 127.0.0.1 works and a
/// production one cannot be misconfigured into sending tokens in clear text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    /// Validates an issuer. The error says what is wrong, for the configuration message.
    pub fn parse(value: &str) -> Result<Self, String> {
        let url =
            Url::parse(value).map_err(|e| format!("`{value}` is not an absolute URL ({e})"))?;
        if url.query().is_some() {
            return Err(format!(
                "`{value}` has a query component; RFC 8414 §2 forbids one"
            ));
        }
        if url.fragment().is_some() {
            return Err(format!(
                "`{value}` has a fragment component; RFC 8414 §2 forbids one"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{value}` carries user information"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => {
                return Err(format!(
                    "`{value}` uses http on a host that is not loopback; use https"
                ));
            }
            other => {
                return Err(format!(
                    "`{value}` has scheme `{other}`; the issuer must be https"
                ));
            }
        }
        // Keep the operator's spelling (RFC 8414 §3.3 compares issuers as strings) less a trailing
        // slash, which would double up when endpoint paths are appended.
        let trimmed = value.trim_end_matches('/');
        if trimmed.len() < url.origin().ascii_serialization().len() {
            return Err(format!("`{value}` is not a valid issuer"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The issuer exactly as published in metadata and the `iss` claim.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path component, without a trailing slash; empty for an issuer at the root.
    pub fn path(&self) -> String {
        let url = Url::parse(&self.0).expect("validated in Issuer::parse");
        url.path().trim_end_matches('/').to_owned()
    }

    /// True when the scheme is https, so cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https:")
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn minute_start_is_the_first_second_of_the_minute() {
        assert_eq!(Timestamp(120).minute_start(), Timestamp(120));
        assert_eq!(Timestamp(179).minute_start(), Timestamp(120));
        assert_eq!(
            Timestamp(1_765_152_061).minute_start(),
            Timestamp(1_765_152_060)
        );
        assert_eq!(Timestamp(-1).minute_start(), Timestamp(-60));
        assert_eq!(Timestamp(0).minute_start(), Timestamp(0));
    }

    #[test]
    fn scope_parses_as_a_set_and_prints_sorted() {
        let scope = Scope::parse("write  read write").unwrap();
        assert_eq!(scope.to_string(), "read write");
        assert!(Scope::parse("read").unwrap().is_subset(&scope));
    }

    #[test]
    fn scope_refuses_characters_outside_nqchar() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}"] {
            assert_eq!(
                Scope::parse(bad).unwrap_err().code,
                ErrorCode::InvalidScope,
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_client_ids_never_look_like_options() {
        // Regression: a generated id starting with '-' was parsed by the CLI as a flag.
        for _ in 0..2000 {
            let id = ClientId::generate();
            assert!(
                id.as_str().starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{id}"
            );
        }
    }

    #[test]
    fn client_id_refuses_control_characters_and_empty() {
        assert!(ClientId::parse("abc-123").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a\nb").is_err());
        assert!(ClientId::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn issuer_rules_follow_rfc_8414() {
        assert_eq!(
            Issuer::parse("https://as.example.com/").unwrap().as_str(),
            "https://as.example.com"
        );
        let with_path = Issuer::parse("https://api.example.com/v3/oauth").unwrap();
        assert_eq!(with_path.path(), "/v3/oauth");
        assert_eq!(Issuer::parse("http://127.0.0.1:8080").unwrap().path(), "");
        assert!(Issuer::parse("http://[::1]:9000").is_ok());
        assert!(Issuer::parse("http://localhost").is_ok());
        assert!(
            Issuer::parse("https://as.example.com?x=1")
                .unwrap_err()
                .contains("query")
        );
        assert!(
            Issuer::parse("https://as.example.com#top")
                .unwrap_err()
                .contains("fragment")
        );
        assert!(
            Issuer::parse("http://as.example.com")
                .unwrap_err()
                .contains("https")
        );
        assert!(Issuer::parse("ftp://as.example.com").is_err());
        assert!(Issuer::parse("not a url").is_err());
    }

    #[test]
    fn unknown_grant_type_is_unsupported() {
        assert_eq!(
            "password".parse::<GrantType>().unwrap_err().code,
            ErrorCode::UnsupportedGrantType
        );
        assert_eq!(
            "client_credentials".parse::<GrantType>().unwrap(),
            GrantType::ClientCredentials
        );
    }
}

/// A `resource` indicator (RFC 8707 §2): an absolute URI without a fragment, naming the API a token is
/// for; it becomes the token's `aud`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceUri(String);

impl ResourceUri {
    /// Validates a resource indicator; `invalid_target` when it is relative or has a fragment.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let url = Url::parse(value)
            .map_err(|_| OAuthError::invalid_target("resource must be an absolute URI"))?;
        if url.fragment().is_some() || value.contains('#') {
            return Err(OAuthError::invalid_target(
                "resource must not contain a fragment (RFC 8707 §2)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The URI as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

wire_text!(ResourceUri, OAuthError, |value| Self::parse(&value));

/// A registered `redirect_uri` (RFC 6749 §3.1.2): absolute, without fragment. Compared byte for byte,
/// never normalised.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

/// Whether `text` can be shown to a person as it is: no control characters (newlines, ESC and the
/// rest of C0 and C1) and no bidirectional formatting characters, which can make a line read as
/// something it is not (N-L7).
pub fn is_display_safe(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

impl RedirectUri {
    /// Validates a redirect URI for registration.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        // N-L7: the URL parser drops tabs and newlines silently, but the string is stored and shown
        // as sent, so a control character would reach the consent page, logs and terminals.
        if !is_display_safe(&value) {
            return Err(
                "a redirect URI contains a control or bidirectional formatting character".into(),
            );
        }
        let url =
            Url::parse(&value).map_err(|e| format!("`{value}` is not an absolute URI ({e})"))?;
        if url.fragment().is_some() || value.contains('#') {
            return Err(format!(
                "`{value}` has a fragment; RFC 6749 §3.1.2 forbids one"
            ));
        }
        if matches!(
            url.scheme(),
            "javascript" | "data" | "file" | "vbscript" | "blob" | "about"
        ) {
            return Err(format!(
                "`{value}` uses the `{}` scheme, which cannot be a redirect target",
                url.scheme()
            ));
        }
        if url.scheme() == "http" && !is_loopback_host(&url) {
            return Err(format!(
                "`{value}` uses http on a host that is not loopback; use https"
            ));
        }
        // I2: credentials in a redirect URI would be sent to (and logged by) whatever the browser
        // reaches, and `user@` is a classic way to make a URI read as another host to a person.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{}` carries credentials (user:password@); a redirect URI cannot",
                url.host_str().unwrap_or("")
            ));
        }
        Ok(Self(value))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a `redirect_uri` sent in an authorization request matches this registered one.
    ///
    /// # Security
    /// Exact string comparison (OAuth 2.1 §4.1.1.1), so no open redirect through path or query
    /// tricks. The one exception is RFC 8252 §7.3: for an http redirect to a loopback IP literal, a
    /// native app picks its port at run time, so the port may differ while everything else matches.
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        // Only URIs already in canonical form qualify, so any difference a URL parser would normalise
        // away (dot segments, case, default ports) still refuses the match.
        let canonical = |text: &str| Url::parse(text).ok().filter(|u| u.as_str() == text);
        let (Some(registered), Some(mut requested)) = (canonical(&self.0), canonical(requested))
        else {
            return false;
        };
        let loopback_ip = |url: &Url| {
            url.scheme() == "http"
                && match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    _ => false,
                }
        };
        if !loopback_ip(&registered) || !loopback_ip(&requested) {
            return false;
        }
        requested.set_port(registered.port()).is_ok() && requested == registered
    }
}

wire_text!(RedirectUri, String, |value| Self::parse(value));

#[cfg(test)]
mod redirect_uri_tests {
    use super::RedirectUri;

    #[test]
    fn redirect_uris_must_be_absolute_safe_and_fragment_free() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:8788/callback",
            "com.example.app:/oauth",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "https://app.example.com/cb#x",
            "javascript:alert(1)",
            "http://app.example.com/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn i2_credentials_are_refused_and_localhost_stays_without_the_port_exception() {
        for bad in [
            "https://user:pw@app.example.com/cb",
            "https://user@app.example.com/cb",
            "http://u:p@127.0.0.1/cb",
        ] {
            let err = RedirectUri::parse(bad).unwrap_err();
            assert!(
                err.contains("credentials") && !err.contains("pw"),
                "{bad}: {err}"
            );
        }
        // Many native and MCP clients register http://localhost: still accepted, matched exactly.
        let localhost = RedirectUri::parse("http://localhost:3000/callback").unwrap();
        assert!(localhost.matches("http://localhost:3000/callback"));
        assert!(!localhost.matches("http://localhost:3001/callback"));
    }

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let https = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(https.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
            "https://APP.example.com/cb",
            "https://app.example.com/CB",
            "https://app.example.com.evil.example/cb",
        ] {
            assert!(!https.matches(other), "{other}");
        }
        // RFC 8252 §7.3: any port on a loopback IP literal.
        let native = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert!(native.matches("http://127.0.0.1:51234/callback"));
        assert!(native.matches("http://127.0.0.1/callback"));
        assert!(!native.matches("http://127.0.0.1:51234/other"));
        assert!(!native.matches("http://localhost:51234/callback"));
        assert!(!native.matches("https://127.0.0.1:51234/callback"));
        let with_port = RedirectUri::parse("http://[::1]:8000/cb").unwrap();
        assert!(with_port.matches("http://[::1]:9000/cb"));
        assert!(!with_port.matches("http://127.0.0.1:9000/cb"));
        // localhost is a name, not a loopback literal: no port exception (RFC 8252 §8.3).
        let named = RedirectUri::parse("http://localhost:8000/cb").unwrap();
        assert!(!named.matches("http://localhost:9000/cb"));
    }
}
