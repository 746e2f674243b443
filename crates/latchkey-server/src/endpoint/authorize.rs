//! `GET authorization_endpoint`: RFC 6749 §4.1.1-4.1.2. The rules live in
//! `latchkey_core::authorize`; this file loads the request, decides which step comes next (sign in,
//! consent, or the code) and does the I/O. The login and consent forms (`login.rs`, `consent.rs`)
//! come back through the same steps.
//!
//! The authorization request travels through the forms as hidden fields and is validated again on
//! every step, so there is no server-side interaction state to expire, leak or be swapped.
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use latchkey_core::OAuthError;
use latchkey_core::authorize::{
    AuthorizationRequest, AuthorizeError, OpenIdDefaults, requested_client_id,
};
use latchkey_core::grant::authorization_code::issue_code;
use latchkey_core::params::Params;
use latchkey_store::{GrantStore, SessionStore};

use crate::pages::bounce;
use crate::pages::consent::consent_page;
use crate::pages::login::login_page;
use crate::pages::visit::{SignedIn, Visit};
use crate::pages::{self, Stop};
use crate::services::client_address::ClientAddress;
use crate::state::AppState;

/// Form fields that belong to the pages, not to the authorization request.
pub(crate) const PAGE_FIELDS: [&str; 5] = [
    "csrf_token",
    "consent_binding",
    "username",
    "password",
    "decision",
];

pub(crate) async fn authorize(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    request(
        app,
        address,
        headers,
        query.unwrap_or_default().as_bytes(),
        false,
    )
    .await
}

/// `POST authorization_endpoint` with the request form-encoded in the body: OpenID Connect Core
/// §3.1.2.1 requires the authorization endpoint to take POST as well as GET. A relying party's POST
/// is cross-site and comes without the session cookie, so it is bounced once through a page of this
/// origin first (N-M1, `pages::bounce`).
pub(crate) async fn authorize_post(
    State(app): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    request(app, address, headers, &body, true).await
}

async fn request(
    app: AppState,
    address: ClientAddress,
    headers: HeaderMap,
    encoded: &[u8],
    post: bool,
) -> Response {
    // Partly: whether an undecodable parameter is shown or sent back depends on the client.
    let params = Params::parse_urlencoded_partly(encoded);
    let ui_locales = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("ui_locales").map(str::to_owned));
    let visit = match Visit::new(&app, &headers, address, ui_locales.as_deref()).await {
        Ok(visit) => visit,
        Err(e) => return Stop::from(e).respond(&app, None),
    };
    let bounce = match (&params, post) {
        (Ok(params), true) => bounce::needed(&app, &visit, params),
        _ => bounce::Bounce::No,
    };
    let result = match params {
        Ok(params) if bounce != bounce::Bounce::No => {
            // Checked first, so an error shows at once; the page may then lead to the client.
            load_request(&app, &visit, &params).await.map(|request| {
                let action = pages::authorization_path(&app);
                let target = Some(request.redirect_uri.as_str());
                bounce::bounce_page(&app, &visit, action, &params, target, bounce)
            })
        }
        Ok(params) => {
            // The bounce marker is no parameter of the request (a forged one bounces no further).
            let params = params.without(&[bounce::FIELD]);
            show(&app, &visit, &params).await
        }
        Err(e) => Err(Stop::Page(e)),
    };
    finish(&app, &visit, result)
}

async fn show(app: &AppState, visit: &Visit, params: &Params) -> Result<Response, Stop> {
    let request = load_request(app, visit, params).await?;
    // prompt=login: sign in again even with a session.
    let mut user = match request.prompt.login {
        true => None,
        false => visit.signed_in_user(),
    };
    // OpenID Connect Core §3.1.2.1: a session older than max_age, or of another person than
    // id_token_hint (or a demanded `sub`) names, counts as no session.
    if let (Some(openid), Some(signed_in)) = (&request.openid, &user) {
        let stale = openid.needs_fresh_login(signed_in.auth_time, app.clock().now());
        if stale || !is_expected_user(app, &request, signed_in)? {
            user = None;
        }
    }
    next_step(app, visit, &request, params, user, UserCheck::Done).await
}

