//! `grant_type=authorization_code` (RFC 6749 §4.1.3, PKCE per RFC 7636): the code is checked, then
//! spent, then its grant's tokens are issued.
use latchkey_core::client::Client;
use latchkey_core::grant::{self, AuthorizationCodeRequest};
use latchkey_core::types::Timestamp;
use latchkey_store::GrantStore;

use super::{Issued, pairwise_subject, presented, spend};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn issue(
    app: &AppState,
    client: &Client,
    req: &AuthorizationCodeRequest,
    now: Timestamp,
) -> Result<Issued, ApiError> {
    let store = app.store();
    let found = store.find_code(&req.code).await?;
    let code = presented(app, found, |c| &c.client_id, client, "code", now).await?;
    let resource = app.resources().find(code.grant.resource.as_ref()).await?;
    let mut tokens = grant::authorization_code(
        client,
        req,
        &code.record,
        &code.grant,
        resource.as_ref(),
        &app.settings().policy,
        now,
    )?;
    let spent = store.consume_code(&req.code, now).await?;
    spend(app, spent, &code.grant, "code", now).await?;
    pairwise_subject(app, client, &code.grant, &mut tokens);
    let grant_id = Some(code.grant.grant_id.clone());
    let id_token = match code.grant.is_openid() {
        true => Some((code.grant, code.record.nonce)),
        false => None,
    };
    Ok(Issued {
        tokens,
        grant_id,
        issued_token_type: None,
        id_token,
    })
}
