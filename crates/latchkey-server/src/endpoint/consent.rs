//! `POST authorization_endpoint/consent`: the person's answer on the consent page (RFC 6749 §4.1.1:
//! "the authorization server … obtains an authorization decision"). Approve stores the consent and
//! issues the code; deny sends `access_denied` back to the client.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use latchkey_core::OAuthError;
use latchkey_core::params::Params;
use latchkey_core::types::Scope;
use latchkey_store::SessionStore;

use super::authorize::{PAGE_FIELDS, UserCheck, finish, issue, load_request};
use crate::pages::Stop;
use crate::pages::consent::{binds, consent_page};
use crate::pages::login::login_page;
use crate::pages::visit::Visit;
use crate::services::client_address::ClientAddress;
use crate::state::AppState;

pub(crate) async fn consent(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (visit, form) = match Visit::submitted(&app, &headers, address, &body).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let result = decide(&app, &visit, &form).await;
    finish(&app, &visit, result)
}

async fn decide(app: &AppState, visit: &Visit, form: &Params) -> Result<Response, Stop> {
    let params = form.without(&PAGE_FIELDS);
    let request = load_request(app, visit, &params).await?;
    let Some(signed_in) = visit.signed_in_user() else {
        // The session ended between the pages: sign in again, then the consent page comes back.
        return Ok(login_page(app, visit, &request, &params, None, ""));
    };
    let user = &signed_in.user;
    let issuer = app.settings().features.issuer.as_str();
    match form.get("decision") {
        Some("deny") => Err(Stop::Redirect(
            request
                .error(OAuthError::access_denied("the user denied the request"))
                .location(issuer),
        )),
        Some("approve") => {
            let binding = form.get("consent_binding").unwrap_or("");
            let bound = binds(app, visit, &request, &signed_in, binding);
            // N-M5: the GET path's rules hold here too (Core §3.1.2.1). The binding covers
            // `prompt`, `max_age`, `nonce` and the session's `sid` and `auth_time`, and the page is
            // only shown once they are met (after a fresh sign-in for `prompt=login`), so a bound
            // approval met them. Any other approval of a request that demands a fresh sign-in (a
            // page taken from another request) signs in again instead of showing the page.
            let must_sign_in = request.prompt.login
                || request
                    .openid
                    .as_ref()
                    .is_some_and(|o| o.needs_fresh_login(signed_in.auth_time, app.clock().now()));
            if !bound && must_sign_in {
                return Ok(login_page(app, visit, &request, &params, None, ""));
            }
            if !bound {
                // Not what the person saw (M1): ask again, showing what the request means now.
                return Ok(consent_page(app, visit, &request, &params, &signed_in));
            }
            let client_id = &request.client.client_id;
            let resource = request.resource.as_ref();
            let earlier = app
                .store()
                .find_consent(&user.user_id, client_id, resource)
                .await?;
            // A re-approval of scopes already granted (prompt=consent) changes nothing to store.
            if !earlier.as_ref().is_some_and(|e| request.scope.is_subset(e)) {
                let approved: Scope = earlier
                    .iter()
                    .flat_map(|s| s.iter().cloned())
                    .chain(request.scope.iter().cloned())
                    .collect();
                app.store()
                    .save_consent(
                        &user.user_id,
                        client_id,
                        resource,
                        &approved,
                        app.clock().now(),
                    )
                    .await?;
                app.audit()
                    .consent_granted(&user.user_id, client_id, resource, &approved)
                    .await;
            }
            issue(app, visit, &request, &signed_in, UserCheck::Due).await
        }
        _ => Err(Stop::Page(OAuthError::invalid_request(
            "decision must be approve or deny",
        ))),
    }
}