/// Whether `is_expected_user` already passed the signed-in person on this request: it verifies the
/// `id_token_hint` signature and computes the client's `sub`, and needs to run once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserCheck {
    /// Checked on the way here (the request's own session).
    Done,
    /// Someone who signed in or consented on this request: checked before the code is issued.
    Due,
}

/// Whether the signed-in person is the one `id_token_hint` and a `claims` request for a specific
/// `sub` name (Core §3.1.2.1, §5.5.1), comparing with the `sub` this client sees. A hint that is not
/// an ID token this server issued to this client is `invalid_request`.
fn is_expected_user(
    app: &AppState,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
) -> Result<bool, Stop> {
    let Some(openid) = &request.openid else {
        return Ok(true);
    };
    let required_sub = openid.claims.required_sub();
    if openid.id_token_hint.is_none() && required_sub.is_none() {
        return Ok(true);
    }
    let sub = app
        .openid()
        .subject(&request.client, &signed_in.user.user_id);
    if let Some(hint) = &openid.id_token_hint {
        let issuer = app.settings().features.issuer.as_str();
        let claims = app
            .openid()
            .verify_hint(hint)
            .filter(|h| h.client_id() == Some(request.client.client_id.as_str()))
            .ok_or_else(|| {
                let error = OAuthError::invalid_request(
                    "id_token_hint is not an ID token this server issued to this client",
                );
                back(request, error, issuer)
            })?;
        if claims.sub != sub {
            return Ok(false);
        }
    }
    Ok(required_sub.is_none_or(|s| s == sub))
}

/// An error for `request`, sent back to its client.
///
/// # Security
/// RFC 9700 §4.11.2: an error redirect before the person has authenticated makes the server an open
/// redirector for whoever can register a redirect URI. For a client the operator did not create, the
/// error is therefore held on a page naming the target host until someone is signed in (N-M3).
pub(crate) fn back(request: &AuthorizationRequest, error: OAuthError, issuer: &str) -> Stop {
    let location = request.error(error).location(issuer);
    match request.client.operator_created() {
        true => Stop::Redirect(location),
        false => Stop::Leave(location),
    }
}

/// The response of a step: what it produced, or where it stopped.
pub(crate) fn finish(app: &AppState, visit: &Visit, result: Result<Response, Stop>) -> Response {
    match result {
        Ok(response) => response,
        Err(stop) => stop.respond(app, Some(visit)),
    }
}

/// Signed in and approved (now or before)? Then the code; otherwise the page that is missing.
pub(crate) async fn next_step(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    params: &Params,
    signed_in: Option<SignedIn>,
    check: UserCheck,
) -> Result<Response, Stop> {
    let issuer = app.settings().features.issuer.as_str();
    let Some(signed_in) = signed_in else {
        if request.prompt.none {
            let error = OAuthError::login_required("the user is not signed in");
            return Err(back(request, error, issuer));
        }
        return Ok(login_page(app, visit, request, params, None, ""));
    };
    // prompt=consent asks whatever is remembered, so there is nothing to look up. Nor does a
    // `claims` request for claims beyond what the scopes release: remembered consent covers scopes,
    // and those claims were never shown to the person.
    let beyond_scopes = request.openid.as_ref().is_some_and(|o| {
        latchkey_core::oidc::claims::beyond_scopes(&request.scope, &o.claims, &request.client.scope)
    });
    let remembered = match request.prompt.consent || beyond_scopes {
        true => None,
        false => {
            app.store()
                .find_consent(
                    &signed_in.user.user_id,
                    &request.client.client_id,
                    request.resource.as_ref(),
                )
                .await?
        }
    };
    if remembered.is_some_and(|s| request.scope.is_subset(&s)) {
        return issue(app, visit, request, &signed_in, check).await;
    }
    if request.prompt.none {
        let error = OAuthError::consent_required("the user has not approved this request");
        return Err(back(request, error, issuer));
    }
    Ok(consent_page(app, visit, request, params, &signed_in))
}

