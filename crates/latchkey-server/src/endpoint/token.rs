//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; this file only does I/O.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::client::Client;
use latchkey_core::grant::token_exchange::ACCESS_TOKEN_TYPE;
use latchkey_core::grant::{self, Grant, GrantId, TokenRequest};
use latchkey_core::oidc::subject::SubjectType;
use latchkey_core::token::IssuedTokens;
use latchkey_core::types::{ClientId, Timestamp};
use latchkey_store::{GrantStore, Presented, RegistrationStore, TokenStore};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::client_auth::{AuthenticatedClient, TokenEndpoint};
use crate::state::AppState;

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

/// The code or refresh token (`what`) as presented, once it is known to be this client's.
///
/// # Security
/// L2: nothing is spent before every check passed. A code or refresh token presented by another client
/// is refused without a change, so a client that learned someone else's token cannot burn it (and
/// with it, through the reuse rule below, the owner's whole grant).
async fn presented<T>(
    app: &AppState,
    found: Option<Presented<T>>,
    owner: impl Fn(&T) -> &ClientId,
    client: &Client,
    what: &str,
    now: Timestamp,
) -> Result<Presented<T>, ApiError> {
    let found = found
        .filter(|f| owner(&f.record) == &client.client_id)
        .ok_or_else(|| OAuthError::invalid_grant(format!("the {what} is invalid")))?;
    if found.used {
        return Err(reused(app, &found.grant.grant_id, what, now).await);
    }
    Ok(found)
}

/// Marks the code or refresh token used, after every check passed; `spent` is the store's answer.
async fn spend(
    app: &AppState,
    spent: bool,
    grant: &Grant,
    what: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    match spent {
        true => Ok(()),
        // Another request used it between our look and our update.
        false => Err(reused(app, &grant.grant_id, what, now).await),
    }
}

/// The reuse rule, for codes and refresh tokens alike: one that comes back after it was used means two
/// parties hold it, and the server cannot tell which is the attacker, so the whole grant is revoked with
/// every token issued from it (RFC 6749 §4.1.2 for codes, OAuth 2.1 §4.3.1 for rotated refresh tokens).
async fn reused(app: &AppState, grant_id: &GrantId, what: &str, now: Timestamp) -> ApiError {
    if let Err(e) = app.store().revoke_grant(grant_id, now).await {
        return e.into();
    }
    app.revocations().revoked();
    app.audit().reuse_detected(what, grant_id).await;
    OAuthError::invalid_grant(format!(
        "the {what} was already used; its grant and the tokens issued from it are revoked"
    ))
    .into()
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
            let resource = app.resources().find(req.resource.as_ref()).await?;
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
            let found = store.find_code(&req.code).await?;
            let code = presented(&app, found, |c| &c.client_id, &client, "code", now).await?;
            let resource = app.resources().find(code.grant.resource.as_ref()).await?;
            let mut issued = grant::authorization_code(
                &client,
                &req,
                &code.record,
                &code.grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            let spent = store.consume_code(&req.code, now).await?;
            spend(&app, spent, &code.grant, "code", now).await?;
            grant_id = Some(code.grant.grant_id.clone());
            pairwise_subject(&app, &client, &code.grant, &mut issued);
            if code.grant.is_openid() {
                openid = Some((code.grant, code.record.nonce));
            }
            issued
        }
        TokenRequest::RefreshToken(req) => {
            let found = store.find_refresh_token(&req.refresh_token).await?;
            let token =
                presented(&app, found, |t| &t.client_id, &client, "refresh token", now).await?;
            let resource = app.resources().find(token.grant.resource.as_ref()).await?;
            let mut issued = grant::refresh_token(
                &client,
                &req,
                &token.record,
                &token.grant,
                resource.as_ref(),
                policy,
                now,
            )?;
            let spent = store.use_refresh_token(&req.refresh_token, now).await?;
            spend(&app, spent, &token.grant, "refresh token", now).await?;
            grant_id = Some(token.grant.grant_id.clone());
            // Core §12.2: a refresh of an OpenID grant brings a new ID token, unless the client
            // narrowed the scope to leave `openid` out; never a nonce.
            pairwise_subject(&app, &client, &token.grant, &mut issued);
            if token.grant.is_openid() {
                let asked_openid = req
                    .scope
                    .as_ref()
                    .is_none_or(|s| s.contains(latchkey_core::oidc::OPENID_SCOPE));
                if asked_openid {
                    openid = Some((token.grant, None));
                }
            }
            issued
        }
        TokenRequest::TokenExchange(req) => {
            // RFC 8693 §2.2.2: an invalid or inactive subject or actor token is `invalid_request`.
            let subject = app
                .access_tokens()
                .active_access_token(&req.subject_token, now)
                .await?
                .ok_or_else(|| {
                    OAuthError::invalid_request("subject_token is invalid, expired or revoked")
                })?;
            let actor = match &req.actor_token {
                Some(token) => Some(
                    app.access_tokens()
                        .active_access_token(token, now)
                        .await?
                        .ok_or_else(|| {
                            OAuthError::invalid_request(
                                "actor_token is invalid, expired or revoked",
                            )
                        })?,
                ),
                None => None,
            };
            let resource = app.resources().find(req.resource.as_ref()).await?;
            let access = grant::token_exchange(
                &client,
                &req,
                &subject,
                actor.as_ref(),
                resource.as_ref(),
                policy,
                now,
            )?;
            // M2: the exchanged token joins the subject's grant, so revoking the grant (RFC 7009,
            // reuse detection, deleting the user or client) reaches it too.
            grant_id = store
                .find_grant_of_token(&subject.jti)
                .await?
                .map(|g| g.grant_id);
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
            let recorded = store
                .record_issued(&claims.jti, grant_id, claims.exp, refresh)
                .await?;
            if !recorded {
                // L3: the grant was revoked while this token was being issued; it is never sent.
                return Err(OAuthError::invalid_grant("the grant was revoked").into());
            }
        }
        None => {
            if let Some(refresh) = refresh {
                store.insert_refresh_token(refresh).await?;
            }
        }
    }
    // Audited once the token is recorded: an exchange refused above (L3) issued nothing.
    if issued_token_type.is_some() {
        app.audit()
            .token_exchanged(&client.client_id, &issued.access.claims)
            .await;
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
    let access_token = app.access_tokens().encode(&issued.access).await?;
    // One signature more, only when the grant is an OpenID one.
    let id_token = match openid {
        Some((grant, nonce)) => Some(
            app.openid()
                .id_token(&client, &grant, nonce, &access_token, now)
                .await?,
        ),
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
        issued.access.claims.sub = app.openid().subject(client, &grant.user_id);
    }
}
