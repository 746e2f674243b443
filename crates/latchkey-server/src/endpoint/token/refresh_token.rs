//! `grant_type=refresh_token` (RFC 6749 §6, rotated on every use per OAuth 2.1 §4.3.1).
use latchkey_core::client::Client;
use latchkey_core::grant::{self, RefreshTokenRequest};
use latchkey_core::types::Timestamp;
use latchkey_store::{GrantStore, TokenStore};

use super::{Issued, pairwise_subject, presented, spend};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn issue(
    app: &AppState,
    client: &Client,
    req: &RefreshTokenRequest,
    now: Timestamp,
) -> Result<Issued, ApiError> {
    let store = app.store();
    let found = store.find_refresh_token(&req.refresh_token).await?;
    let token = presented(app, found, |t| &t.client_id, client, "refresh token", now).await?;
    let resource = app.resources().find(token.grant.resource.as_ref()).await?;
    let mut tokens = grant::refresh_token(
        client,
        req,
        &token.record,
        &token.grant,
        resource.as_ref(),
        &app.settings().policy,
        now,
    )?;
    let spent = store.use_refresh_token(&req.refresh_token, now).await?;
    spend(app, spent, &token.grant, "refresh token", now).await?;
    pairwise_subject(app, client, &token.grant, &mut tokens);
    let grant_id = Some(token.grant.grant_id.clone());
    // Core §12.2: a refresh of an OpenID grant brings a new ID token, unless the client narrowed the
    // scope to leave `openid` out; never a nonce.
    let asked_openid = req
        .scope
        .as_ref()
        .is_none_or(|s| s.contains(latchkey_core::oidc::OPENID_SCOPE));
    let id_token = (token.grant.is_openid() && asked_openid).then_some((token.grant, None));
    Ok(Issued {
        tokens,
        grant_id,
        issued_token_type: None,
        id_token,
    })
}
