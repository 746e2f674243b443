//! Request parameters of a form-encoded body (RFC 6749 §3.2, Appendix B) or a query string.
use std::collections::BTreeMap;

use crate::OAuthError;

/// Parameters of one request, each present at most once.
///
/// RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
/// Parameters sent without a value are treated as omitted, as the same sections require.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

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
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` is repeated",
                    printable(&name)
                )));
            }
            map.insert(name, value);
        }
        map.retain(|_, v: &mut String| !v.is_empty());
        Ok(Self(map))
    }

    /// Parses an `application/x-www-form-urlencoded` body or query string.
    pub fn parse_urlencoded(input: &[u8]) -> Result<Self, OAuthError> {
        Self::from_pairs(
            url::form_urlencoded::parse(input).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    /// The value of an optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of a required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is required")))
    }

    /// Every parameter, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A copy without the named parameters.
    pub fn without(&self, names: &[&str]) -> Params {
        Params(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// A copy with one parameter set.
    pub fn with(&self, name: &str, value: &str) -> Params {
        let mut copy = self.clone();
        copy.0.insert(name.to_owned(), value.to_owned());
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
        self.0.remove(name)
    }
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
        assert!(err.description.contains("scope"));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let params = Params::parse_urlencoded(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
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
