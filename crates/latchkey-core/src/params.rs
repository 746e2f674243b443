//! Request parameters of a form-encoded body (RFC 6749 §3.2, Appendix B) or a query string.
use std::collections::{BTreeMap, BTreeSet};

use crate::OAuthError;

/// Parameters of one request, each present at most once.
///
/// RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
/// Parameters sent without a value are treated as omitted, as the same sections require.
///
/// # Security
/// Values are decoded strictly (RFC 6749 Appendix B: UTF-8, then form-encoded): a value that is not
/// UTF-8 after percent-decoding is refused, never decoded lossily, so the `state` a client gets back is
/// the one it sent, byte for byte, and no two different inputs become one value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// Names whose values could not be decoded (`parse_urlencoded_partly` only).
    undecodable: BTreeSet<String>,
}

impl Params {
    /// Builds the set from decoded pairs, refusing any name that appears twice.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, OAuthError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            if map.contains_key(&name) {
                return Err(repeated(&name));
            }
            map.insert(name, value);
        }
        map.retain(|_, v: &mut String| !v.is_empty());
        Ok(Self {
            values: map,
            undecodable: BTreeSet::new(),
        })
    }

    /// Parses an `application/x-www-form-urlencoded` body or query string; a value that is not UTF-8
    /// after percent-decoding, like a repeated parameter, is `invalid_request`.
    pub fn parse_urlencoded(input: &[u8]) -> Result<Self, OAuthError> {
        let params = Self::parse_urlencoded_partly(input)?;
        match params.undecodable() {
            Some(error) => Err(error),
            None => Ok(params),
        }
    }

    /// Like `parse_urlencoded`, but a value that cannot be decoded leaves its parameter out and is
    /// remembered (see `undecodable`), for the authorization endpoint: it must know the client and the
    /// redirect URI before it can decide whether such an error is shown or sent back. A repeated or
    /// undecodable parameter *name* is still an error at once.
    pub fn parse_urlencoded_partly(input: &[u8]) -> Result<Self, OAuthError> {
        let mut values = BTreeMap::new();
        let mut undecodable = BTreeSet::new();
        for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let name = form_decode(name).ok_or_else(|| {
                OAuthError::invalid_request("a parameter name is not valid UTF-8 once decoded")
            })?;
            if values.contains_key(&name) || undecodable.contains(&name) {
                return Err(repeated(&name));
            }
            match form_decode(value) {
                Some(value) => {
                    values.insert(name, value);
                }
                None => {
                    undecodable.insert(name);
                }
            }
        }
        values.retain(|_, v: &mut String| !v.is_empty());
        Ok(Self {
            values,
            undecodable,
        })
    }

    /// `invalid_request` for the first parameter whose value could not be decoded, if any.
    pub fn undecodable(&self) -> Option<OAuthError> {
        self.undecodable.first().map(|name| {
            OAuthError::invalid_request(format!(
                "parameter `{}` is not valid UTF-8 once percent-decoded",
                printable(name)
            ))
        })
    }

    /// Whether the value of `name` was sent but could not be decoded.
    pub fn is_undecodable(&self, name: &str) -> bool {
        self.undecodable.contains(name)
    }

    /// The value of an optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of a required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is required")))
    }

    /// Every parameter, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A copy without the named parameters.
    pub fn without(&self, names: &[&str]) -> Params {
        Params {
            values: self
                .values
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            undecodable: self.undecodable.clone(),
        }
    }

    /// A copy with one parameter set.
    pub fn with(&self, name: &str, value: &str) -> Params {
        let mut copy = self.clone();
        copy.values.insert(name.to_owned(), value.to_owned());
        copy
    }

    /// The parameters as `application/x-www-form-urlencoded`.
    pub fn to_urlencoded(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.iter())
            .finish()
    }

    /// Removes and returns a parameter, so credentials do not linger in the parsed request.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }
}

fn repeated(name: &str) -> OAuthError {
    OAuthError::invalid_request(format!("parameter `{}` is repeated", printable(name)))
}

/// `application/x-www-form-urlencoded` decoding of one name or value (RFC 6749 Appendix B): `+` is a
/// space, `%XX` a byte, and the bytes must be UTF-8. `None` for a broken escape or invalid UTF-8.
pub(crate) fn form_decode(input: &[u8]) -> Option<String> {
    // Most values (tokens, client ids, grant types) have nothing to decode: one copy, one UTF-8 check.
    if !input.iter().any(|&b| b == b'+' || b == b'%') {
        return String::from_utf8(input.to_vec()).ok();
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(input.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A parameter name safe to echo back in an error description: printable ASCII, truncated.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err =
            Params::parse_urlencoded(b"grant_type=client_credentials&scope=a&scope=b").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.description().contains("scope"));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let params = Params::parse_urlencoded(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn values_that_are_not_utf8_once_decoded_are_invalid_request() {
        for input in [
            &b"state=%FF%FE&client_id=a"[..],
            b"state=%C3",
            b"state=%ZZ",
            b"state=%4",
            b"state=\xff",
        ] {
            let err = Params::parse_urlencoded(input).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest);
            assert!(err.description().contains("state"), "{}", err.description());
        }
        let partly = Params::parse_urlencoded_partly(b"state=%FF%FE&client_id=a").unwrap();
        assert_eq!(partly.get("client_id"), Some("a"));
        assert_eq!(partly.get("state"), None);
        assert!(partly.is_undecodable("state"));
        assert!(partly.undecodable().is_some());
        assert!(Params::parse_urlencoded(b"%FF=1").is_err(), "a name too");
        assert!(Params::parse_urlencoded_partly(b"state=%FF&state=a").is_err());
        let fine = Params::parse_urlencoded(b"state=%C3%A9t%C3%A9").unwrap();
        assert_eq!(fine.get("state"), Some("été"));
    }

    #[test]
    fn values_are_form_decoded() {
        let params = Params::parse_urlencoded(b"scope=read+write%3Aall").unwrap();
        assert_eq!(params.get("scope"), Some("read write:all"));
        assert_eq!(
            params.require("missing").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
