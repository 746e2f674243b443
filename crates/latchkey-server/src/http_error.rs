//! Errors outside the OAuth protocol (unknown routes, 405, 408, 413, 429, an unready database) as JSON
//! in the configured shape: RFC 6749 §5.2 style (`oauth`, the default) or the `ApiErrorResponse` some
//! platforms document (`api`: `error`, `error_code`, `message`, nothing else). Protocol endpoints keep
//! RFC 6749 §5.2 for everything they answer themselves (`error.rs`); here, a 408 or 413 that a layer
//! produced in front of one of them is rewritten in that shape too.
use std::borrow::Cow;
use std::str::FromStr;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use serde_json::json;

use crate::error::ApiError;

/// The JSON shape of non-protocol errors (`http.error_shape`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": "not_found", "error_description": "…"}`, like RFC 6749 §5.2.
    #[default]
    OAuth,
    /// `{"error": "Not Found", "error_code": "not_found", "message": "…"}`.
    Api,
}

impl FromStr for ErrorShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oauth" => Ok(ErrorShape::OAuth),
            "api" => Ok(ErrorShape::Api),
            other => Err(format!(
                "`{other}` is not an error shape (expected oauth or api)"
            )),
        }
    }
}

/// A non-protocol error: its status, a stable snake_case code and a sentence for people.
#[derive(Debug)]
pub(crate) struct HttpError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: Cow<'static, str>,
}

impl HttpError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> HttpError {
        HttpError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The response in `shape`. Errors are never cached: the next request may well succeed.
    pub(crate) fn respond(self, shape: ErrorShape) -> Response {
        let body = match shape {
            ErrorShape::OAuth => json!({"error": self.code, "error_description": self.message}),
            ErrorShape::Api => json!({
                "error": self.status.canonical_reason().unwrap_or("Error"),
                "error_code": self.code,
                "message": self.message,
            }),
        };
        crate::error::NoStore((self.status, Json(body))).into_response()
    }
}

/// The fallback for every path no route serves.
pub(crate) async fn not_found(State(shape): State<ErrorShape>) -> Response {
    HttpError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "nothing is served at this path",
    )
    .respond(shape)
}

/// Gives the bodiless or plain-text errors produced by axum and tower layers (405 with its `Allow`
/// header, 408, 413) a JSON body: RFC 6749 `invalid_request` in front of a protocol endpoint, the
/// configured shape elsewhere. Responses that are already JSON pass untouched.
/// `protocol` says whether the request's path is a protocol endpoint's; the edge middleware calls
/// this on every response.
pub(crate) fn shape_errors(
    shape: ErrorShape,
    protocol: impl FnOnce() -> bool,
    response: Response,
) -> Response {
    let status = response.status();
    if !matches!(
        status,
        StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::PAYLOAD_TOO_LARGE
    ) || is_json(&response)
    {
        return response;
    }
    let message: &'static str = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed here; see the Allow header",
        StatusCode::REQUEST_TIMEOUT => "the request took too long",
        _ => "the request body is too large",
    };
    let protocol = status != StatusCode::METHOD_NOT_ALLOWED && protocol();
    let (mut parts, _) = response.into_parts();
    let mut shaped = if protocol {
        let mut r = ApiError::from(OAuthError::invalid_request(message)).into_response();
        *r.status_mut() = status;
        r
    } else {
        let code = match status {
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            _ => "request_too_large",
        };
        HttpError::new(status, code, message).respond(shape)
    };
    // Keep what the layer said besides the body (`Allow` above all).
    for (name, value) in shaped.headers().iter() {
        parts.headers.insert(name.clone(), value.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = std::mem::replace(shaped.body_mut(), Body::empty());
    Response::from_parts(parts, body)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn the_api_shape_has_exactly_the_documented_members() {
        let response = HttpError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down")
            .respond(ErrorShape::Api);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_of(response).await;
        assert_eq!(
            body,
            json!({"error": "Too Many Requests", "error_code": "rate_limited", "message": "slow down"})
        );
    }

    #[tokio::test]
    async fn the_oauth_shape_is_error_and_error_description() {
        let body = body_of(
            HttpError::new(StatusCode::NOT_FOUND, "not_found", "nothing here")
                .respond(ErrorShape::OAuth),
        )
        .await;
        assert_eq!(
            body,
            json!({"error": "not_found", "error_description": "nothing here"})
        );
        assert_eq!("api".parse(), Ok(ErrorShape::Api));
        assert!("xml".parse::<ErrorShape>().is_err());
    }
}
