//! `AuthenticatedClient`: the one client-authentication step every endpoint that authenticates
//! clients uses (RFC 6749 §2.3), reading the `Authorization` header and the form together.
use axum::extract::{FromRequest, Request};
use axum::http::header;
use latchkey_core::OAuthError;
use latchkey_core::client::Client;
use latchkey_core::client_auth::{authenticate, parse_credentials};
use latchkey_core::params::Params;
use std::sync::Arc;

use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::state::AppState;

/// An authenticated client and the rest of its request's parameters (credentials removed).
pub(crate) struct AuthenticatedClient {
    pub(crate) client: Arc<Client>,
    pub(crate) params: Params,
}

impl FromRequest<AppState> for AuthenticatedClient {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let authorization = match req.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| {
                        OAuthError::invalid_client("the Authorization header is not valid ASCII")
                    })?
                    .to_owned(),
            ),
        };
        let OAuthForm(mut params) = OAuthForm::from_request(req, state).await?;
        let presented = parse_credentials(authorization.as_deref(), &mut params)?;
        let registered = state
            .registry()
            .client(state.store(), &presented.client_id)
            .await?;
        let client = authenticate(registered, &presented)?;
        Ok(AuthenticatedClient { client, params })
    }
}
