//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; this file only does I/O.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::grant::{self, TokenRequest};
use latchkey_core::token::jwt;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::client_auth::AuthenticatedClient;
use crate::state::AppState;

/// RFC 6749 §5.1 successful response.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let mut response = Json(self).into_response();
        // RFC 6749 §5.1: responses carrying tokens must not be cached.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

pub(crate) async fn token(
    State(app): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<TokenResponse, ApiError> {
    let now = app.clock().now();
    let policy = &app.settings().policy;
    let issued = match TokenRequest::parse(&params)? {
        TokenRequest::ClientCredentials(req) => {
            grant::client_credentials(&client, &req, policy, now)?
        }
    };
    // client_credentials tokens are self-contained JWTs: nothing is written to the database here.
    let access_token = jwt::sign(&issued.claims, &app.keys().active)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.claims.scope.to_string(),
    })
}
