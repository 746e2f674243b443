//! The `Authorization: Bearer` credential (RFC 6750 §2.1), read the same way by registration
//! management (RFC 7592 registration access tokens, RFC 7591 initial access tokens) and UserInfo.
use axum::http::{HeaderMap, header};

/// An `Authorization` header that is there but is not a readable Bearer credential.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotBearer;

/// The Bearer token of a request: `None` without an `Authorization` header, `Some(Err)` when the
/// header names another scheme or is not readable.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<Result<&str, NotBearer>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    Some(token.ok_or(NotBearer))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_bearer() {
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert_eq!(bearer(&with("Bearer abc")), Some(Ok("abc")));
        assert_eq!(bearer(&with("bearer  abc ")), Some(Ok("abc")));
        assert_eq!(bearer(&with("Basic abc")), Some(Err(NotBearer)));
        assert_eq!(bearer(&with("Bearer")), Some(Err(NotBearer)));
    }
}
