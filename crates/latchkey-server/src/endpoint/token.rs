//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; this file only does I/O.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::grant::token_exchange::ACCESS_TOKEN_TYPE;
use latchkey_core::grant::{self, Grant, TokenRequest};
use latchkey_core::token::IssuedTokens;
use latchkey_core::types::Timestamp;
use latchkey_store::{GrantStore, Redemption, RegistrationStore, TokenStore};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::client_auth::{AuthenticatedClient, TokenEndpoint};
use crate::state::AppState;
use crate::tokens;

/// RFC 6749 §5.1 successful response.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    /// RFC 8693 §2.2.1, for exchanged tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
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

/// What a presented code or refresh token (`what`) yields: the record and its grant when fresh.
///
/// # Security
/// One rule for both: a code or refresh token that comes back after it was used means two parties
/// hold it, and the server cannot tell which is the attacker, so the whole grant is revoked with every
/// token issued from it (RFC 6749 §4.1.2 for codes, OAuth 2.1 §4.3.1 for rotated refresh tokens).
async fn redeem<T>(
    app: &AppState,
    redemption: Redemption<T>,
    what: &str,
    now: Timestamp,
) -> Result<(T, Grant), ApiError> {
    match redemption {
        Redemption::Fresh(record, grant) => Ok((record, grant)),
        Redemption::Reused(grant_id) => {
            app.store().revoke_grant(&grant_id, now).await?;
            app.registry().revoked();
            crate::audit::reuse_detected(app, what, &grant_id).await;
            Err(OAuthError::invalid_grant(format!(
                "the {what} was already used; its grant and the tokens issued from it are revoked"
            ))
            .into())
        }
        Redemption::Unknown => {
            Err(OAuthError::invalid_grant(format!("the {what} is invalid")).into())
        }
    }
}

pub(crate) async fn token(
    State(app): State<AppState>,
    AuthenticatedClient { client, params, .. }: AuthenticatedClient<TokenEndpoint>,
) -> Result<TokenResponse, ApiError> {
    let now = app.clock().now();
    let policy = &app.settings().policy;
    let store = app.store();
    let mut grant_id = None;
    let mut issued_token_type = None;
    let request = TokenRequest::parse(&params, &app.settings().features.grant_types)?;
    let grant_type = request.grant_type();
    let issued = match request {
        TokenRequest::ClientCredentials(req) => {
            // A JWT needs nothing written: this path reads at most the resource.
            let resource = tokens::find_resource(&app, req.resource.as_ref()).await?;
            let access = grant::client_credentials(
                &client,
                &req,
                resource.as_ref(),
                app.settings()
                    .registration
                    .as_ref()
                    .and_then(|r| r.client_credentials_resources.as_deref()),
                policy,
                now,
            )?;
            IssuedTokens {
                access,
                refresh: None,
            }
        }
        TokenRequest::AuthorizationCode(req) => {
            let (code, grant) =
                redeem(&app, store.consume_code(&req.code, now).await?, "code", now).await?;
            let resource = tokens::find_resource(&app, grant.resource.as_ref()).await?;
            let issued = grant::authorization_code(
                &client,
                &req,
                &code,
                &grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            grant_id = Some(grant.grant_id);
            issued
        }
        TokenRequest::RefreshToken(req) => {
            let (record, grant) = redeem(
                &app,
                store.use_refresh_token(&req.refresh_token, now).await?,
                "refresh token",
                now,
            )
            .await?;
            let resource = tokens::find_resource(&app, grant.resource.as_ref()).await?;
            let issued = grant::refresh_token(
                &client,
                &req,
                &record,
                &grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            grant_id = Some(grant.grant_id);
            issued
        }
        TokenRequest::TokenExchange(req) => {
            // RFC 8693 §2.2.2: an invalid or inactive subject or actor token is `invalid_request`.
            let subject = tokens::active_access_token(&app, &req.subject_token, now)
                .await?
                .ok_or_else(|| {
                    OAuthError::invalid_request("subject_token is invalid, expired or revoked")
                })?;
            let actor = match &req.actor_token {
                Some(token) => Some(
                    tokens::active_access_token(&app, token, now)
                        .await?
                        .ok_or_else(|| {
                            OAuthError::invalid_request(
                                "actor_token is invalid, expired or revoked",
                            )
                        })?,
                ),
                None => None,
            };
            let resource = tokens::find_resource(&app, req.resource.as_ref()).await?;
            let access = grant::token_exchange(
                &client,
                &req,
                &subject,
                actor.as_ref(),
                resource.as_ref(),
                policy,
                now,
            )?;
            crate::audit::token_exchanged(&app, &client.client_id, &access.claims).await;
            issued_token_type = Some(ACCESS_TOKEN_TYPE);
            IssuedTokens {
                access,
                refresh: None,
            }
        }
    };
    let refresh = issued.refresh.as_ref().map(|r| &r.record);
    match &grant_id {
        // So that revoking the grant (code reuse, refresh reuse, revocation) reaches this token; the
        // refresh token is stored in the same transaction.
        Some(grant_id) => {
            let claims = &issued.access.claims;
            store
                .record_issued(&claims.jti, grant_id, claims.exp, refresh)
                .await?;
        }
        None => {
            if let Some(refresh) = refresh {
                store.insert_refresh_token(refresh).await?;
            }
        }
    }
    // A self-registered client counts as used once it obtains a token; unused ones expire. One write,
    // the first time only.
    if client
        .policy
        .registration
        .as_ref()
        .is_some_and(|r| r.activated_at.is_none())
    {
        store.activate_client(&client.client_id, now).await?;
    }
    let access_token = tokens::encode(&app, &issued.access).await?;
    app.metrics().token_issued(grant_type, issued.access.format);
    Ok(TokenResponse {
        access_token,
        issued_token_type,
        token_type: "Bearer",
        expires_in: issued.access.expires_in,
        scope: issued.access.claims.scope.to_string(),
        refresh_token: issued.refresh.map(|r| r.token.expose().to_owned()),
    })
}
