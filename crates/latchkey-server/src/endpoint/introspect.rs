//! `POST introspection_endpoint`: RFC 7662. Who may see what is `latchkey_core::introspection`.
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use latchkey_core::OAuthError;
use latchkey_core::introspection::{self, Active};
use latchkey_core::oidc::subject::SubjectType;
use latchkey_store::UserStore;

use crate::error::{ApiError, NoStore};
use crate::extract::client_auth::{AuthenticatedClient, IntrospectionEndpoint};
use crate::state::AppState;

pub(crate) async fn introspect(
    State(app): State<AppState>,
    AuthenticatedClient { client, params, .. }: AuthenticatedClient<IntrospectionEndpoint>,
) -> Result<Response, ApiError> {
    // RFC 7662 §2.1: the endpoint requires authorisation; a public client proves nothing.
    if client.is_public() {
        return Err(
            OAuthError::invalid_client("introspection requires a confidential client").into(),
        );
    }
    let token = params.require("token")?;
    let now = app.clock().now();
    let found = app.access_tokens().active_token(token, now).await?;
    let body = match found {
        Some(active) if introspection::may_introspect(&client, &active) => {
            let username = match active.user_id() {
                Some(user_id) => app
                    .store()
                    .find_user(user_id)
                    .await?
                    .map(|u| u.username.to_string()),
                None => None,
            };
            let settings = app.settings();
            let mut body = introspection::active(
                &active,
                settings.features.issuer.as_str(),
                &settings.policy.default_audience,
                username.as_deref(),
            );
            // OpenID Connect Core §8: a pairwise client's refresh token answers with the `sub` its
            // ID tokens carry, and never with the username that would correlate it (its access
            // tokens carry the pairwise `sub` already, which names no user here).
            if let Active::Refresh(record, grant) = &active
                && let Some(owner) = app.clients().client(&record.client_id).await?
                && owner.policy.openid.subject_type != SubjectType::Public
            {
                body["sub"] = app.openid().subject(&owner, &grant.user_id).into();
                if let Some(members) = body.as_object_mut() {
                    members.remove("username");
                }
            }
            body
        }
        // Expired, revoked, malformed, unknown, another server's, or not the caller's to see: the
        // same answer, so nothing leaks about tokens the caller may not inspect.
        _ => introspection::inactive(),
    };
    app.metrics().introspection(body["active"] == true);
    Ok(NoStore(Json(body)).into_response())
}
