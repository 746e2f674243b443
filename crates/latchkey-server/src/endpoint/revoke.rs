//! `POST revocation_endpoint`: RFC 7009. Revoking a refresh token ends its grant and the access
//! tokens issued from it; a revoked access token goes on the deny-list until it would have expired.
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_store::{GrantStore, TokenStore};

use crate::error::{ApiError, NoStore};
use crate::extract::client_auth::{AuthenticatedClient, RevocationEndpoint};
use crate::state::AppState;

enum Kind {
    Access,
    Refresh,
}

pub(crate) async fn revoke(
    State(app): State<AppState>,
    AuthenticatedClient { client, params, .. }: AuthenticatedClient<RevocationEndpoint>,
) -> Result<Response, ApiError> {
    let token = params.require("token")?;
    let now = app.clock().now();
    let not_yours = || {
        ApiError::from(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ))
    };
    // RFC 7009 §2.1: `token_type_hint` only orders the search; an unknown hint is ignored.
    let mut kinds = [Kind::Access, Kind::Refresh];
    if params.get("token_type_hint") == Some("refresh_token") {
        kinds.reverse();
    }
    let mut found = crate::services::metrics::Revoked::Unknown;
    for kind in kinds {
        match kind {
            Kind::Access => {
                if let Some(claims) = app.access_tokens().active_access_token(token, now).await? {
                    if claims.client_id != client.client_id {
                        return Err(not_yours());
                    }
                    app.store().revoke_jti(&claims.jti, claims.exp).await?;
                    app.revocations().revoked();
                    found = crate::services::metrics::Revoked::AccessToken;
                    break;
                }
            }
            Kind::Refresh => {
                if let Some(state) = app.access_tokens().refresh_token(token).await? {
                    if state.record.client_id != client.client_id {
                        return Err(not_yours());
                    }
                    app.store()
                        .revoke_grant(&state.record.grant_id, now)
                        .await?;
                    app.revocations().revoked();
                    app.audit().refresh_token_revoked(&state).await;
                    found = crate::services::metrics::Revoked::RefreshToken;
                    break;
                }
            }
        }
    }
    app.metrics().revocation(found);
    // RFC 7009 §2.2: 200 also for tokens that are unknown or already invalid.
    Ok(NoStore(StatusCode::OK).into_response())
}
