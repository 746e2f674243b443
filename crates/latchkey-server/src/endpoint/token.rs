//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; this file only does I/O.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::grant::{self, TokenRequest};
use latchkey_core::token::{IssuedTokens, jwt};
use latchkey_store::{GrantStore, Redemption};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
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
    let store = app.store();
    let issued = match TokenRequest::parse(&params)? {
        TokenRequest::ClientCredentials(req) => {
            // Self-contained JWT: nothing is written to the database on this path.
            let access = grant::client_credentials(&client, &req, policy, now)?;
            IssuedTokens {
                access,
                refresh: None,
            }
        }
        TokenRequest::AuthorizationCode(req) => {
            let (code, grant) = match store.consume_code(&req.code, now).await? {
                Redemption::Fresh(code, grant) => (code, grant),
                Redemption::Reused(grant_id) => {
                    // RFC 6749 §4.1.2: a code used twice means someone else has it; revoke what
                    // the first use produced.
                    store.revoke_grant(&grant_id, now).await?;
                    return Err(OAuthError::invalid_grant(
                        "the code was already used; tokens issued from it are revoked",
                    )
                    .into());
                }
                Redemption::Unknown => {
                    return Err(OAuthError::invalid_grant("the code is invalid").into());
                }
            };
            grant::authorization_code(&client, &req, &code, &grant, policy, now)?
        }
        TokenRequest::RefreshToken(req) => {
            let (record, grant) = match store.use_refresh_token(&req.refresh_token, now).await? {
                Redemption::Fresh(record, grant) => (record, grant),
                Redemption::Reused(grant_id) => {
                    // OAuth 2.1 §4.3.1: a rotated-out refresh token came back, so one of its two
                    // holders is an attacker; end the whole family.
                    store.revoke_grant(&grant_id, now).await?;
                    return Err(OAuthError::invalid_grant(
                        "the refresh token was already used; its grant is revoked",
                    )
                    .into());
                }
                Redemption::Unknown => {
                    return Err(OAuthError::invalid_grant("the refresh token is invalid").into());
                }
            };
            grant::refresh_token(&client, &req, &record, &grant, policy, now)?
        }
    };
    if let Some(refresh) = &issued.refresh {
        store.insert_refresh_token(&refresh.record).await?;
    }
    let access_token = jwt::sign(&issued.access.claims, &app.keys().active)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: issued.access.expires_in,
        scope: issued.access.claims.scope.to_string(),
        refresh_token: issued.refresh.map(|r| r.token.expose().to_owned()),
    })
}
