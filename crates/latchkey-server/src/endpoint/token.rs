//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; this file only does I/O.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::client::Client;
use latchkey_core::grant::token_exchange::ACCESS_TOKEN_TYPE;
use latchkey_core::grant::{self, Grant, TokenRequest};
use latchkey_core::oidc::subject::SubjectType;
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
    /// OpenID Connect Core §3.1.3.3, when the grant's scope holds `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
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
    // The grant and nonce of an ID token to issue alongside (OpenID only).
    let mut openid: Option<(Grant, Option<String>)> = None;
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
            let mut issued = grant::authorization_code(
                &client,
                &req,
                &code,
                &grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            grant_id = Some(grant.grant_id.clone());
            pairwise_subject(&app, &client, &grant, &mut issued);
            if grant.is_openid() {
                openid = Some((grant, code.nonce));
            }
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
            let mut issued = grant::refresh_token(
                &client,
                &req,
                &record,
                &grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            grant_id = Some(grant.grant_id.clone());
            // Core §12.2: a refresh of an OpenID grant brings a new ID token, unless the client
            // narrowed the scope to leave `openid` out; never a nonce.
            pairwise_subject(&app, &client, &grant, &mut issued);
            if grant.is_openid() {
                let asked_openid = req
                    .scope
                    .as_ref()
                    .is_none_or(|s| s.contains(latchkey_core::oidc::OPENID_SCOPE));
                if asked_openid {
                    openid = Some((grant, None));
                }
            }
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
    // One signature more, only when the grant is an OpenID one.
    let id_token = match openid {
        Some((grant, nonce)) => {
            Some(crate::oidc::id_token(&app, &client, &grant, nonce, &access_token, now).await?)
        }
        None => None,
    };
    app.metrics().token_issued(grant_type, issued.access.format);
    Ok(TokenResponse {
        access_token,
        issued_token_type,
        token_type: "Bearer",
        expires_in: issued.access.expires_in,
        scope: issued.access.claims.scope.to_string(),
        refresh_token: issued.refresh.map(|r| r.token.expose().to_owned()),
        id_token,
    })
}

/// Core §8: a pairwise client's access tokens carry the same `sub` as its ID tokens, so a resource
/// server, introspection and UserInfo all agree with the ID token, and the user id never reaches the
/// client. A public client's `sub` is the user id already.
fn pairwise_subject(app: &AppState, client: &Client, grant: &Grant, issued: &mut IssuedTokens) {
    if client.policy.openid.subject_type != SubjectType::Public {
        issued.access.claims.sub = crate::oidc::subject(app, client, &grant.user_id);
    }
}
