//! The one place where errors become HTTP responses (RFC 6749 §5.2 error JSON).
use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::keys::KeyError;
use latchkey_core::{ErrorCode, OAuthError};
use latchkey_store::StoreError;
use serde_json::json;

/// What a handler can fail with: a protocol error the client caused, or an internal failure.
#[derive(Debug)]
pub enum ApiError {
    /// Reported to the client as is.
    OAuth(OAuthError),
    /// Reported as is; a 401 also carries a `WWW-Authenticate` challenge for this scheme, because
    /// the request authenticated with the `Authorization` header.
    Challenged(OAuthError, Scheme),
    /// Reported as a bare `server_error`; the cause is logged, never sent.
    Internal(Cow<'static, str>),
    /// The database cannot serve right now: 503 `temporarily_unavailable` (RFC 6749 §5.2 lets a
    /// client tell "try again later" from a broken request); the cause is logged, never sent.
    Unavailable(Cow<'static, str>),
    /// A protected resource's refusal (RFC 6750 §3), with its `WWW-Authenticate: Bearer` challenge on
    /// every status: `None` when the request carried no token at all (§3.1: a bare challenge, no error
    /// code), and for `insufficient_scope` the scope a token needs.
    Resource(Option<OAuthError>, Option<&'static str>),
}

/// An HTTP authentication scheme a failed request used in its `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Client secrets (RFC 6749 §2.3.1).
    Basic,
    /// Registration access tokens and initial access tokens (RFC 6750, RFC 7591/7592).
    Bearer,
}

impl ApiError {
    /// The same error for a request whose `Authorization` header used `scheme` (`None`: it had none).
    ///
    /// RFC 6749 §5.2 asks for a challenge only "if the client attempted to authenticate via the
    /// Authorization request header field"; clients of the `oauth4webapi` family read any 401 with
    /// `WWW-Authenticate` as an HTTP-auth challenge and never show the `invalid_client` body.
    pub fn challenging(self, scheme: Option<Scheme>) -> Self {
        match (self, scheme) {
            (ApiError::OAuth(e), Some(scheme)) => ApiError::Challenged(e, scheme),
            (other, _) => other,
        }
    }
}

/// The cause of a 500, carried in response extensions to the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub Cow<'static, str>);

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::OAuth(e)
    }
}

// A storage or key failure is the server's fault: never a client error such as `invalid_request`.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::Unavailable(Cow::Owned(e.to_string())),
            e => ApiError::Internal(Cow::Owned(e.to_string())),
        }
    }
}

/// What a client is told while the database is away; the same words on every endpoint and page.
pub(crate) const UNAVAILABLE: &str = "the service is temporarily unavailable; try again shortly";

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        ApiError::Internal(Cow::Owned(e.to_string()))
    }
}

/// HTTP status of each error code (RFC 6749 §5.2; RFC 6750 and 8707 follow the same rule).
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::InvalidTarget
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::AccessDenied
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::AccountSelectionRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported
        | ErrorCode::InvalidRedirectUri
        | ErrorCode::InvalidClientMetadata => StatusCode::BAD_REQUEST,
    }
}

/// Marks a response as one nothing may cache: `Cache-Control: no-store` and, for HTTP/1.0 caches,
/// `Pragma: no-cache` (RFC 6749 §5.1 for tokens; every protocol answer, error and page takes it).
pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A protocol response that carries or reveals tokens: never cached.
pub(crate) struct NoStore<T>(pub(crate) T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        no_store(response.headers_mut());
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (error, scheme, cause) = match self {
            ApiError::Resource(error, scope) => return refuse_resource(error, scope),
            ApiError::OAuth(e) => (e, None, None),
            ApiError::Challenged(e, scheme) => (e, Some(scheme), None),
            ApiError::Internal(cause) => (OAuthError::server_error(), None, Some(cause)),
            ApiError::Unavailable(cause) => (
                OAuthError::temporarily_unavailable(UNAVAILABLE),
                None,
                Some(cause),
            ),
        };
        let mut response = body(&error);
        let status = response.status();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match scheme {
                Some(Scheme::Basic) => Some("Basic realm=\"latchkey\""),
                // RFC 6750 §3: the challenge names the scheme and the error.
                Some(Scheme::Bearer) => Some("Bearer error=\"invalid_token\""),
                None => None,
            };
            if let Some(challenge) = challenge {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
        }
        if error.code == ErrorCode::TemporarilyUnavailable {
            // RFC 9110 §10.2.3: when to try again; a database back within seconds is the usual case.
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

/// The RFC 6749 §5.2 body of `error` with its status, never cached.
fn body(error: &OAuthError) -> Response {
    let body = json!({"error": error.code.as_str(), "error_description": error.description()});
    let mut response = (status_of(error.code), Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

/// RFC 6750 §3: the error (an `invalid_request` for a missing token, answered 401), and the challenge
/// that names it.
fn refuse_resource(error: Option<OAuthError>, scope: Option<&'static str>) -> Response {
    let (mut response, challenge) = match &error {
        None => {
            let mut r = body(&OAuthError::invalid_request("an access token is required"));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            (r, "Bearer".to_owned())
        }
        Some(e) => {
            let scope = scope
                .map(|s| format!(", scope=\"{s}\""))
                .unwrap_or_default();
            (
                body(e),
                format!("Bearer error=\"{}\"{scope}", e.code.as_str()),
            )
        }
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_with_no_store_and_a_challenge_only_after_an_authorization_header() {
        let bare = ApiError::from(OAuthError::invalid_client("nope")).into_response();
        assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
        assert!(!bare.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(bare.headers()[header::CACHE_CONTROL], "no-store");
        let basic = ApiError::from(OAuthError::invalid_client("nope"))
            .challenging(Some(Scheme::Basic))
            .into_response();
        assert_eq!(
            basic.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"latchkey\""
        );
        let bearer = ApiError::from(OAuthError::invalid_token("nope"))
            .challenging(Some(Scheme::Bearer))
            .into_response();
        assert_eq!(
            bearer.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let not_401 = ApiError::from(OAuthError::invalid_grant("nope"))
            .challenging(Some(Scheme::Basic))
            .into_response();
        assert!(!not_401.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn an_unavailable_database_is_503_temporarily_unavailable_with_its_cause_kept_for_the_log() {
        let e = StoreError::Unavailable(sqlx_pool_timed_out());
        let response = ApiError::from(e).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let cause = response.extensions().get::<InternalCause>().unwrap();
        assert!(cause.0.contains("database unavailable"), "{}", cause.0);
    }

    fn sqlx_pool_timed_out() -> latchkey_store::SqlxError {
        latchkey_store::SqlxError::PoolTimedOut
    }

    #[test]
    fn a_protected_resource_challenges_with_the_error_and_the_scope_it_needs() {
        let missing = ApiError::Resource(None, None).into_response();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(missing.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(missing.headers()[header::PRAGMA], "no-cache");
        let scope = ApiError::Resource(
            Some(OAuthError::new(ErrorCode::InsufficientScope, "no openid")),
            Some("openid"),
        )
        .into_response();
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            scope.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"openid\""
        );
        let malformed =
            ApiError::Resource(Some(OAuthError::invalid_request("twice")), None).into_response();
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            malformed.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_request\""
        );
    }

    #[test]
    fn internal_errors_hide_their_cause_from_the_client() {
        let response = ApiError::Internal("disk on fire at /var/db".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<InternalCause>().is_some());
    }
}
