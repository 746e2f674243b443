//! The pages' browser-bound secrets: the cookie policy (names, scope, attributes) and the MACs every
//! form carries (CSRF tokens, the consent binding), under keys derived from the master key.
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::settings::path_of;

/// The two page cookies: the signed-in session (its SHA-256 is the database key) and the browser id
/// CSRF tokens are bound to, set before anyone signs in.
///
/// # Security
/// A cookie can be planted by a sibling subdomain or by a man in the middle of any plain-http page of
/// the domain ("cookie tossing"); a planted browser id would let an attacker compute a valid CSRF
/// token. The `__Host-` prefix makes the browser refuse such cookies (RFC 6265bis §4.1.3.2: only
/// `Secure`, from this host, `Path=/`, no `Domain`), so an https issuer at the root of its host uses
/// it. An issuer with a path shares its host with other applications: there the cookies are scoped to
/// the authorization endpoint's path, so the session never goes to them, and take `__Secure-`, the
/// strongest prefix a path allows. A loopback http issuer in development keeps plain names, which a
/// browser would refuse to store with either prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookiePolicy {
    pub(crate) session: String,
    pub(crate) browser: String,
    /// `Path=…; HttpOnly; SameSite=Lax`, and `; Secure` on https.
    attributes: String,
    /// The host the cookies are set from (the authorization endpoint's, with its login and consent
    /// forms) and the `Path` they are scoped to.
    host: Option<String>,
    path: String,
    secure: bool,
}

impl CookiePolicy {
    /// The policy for an issuer whose pages live under `authorization_endpoint`.
    pub fn new(issuer: &str, authorization_endpoint: &str) -> Self {
        let https = issuer.starts_with("https://");
        let issuer_path = url::Url::parse(issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let (prefix, path) = match (https, issuer_path.is_empty()) {
            (true, true) => ("__Host-", "/".to_owned()),
            (true, false) => ("__Secure-", path_of(authorization_endpoint)),
            (false, _) => ("", "/".to_owned()),
        };
        let secure = if https { "; Secure" } else { "" };
        Self {
            session: format!("{prefix}latchkey_session"),
            browser: format!("{prefix}latchkey_browser"),
            attributes: format!("Path={path}; HttpOnly; SameSite=Lax{secure}"),
            host: url::Url::parse(authorization_endpoint)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned)),
            path,
            secure: https,
        }
    }

    /// Whether a browser sends the page cookies with a request to `url`: the same host (a cookie
    /// without `Domain` is host-only, and ignores the port), https if they are `Secure`, and a path
    /// the cookie path matches (RFC 6265 §5.1.4: equal, or below it at a `/` boundary). An endpoint
    /// that needs the signed-in session, such as RP-initiated logout, must be one of these.
    pub fn reaches(&self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        let path = url.path();
        let below = self.path == "/"
            || path == self.path
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        url.host_str() == self.host.as_deref() && (!self.secure || url.scheme() == "https") && below
    }

    /// A `Set-Cookie` value under this policy.
    pub(crate) fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; {}", self.attributes);
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&cookie).expect("cookie names and base64url values are header-safe")
    }
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Keys for the MACs the pages' forms carry, derived from the master key, so every instance of one
/// issuer accepts the forms of the others and nothing is stored: the CSRF token, and the consent
/// binding (M1), each under its own derived key.
pub(crate) struct CsrfKey {
    csrf: aws_lc_rs::hmac::Key,
    consent: aws_lc_rs::hmac::Key,
}

/// Each part with its length first, so no two different lists of parts give the same input.
fn framed(parts: &[&str]) -> Vec<u8> {
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    input
}

fn verify_tag(key: &aws_lc_rs::hmac::Key, input: &[u8], token: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    aws_lc_rs::hmac::verify(key, input, &tag).is_ok()
}

