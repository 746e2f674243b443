//! `POST token_endpoint`: RFC 6749 §3.2. The rules live in `latchkey_core::grant`; one file per grant
//! under `token/` loads and decides, this one parses, records, encodes and answers.
mod authorization_code;
mod client_credentials;
mod refresh_token;
mod token_exchange;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::client::Client;
use latchkey_core::grant::{self, Grant, GrantId, TokenRequest};
use latchkey_core::oidc::subject::SubjectType;
use latchkey_core::token::IssuedTokens;
use latchkey_core::types::{ClientId, Timestamp};
use latchkey_store::{GrantStore, Presented, RegistrationStore, TokenStore};
use serde::Serialize;

use crate::error::{ApiError, NoStore};
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
        // RFC 6749 §5.1: responses carrying tokens must not be cached.
        NoStore(Json(self)).into_response()
    }
}

/// What one grant issued, for the shared tail of the endpoint.
pub(super) struct Issued {
    pub(super) tokens: IssuedTokens,
    /// The grant the tokens join, so that revoking it reaches them.
    pub(super) grant_id: Option<GrantId>,
    /// RFC 8693 §2.2.1, for exchanged tokens.
    pub(super) issued_token_type: Option<&'static str>,
    /// The grant and nonce of an ID token to issue alongside (OpenID only).
    pub(super) id_token: Option<(Grant, Option<String>)>,
}

impl Issued {
    /// Tokens that join no grant and carry no ID token.
    fn alone(tokens: IssuedTokens) -> Issued {
        Issued {
            tokens,
            grant_id: None,
            issued_token_type: None,
            id_token: None,
        }
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
    match grant::check_presented(
        found,
        |f| owner(&f.record),
        |f| f.used,
        &client.client_id,
        what,
    )? {
        grant::Presented::Unused(found) => Ok(found),
        grant::Presented::Reused(found) => Err(reused(app, &found.grant.grant_id, what, now).await),
    }
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
    grant::reuse::reused(what).into()
}

pub(crate) async fn token(
    State(app): State<AppState>,
    AuthenticatedClient { client, params, .. }: AuthenticatedClient<TokenEndpoint>,
) -> Result<TokenResponse, ApiError> {
    let now = app.clock().now();
    let request = TokenRequest::parse(&params, &app.settings().features.grant_types)?;
    let grant_type = request.grant_type();
    let issued = match request {
        TokenRequest::ClientCredentials(req) => {
            client_credentials::issue(&app, &client, &req, now).await?
        }
        TokenRequest::AuthorizationCode(req) => {
            authorization_code::issue(&app, &client, &req, now).await?
        }
        TokenRequest::RefreshToken(req) => refresh_token::issue(&app, &client, &req, now).await?,
        TokenRequest::TokenExchange(req) => token_exchange::issue(&app, &client, &req, now).await?,
    };
    record(&app, &client, &issued, now).await?;
    let access = &issued.tokens.access;
    let access_token = app.access_tokens().encode(access).await?;
    // One signature more, only when the grant is an OpenID one.
    let id_token = match issued.id_token {
        Some((grant, nonce)) => Some(
            app.openid()
                .id_token(
                    &client,
                    &grant,
                    access.claims.sub.clone(),
                    nonce,
                    &access_token,
                    now,
                )
                .await?,
        ),
        None => None,
    };
    app.metrics().token_issued(grant_type, access.format);
    Ok(TokenResponse {
        access_token,
        issued_token_type: issued.issued_token_type,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: access.claims.scope.to_string(),
        refresh_token: issued.tokens.refresh.map(|r| r.token.expose().to_owned()),
        id_token,
    })
}

/// Records what was issued before anything is sent: the access token under its grant (so revoking
/// the grant reaches it) with the refresh token in the same transaction, the audit of an exchange, and
/// a self-registered client's first use.
async fn record(
    app: &AppState,
    client: &Client,
    issued: &Issued,
    now: Timestamp,
) -> Result<(), ApiError> {
    let store = app.store();
    let refresh = issued.tokens.refresh.as_ref().map(|r| &r.record);
    match &issued.grant_id {
        Some(grant_id) => {
            let claims = &issued.tokens.access.claims;
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
    if issued.issued_token_type.is_some() {
        app.audit()
            .token_exchanged(&client.client_id, &issued.tokens.access.claims)
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
    Ok(())
}

/// Core §8: a pairwise client's access tokens carry the same `sub` as its ID tokens, so a resource
/// server, introspection and UserInfo all agree with the ID token, and the user id never reaches the
/// client. A public client's `sub` is the user id already.
fn pairwise_subject(app: &AppState, client: &Client, grant: &Grant, issued: &mut IssuedTokens) {
    if client.policy.openid.subject_type != SubjectType::Public {
        issued.access.claims.sub = app.openid().subject(client, &grant.user_id);
    }
}
