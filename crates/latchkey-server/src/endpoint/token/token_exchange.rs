//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
use latchkey_core::OAuthError;
use latchkey_core::client::Client;
use latchkey_core::grant::token_exchange::{ACCESS_TOKEN_TYPE, TokenExchangeRequest};
use latchkey_core::token::IssuedTokens;
use latchkey_core::types::Timestamp;
use latchkey_store::GrantStore;

use super::Issued;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn issue(
    app: &AppState,
    client: &Client,
    req: &TokenExchangeRequest,
    now: Timestamp,
) -> Result<Issued, ApiError> {
    // RFC 8693 §2.2.2: an invalid or inactive subject or actor token is `invalid_request`.
    let tokens = app.access_tokens();
    let subject = tokens
        .active_access_token(&req.subject_token, now)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_request("subject_token is invalid, expired or revoked")
        })?;
    let actor =
        match &req.actor_token {
            Some(token) => Some(tokens.active_access_token(token, now).await?.ok_or_else(
                || OAuthError::invalid_request("actor_token is invalid, expired or revoked"),
            )?),
            None => None,
        };
    let resource = app.resources().find(req.resource.as_ref()).await?;
    let access = latchkey_core::grant::token_exchange(
        client,
        req,
        &subject,
        actor.as_ref(),
        resource.as_ref(),
        &app.settings().policy,
        now,
    )?;
    // M2: the exchanged token joins the subject's grant, so revoking the grant (RFC 7009, reuse
    // detection, deleting the user or client) reaches it too.
    let grant_id = app
        .store()
        .find_grant_of_token(&subject.jti)
        .await?
        .map(|g| g.grant_id);
    Ok(Issued {
        tokens: IssuedTokens {
            access,
            refresh: None,
        },
        grant_id,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        id_token: None,
    })
}
