//! `grant_type=client_credentials` (RFC 6749 §4.4): a token for the client itself.
use latchkey_core::client::Client;
use latchkey_core::grant::{self, ClientCredentialsRequest};
use latchkey_core::token::IssuedTokens;
use latchkey_core::types::Timestamp;

use super::Issued;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn issue(
    app: &AppState,
    client: &Client,
    req: &ClientCredentialsRequest,
    now: Timestamp,
) -> Result<Issued, ApiError> {
    // A JWT needs nothing written: this path reads at most the resource.
    let resource = app.resources().find(req.resource.as_ref()).await?;
    let access = grant::client_credentials(
        client,
        req,
        resource.as_ref(),
        app.settings()
            .registration
            .as_ref()
            .and_then(|r| r.client_credentials_resources.as_deref()),
        &app.settings().policy,
        now,
    )?;
    Ok(Issued::alone(IssuedTokens {
        access,
        refresh: None,
    }))
}
