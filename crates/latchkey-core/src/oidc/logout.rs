//! RP-Initiated Logout 1.0: the end-session request (§2), which client it comes from, and where the
//! user agent goes afterwards (§3).
//!
//! # Security
//! `post_logout_redirect_uri` is compared exactly with the URIs the client registered, and only once
//! the client is known from `client_id` or a verified `id_token_hint`; otherwise the logout ends on
//! Latchkey's own page, so the endpoint is never an open redirector.
use crate::OAuthError;
use crate::client::Client;
use crate::params::Params;

/// A parsed end-session request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndSessionRequest {
    /// `id_token_hint`, as sent; the endpoint verifies it.
    pub id_token_hint: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`, returned with the redirect.
    pub state: Option<String>,
    /// `ui_locales` for the confirmation page.
    pub ui_locales: Option<String>,
}

impl EndSessionRequest {
    /// Reads the parameters (from the query of a GET or the body of a POST).
    pub fn parse(params: &Params) -> EndSessionRequest {
        let get = |name: &str| params.get(name).map(str::to_owned);
        EndSessionRequest {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
            ui_locales: get("ui_locales"),
        }
    }

    /// The client the request names: `client_id`, which must agree with the hint's audience when both
    /// are present (§2).
    pub fn client_id<'a>(
        &'a self,
        hint_client: Option<&'a str>,
    ) -> Result<Option<&'a str>, OAuthError> {
        match (self.client_id.as_deref(), hint_client) {
            (Some(a), Some(b)) if a != b => Err(OAuthError::invalid_request(
                "client_id does not match the audience of id_token_hint",
            )),
            (Some(a), _) => Ok(Some(a)),
            (None, b) => Ok(b),
        }
    }

    /// Where to send the user agent after the logout (§3): the registered `post_logout_redirect_uri`
    /// with `state`, or `None` to show Latchkey's own page.
    pub fn redirect(&self, client: Option<&Client>) -> Result<Option<String>, OAuthError> {
        let Some(requested) = &self.post_logout_redirect_uri else {
            return Ok(None);
        };
        let client = client.ok_or_else(|| {
            OAuthError::invalid_request(
                "post_logout_redirect_uri needs client_id or id_token_hint to name the client",
            )
        })?;
        let registered = client
            .policy
            .openid
            .post_logout_redirect_uris
            .iter()
            .any(|u| u.as_str() == requested);
        if !registered {
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri is not registered for this client",
            ));
        }
        let mut url = url::Url::parse(requested)
            .map_err(|_| OAuthError::invalid_request("post_logout_redirect_uri is not a URL"))?;
        if let Some(state) = &self.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        Ok(Some(url.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::authorization_code::tests::client;
    use crate::types::{GrantType, RedirectUri};

    fn request(query: &str) -> EndSessionRequest {
        EndSessionRequest::parse(&Params::parse_urlencoded(query.as_bytes()).unwrap())
    }

    #[test]
    fn the_redirect_is_registered_exactly_and_carries_state() {
        let mut c = client(&[GrantType::AuthorizationCode]);
        c.policy.openid.post_logout_redirect_uris =
            vec![RedirectUri::parse("https://app.example/bye?x=1").unwrap()];
        let r =
            request("post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1&state=s+1");
        assert_eq!(
            r.redirect(Some(&c)).unwrap().as_deref(),
            Some("https://app.example/bye?x=1&state=s+1")
        );
        let other = request("post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye");
        assert!(other.redirect(Some(&c)).is_err(), "not exactly registered");
        assert!(r.redirect(None).is_err(), "no client named");
        assert_eq!(request("state=s").redirect(Some(&c)).unwrap(), None);
    }

    #[test]
    fn client_id_must_agree_with_the_hint() {
        let r = request("client_id=app");
        assert_eq!(r.client_id(Some("app")).unwrap(), Some("app"));
        assert!(r.client_id(Some("other")).is_err());
        assert_eq!(request("").client_id(Some("app")).unwrap(), Some("app"));
        assert_eq!(request("").client_id(None).unwrap(), None);
    }
}