impl CsrfKey {
    /// `csrf` and `consent` are two keys derived from the master key under different labels.
    pub(crate) fn new(csrf: [u8; 32], consent: [u8; 32]) -> Self {
        let key = |k: [u8; 32]| aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &k);
        Self {
            csrf: key(csrf),
            consent: key(consent),
        }
    }

    /// The token for forms shown to this browser, and to its session once there is one (L5): a
    /// browser id planted by someone else then no longer yields a token that works for the victim.
    pub(crate) fn token(&self, browser: &str, session: Option<&str>) -> String {
        let input = framed(&[browser, session.unwrap_or("")]);
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.csrf, &input))
    }

    /// Whether a submitted token belongs to this browser and session (constant-time).
    pub(crate) fn verify(&self, browser: &str, session: Option<&str>, token: &str) -> bool {
        verify_tag(
            &self.csrf,
            &framed(&[browser, session.unwrap_or("")]),
            token,
        )
    }

    /// The marker of a same-site bounce (N-M1), bound to the browser only: the cross-site POST it
    /// answers carried no session cookie, and the bounced POST will. Three framed parts, so it never
    /// equals a CSRF token (two parts).
    pub(crate) fn bounce(&self, browser: &str) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(
            &self.csrf,
            &framed(&["bounce", browser, ""]),
        ))
    }

    /// Whether `marker` is this browser's bounce marker (constant-time).
    pub(crate) fn verify_bounce(&self, browser: &str, marker: &str) -> bool {
        verify_tag(&self.csrf, &framed(&["bounce", browser, ""]), marker)
    }

    /// The consent binding: a MAC over what the consent page showed (`shown`: client, its name,
    /// redirect URI, scope, resource) for this browser, so the decision posted back approves exactly
    /// that and nothing the client's metadata became in between.
    pub(crate) fn consent(&self, browser: &str, shown: &[&str]) -> String {
        let mut parts = vec![browser];
        parts.extend_from_slice(shown);
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.consent, &framed(&parts)))
    }

    /// Whether `token` binds exactly `shown` for this browser (constant-time).
    pub(crate) fn verify_consent(&self, browser: &str, shown: &[&str], token: &str) -> bool {
        let mut parts = vec![browser];
        parts.extend_from_slice(shown);
        verify_tag(&self.consent, &framed(&parts), token)
    }
}

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_browser() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let token = key.token("browser-a", None);
        assert!(key.verify("browser-a", None, &token));
        assert!(!key.verify("browser-b", None, &token));
        assert!(!key.verify("browser-a", None, "forged"));
        assert!(!CsrfKey::new([8; 32], [9; 32]).verify("browser-a", None, &token));
    }

    #[test]
    fn l5_csrf_tokens_are_bound_to_the_session_once_there_is_one() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let signed_in = key.token("browser-a", Some("session-1"));
        assert!(key.verify("browser-a", Some("session-1"), &signed_in));
        assert!(!key.verify("browser-a", Some("session-2"), &signed_in));
        assert!(!key.verify("browser-a", None, &signed_in));
        // A planted browser id alone no longer forges a signed-in form.
        assert!(!key.verify(
            "browser-a",
            Some("session-1"),
            &key.token("browser-a", None)
        ));
    }

    #[test]
    fn m1_consent_binding_covers_every_shown_part_and_is_not_the_csrf_token() {
        let key = CsrfKey::new([7; 32], [9; 32]);
        let shown = ["app", "App", "https://app.example/cb", "read", ""];
        let tag = key.consent("browser-a", &shown);
        assert!(key.verify_consent("browser-a", &shown, &tag));
        assert!(!key.verify_consent("browser-b", &shown, &tag));
        for i in 0..shown.len() {
            let mut changed = shown;
            changed[i] = "read write admin";
            assert!(!key.verify_consent("browser-a", &changed, &tag), "{i}");
        }
        // Framing: moving a boundary changes the input.
        let moved = ["app", "App", "https://app.example/cbread", "", ""];
        assert!(!key.verify_consent("browser-a", &moved, &tag));
        assert!(!key.verify("browser-a", None, &tag), "separate keys");
    }

    #[test]
    fn l5_cookies_take_the_host_prefix_where_the_issuer_allows_it() {
        let root = CookiePolicy::new("https://id.example", "https://id.example/authorize");
        assert_eq!(root.session, "__Host-latchkey_session");
        assert_eq!(root.browser, "__Host-latchkey_browser");
        assert_eq!(root.attributes, "Path=/; HttpOnly; SameSite=Lax; Secure");
        let shared = CookiePolicy::new(
            "https://api.example/v3/oauth",
            "https://api.example/v3/oauth/authorize",
        );
        assert_eq!(shared.session, "__Secure-latchkey_session");
        assert_eq!(
            shared.attributes,
            "Path=/v3/oauth/authorize; HttpOnly; SameSite=Lax; Secure"
        );
        let dev = CookiePolicy::new("http://127.0.0.1:8080", "http://127.0.0.1:8080/authorize");
        assert_eq!(dev.session, "latchkey_session");
        assert_eq!(dev.attributes, "Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn the_cookies_reach_only_urls_under_their_host_and_path() {
        let shared = CookiePolicy::new(
            "https://api.example/v3/oauth",
            "https://api.example/v3/oauth/authorize",
        );
        assert!(shared.reaches("https://api.example/v3/oauth/authorize/logout"));
        assert!(shared.reaches("https://api.example/v3/oauth/authorize"));
        for elsewhere in [
            "https://api.example/v3/oauth/logout",
            "https://api.example/v3/oauth/authorizelogout",
            "https://other.example/v3/oauth/authorize/logout",
            "http://api.example/v3/oauth/authorize/logout",
        ] {
            assert!(!shared.reaches(elsewhere), "{elsewhere}");
        }
        let root = CookiePolicy::new("https://id.example", "https://id.example/authorize");
        assert!(root.reaches("https://id.example/logout"));
        assert!(!root.reaches("https://login.id.example/logout"));
        let dev = CookiePolicy::new("http://127.0.0.1:8080", "http://127.0.0.1:8080/authorize");
        assert!(dev.reaches("http://127.0.0.1:8080/logout"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; latchkey_session=abc; latchkey_session_x=no"),
        );
        assert_eq!(cookie(&headers, "latchkey_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
