//! `POST authorization_endpoint/login`: the sign-in form of the authorization flow. A person proves
//! who they are with a password (Argon2id), gets a fresh session, and the flow continues.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use latchkey_core::params::Params;
use latchkey_core::password::Password;
use latchkey_core::secret::{SecretHash, random_base64url};
use latchkey_core::throttle::{Outcome, Refusal};
use latchkey_core::user::Username;
use latchkey_store::{Session, SessionStore, UserStore};

use super::authorize::{PAGE_FIELDS, UserCheck, finish, load_request, next_step};
use crate::pages::Stop;
use crate::pages::login::{LoginNotice, login_page};
use crate::pages::visit::{SignedIn, Visit};
use crate::services::client_address::ClientAddress;
use crate::services::metrics::LoginResult;
use crate::state::AppState;

pub(crate) async fn login(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (mut visit, form) = match Visit::submitted(&app, &headers, address, &body).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let result = sign_in(&app, &mut visit, &form, &address).await;
    finish(&app, &visit, result)
}

async fn sign_in(
    app: &AppState,
    visit: &mut Visit,
    form: &Params,
    address: &ClientAddress,
) -> Result<Response, Stop> {
    let params = form.without(&PAGE_FIELDS);
    let request = load_request(app, visit, &params).await?;
    let username = form.get("username").unwrap_or("").to_owned();
    let password = Password::new(form.get("password").unwrap_or("").to_owned());
    let now = app.clock().now();
    let client_id = &request.client.client_id;
    let ip = address.ip().to_string();
    // Reserved (and counted as a failure) before anything is checked; see `throttle`.
    let (attempt, wait) = match app.lockout().reserve(&username, address).await? {
        Ok(reserved) => reserved,
        Err(refusal) => {
            if refusal == Refusal::Locked {
                app.metrics().login(LoginResult::Locked);
                app.audit().sign_in_locked(client_id, &ip).await;
            }
            let notice = Some(match refusal {
                Refusal::Locked => LoginNotice::Locked,
                Refusal::Busy => LoginNotice::Busy,
            });
            return Ok(login_page(app, visit, &request, &params, notice, &username));
        }
    };
    tokio::time::sleep(wait).await;
    let user = match Username::parse(&username) {
        Ok(name) => app.store().find_user_by_username(&name).await?,
        Err(_) => None,
    };
    let known = user.as_ref().map(|u| u.user_id.clone());
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = app
        .passwords()
        .verify(password, stored)
        .await
        .then_some(user)
        .flatten();
    let Some(user) = verified else {
        attempt.settle(Outcome::Failure).await?;
        app.metrics().login(LoginResult::Failure);
        app.audit()
            .sign_in(Err(known.as_deref()), client_id, &ip)
            .await;
        let notice = Some(LoginNotice::BadCredentials);
        return Ok(login_page(app, visit, &request, &params, notice, &username));
    };
    attempt.settle(Outcome::Success).await?;
    app.metrics().login(LoginResult::Success);
    app.audit().sign_in(Ok(&user.user_id), client_id, &ip).await;
    // A new session id at every sign-in, so a session id planted before it (fixation) is worthless.
    if let Some((old, _, _)) = visit.session.take() {
        app.store().delete_session(&old).await?;
    }
    let secret = random_base64url(32);
    let ttl = app.settings().login.session_ttl;
    let sid = random_base64url(16);
    let session = Session {
        user_id: user.user_id.clone(),
        auth_time: now,
        expires_at: now.plus(ttl),
        sid: Some(sid.clone()),
    };
    app.store()
        .insert_session(&SecretHash::of(secret.as_bytes()), &session)
        .await?;
    visit.start_session(app, &secret, ttl);
    let signed_in = SignedIn {
        user,
        auth_time: now,
        sid: Some(sid),
    };
    next_step(
        app,
        visit,
        &request,
        &params,
        Some(signed_in),
        UserCheck::Due,
    )
    .await
}