/// The authorization code, sent back to the client.
pub(crate) async fn issue(
    app: &AppState,
    visit: &Visit,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
    check: UserCheck,
) -> Result<Response, Stop> {
    let settings = app.settings();
    // Whoever signed in on the way, the code is only for the person the request names.
    if check == UserCheck::Due && !is_expected_user(app, request, signed_in)? {
        let error = OAuthError::login_required(
            "the signed-in user is not the one id_token_hint or claims names",
        );
        let location = request
            .error(error)
            .location(settings.features.issuer.as_str());
        return Err(Stop::Redirect(location));
    }
    let issued = issue_code(
        request,
        &signed_in.user.user_id,
        signed_in.auth_time,
        signed_in.sid.as_deref(),
        &settings.policy,
        app.clock().now(),
    );
    app.store()
        .insert_code(&issued.grant, &issued.record)
        .await?;
    let location =
        request.success_location(issued.code.expose(), settings.features.issuer.as_str());
    Ok(pages::redirect(&location, &visit.cookies))
}

/// Parses and checks the authorization request against its client, as it is now.
pub(crate) async fn load_request(
    app: &AppState,
    visit: &Visit,
    params: &Params,
) -> Result<AuthorizationRequest, Stop> {
    let client = match requested_client_id(params) {
        Ok(id) => match app.clients().find(&id, &visit.address).await {
            Ok(found) => found.map(|c| (*c).clone()),
            Err(crate::services::clients::LookupError::Store(e)) => return Err(e.into()),
            Err(crate::services::clients::LookupError::Limited) => {
                return Err(Stop::Page(OAuthError::temporarily_unavailable(
                    "too many metadata fetches; try again in a minute",
                )));
            }
            // Nothing is redirected for a client we cannot trust (RFC 6749 §4.1.2.1).
            Err(crate::services::clients::LookupError::Document(why)) => {
                return Err(Stop::Page(OAuthError::invalid_request(format!(
                    "the client's metadata document is not usable: {why}"
                ))));
            }
        },
        Err(AuthorizeError::Page(e)) => return Err(Stop::Page(e)),
        Err(AuthorizeError::Redirect(r)) => {
            return Err(Stop::Internal(format!("unexpected redirect: {}", r.error)));
        }
    };
    let issuer = app.settings().features.issuer.as_str();
    let openid = app.settings().openid.as_ref().map(|o| OpenIdDefaults {
        require_pkce_for_confidential_clients: o.require_pkce_for_confidential_clients,
    });
    let trusted = client.as_ref().is_none_or(|c| c.operator_created());
    let mut request =
        AuthorizationRequest::parse_openid(params, client, openid).map_err(|e| match e {
            AuthorizeError::Page(e) => Stop::Page(e),
            AuthorizeError::Redirect(r) if trusted => Stop::Redirect(r.location(issuer)),
            AuthorizeError::Redirect(r) => Stop::Leave(r.location(issuer)),
        })?;
    // A client registered with an authentication method the policy has since turned off would have a
    // person sign in and consent for a code it can never redeem: it is refused here, before anyone is
    // asked anything (its redirect URI is registered, so the error goes back to it).
    if let Err(off) = app.settings().features.check_client(&request.client) {
        let error = OAuthError::unauthorized_client(off.description().to_owned());
        return Err(back(&request, error, issuer));
    }
    // RFC 8707: the resource must be configured and allowed to the client; the scope is fitted to it.
    if request.resource.is_some() {
        let registered = app.resources().find(request.resource.as_ref()).await?;
        let target = latchkey_core::resource::target(
            &request.client,
            request.resource.as_ref(),
            registered.as_ref(),
            &request.scope,
            params.get("scope").is_some(),
            &app.settings().policy,
        )
        .map_err(|e| back(&request, e, issuer))?;
        request.scope = target.scope;
        // A resource whose scopes leave `openid` out makes this a plain OAuth request: no ID token,
        // and the nonce can no longer stand in for PKCE (OAuth 2.1 §7.5.1 allows that only for
        // OpenID requests).
        if request.openid.is_some() && !request.scope.contains(latchkey_core::oidc::OPENID_SCOPE) {
            request.openid = None;
            if request.code_challenge.is_none() {
                let error = OAuthError::invalid_request(
                    "code_challenge is required: the resource's scopes leave openid out",
                );
                return Err(back(&request, error, issuer));
            }
        }
    }
    Ok(request)
}
