//! `OAuthForm`: an `application/x-www-form-urlencoded` body parsed into `Params`, with repeated or
//! malformed parameters refused as `invalid_request` instead of axum's plain-text rejection.
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use latchkey_core::OAuthError;
use latchkey_core::params::Params;

use crate::error::ApiError;

/// The parsed body of a protocol POST.
pub(crate) struct OAuthForm(pub(crate) Params);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        // axum's rejection text is not ours to echo (and may leave RFC 6749 §5.2's character set).
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            OAuthError::invalid_request(match rejection.status().as_u16() {
                413 => "the request body is too large",
                _ => "the request body could not be read",
            })
        })?;
        Ok(OAuthForm(Params::parse_urlencoded(&body)?))
    }
}
