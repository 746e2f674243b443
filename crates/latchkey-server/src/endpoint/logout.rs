//! `GET`/`POST end_session_endpoint`: RP-Initiated Logout 1.0. A relying party sends the person here
//! to end their session at Latchkey; the rules (which client, which redirect) live in
//! `latchkey_core::oidc::logout`.
//!
//! The session ends when the request proves it comes from the person's own relying party (an
//! `id_token_hint` for this session, §2) or the person confirms on the page (§3: otherwise a logout
//! request is a cross-site request anybody can make). Sessions live in the database, so the logout
//! holds on every instance at once.
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use latchkey_core::OAuthError;
use latchkey_core::oidc::id_token::HintClaims;
use latchkey_core::oidc::logout::EndSessionRequest;
use latchkey_core::params::Params;
use latchkey_core::types::ClientId;
use latchkey_store::{GrantStore, SessionStore};

use crate::pages::bounce;
use crate::pages::logout::{Outcome, logout_done, logout_page};
use crate::pages::visit::Visit;
use crate::pages::{self, Stop};
use crate::services::client_address::ClientAddress;
use crate::state::AppState;

/// The request's own parameters, carried through the confirmation form.
const PARAMETERS: [&str; 5] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

pub(crate) async fn logout(
    State(app): State<AppState>,
    address: ClientAddress,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let confirming = method == Method::POST;
    let (visit, params) = if confirming {
        // §2: the request may be a POST from the relying party too; a CSRF token marks our own form.
        let form = Params::parse_urlencoded(&body);
        let from_page = form.as_ref().is_ok_and(|f| f.get("csrf_token").is_some());
        if from_page {
            match Visit::submitted(&app, &headers, address, &body).await {
                Ok(pair) => pair,
                Err(response) => return response,
            }
        } else {
            match visit(&app, &headers, address, form).await {
                Ok(pair) => pair,
                Err(response) => return response,
            }
        }
    } else {
        let params = Params::parse_urlencoded(query.unwrap_or_default().as_bytes());
        match visit(&app, &headers, address, params).await {
            Ok(pair) => pair,
            Err(response) => return response,
        }
    };
    let confirmed = confirming && params.get("csrf_token").is_some();
    // N-M1: a relying party's POST is cross-site and arrives without the session cookie; bounce it
    // through a page of this origin so the session is seen. The bounced POST is then read like the
    // relying party's own request.
    let bounce = match confirming && !confirmed {
        true => bounce::needed(&app, &visit, &params),
        false => bounce::Bounce::No,
    };
    let params = params.without(&[bounce::FIELD]);
    match end_session(&app, &visit, &params, confirmed, bounce).await {
        Ok(response) => response,
        Err(stop) => stop.respond(&app, Some(&visit)),
    }
}

async fn visit(
    app: &AppState,
    headers: &HeaderMap,
    address: ClientAddress,
    params: Result<Params, OAuthError>,
) -> Result<(Visit, Params), Response> {
    let ui_locales = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("ui_locales").map(str::to_owned));
    let visit = Visit::new(app, headers, address, ui_locales.as_deref())
        .await
        .map_err(|e| Stop::from(e).respond(app, None))?;
    match params {
        Ok(params) => Ok((visit, params)),
        Err(e) => Err(Stop::Page(e).respond(app, Some(&visit))),
    }
}

/// The client a logout names (by `client_id` or through its `id_token_hint`), which must be registered.
async fn logging_out_client(
    app: &AppState,
    client_id: Option<&str>,
) -> Result<Option<std::sync::Arc<latchkey_core::client::Client>>, Stop> {
    let Some(id) = client_id else {
        return Ok(None);
    };
    let id = ClientId::parse(id).map_err(Stop::Page)?;
    let client = app.clients().client(&id).await?.ok_or_else(|| {
        Stop::Page(OAuthError::invalid_request(
            "the client_id is not registered here",
        ))
    })?;
    Ok(Some(client))
}

async fn end_session(
    app: &AppState,
    visit: &Visit,
    params: &Params,
    confirmed: bool,
    bounce: bounce::Bounce,
) -> Result<Response, Stop> {
    let request = EndSessionRequest::parse(params);
    let hint: Option<HintClaims> = match &request.id_token_hint {
        Some(text) => Some(app.openid().verify_hint(text).ok_or_else(|| {
            Stop::Page(OAuthError::invalid_request(
                "id_token_hint is not an ID token this server issued",
            ))
        })?),
        None => None,
    };
    let client_id = request
        .client_id(hint.as_ref().and_then(HintClaims::client_id))
        .map_err(Stop::Page)?;
    let client = logging_out_client(app, client_id).await?;
    let back = request.redirect(client.as_deref()).map_err(Stop::Page)?;
    if bounce != bounce::Bounce::No {
        // Checked first, so a bad request shows its error at once.
        let action = logout_action(app);
        let target = back.as_deref();
        return Ok(bounce::bounce_page(
            app, visit, action, params, target, bounce,
        ));
    }
    // N-M3: RFC 9700 §4.11.2. Anyone can register a `post_logout_redirect_uri` for a client the
    // operator did not create, so the user agent goes there on its own only when the request proves
    // it comes from that client (a verified `id_token_hint` issued to it); otherwise the person
    // sees where the link leads and follows it themselves.
    let follow = client
        .as_ref()
        .is_none_or(|c| c.operator_created() || hint.is_some());
    let session = visit.session.as_ref();
    // The hint speaks for this session when it was issued in it, or (an ID token without `sid`) to
    // this session's user.
    let hint_matches = match (&hint, session, &client) {
        (Some(hint), Some((_, session, user)), Some(client)) => match (&hint.sid, &session.sid) {
            (Some(a), Some(b)) => a == b,
            _ => hint.sub == app.openid().subject(client, &user.user_id),
        },
        _ => false,
    };
    let mut cookies = visit.cookies.clone();
    if let Some((hash, _, _)) = session {
        if !(hint_matches || confirmed) {
            let fields = PARAMETERS
                .iter()
                .filter_map(|&name| params.get(name).map(|v| (name.to_owned(), v.to_owned())))
                .collect();
            let name = client.as_ref().map(|c| c.name.clone());
            return Ok(logout_page(
                app,
                visit,
                false,
                name,
                fields,
                back.as_deref(),
            ));
        }
        if confirmed && params.get("decision") != Some("logout") {
            // "Stay signed in": nothing ends, and the relying party is not told otherwise.
            return Ok(logout_page_stayed(app, visit, back, follow));
        }
        app.store().delete_session(hash).await?;
        // Optionally the logging-out client's grants of this session end too, so its refresh
        // tokens stop working; other clients keep theirs (they did not ask to sign out).
        let revoke = app
            .settings()
            .openid
            .as_ref()
            .is_some_and(|o| o.logout_revokes_grants);
        if revoke
            && let Some(client) = &client
            && let Some(sid) = session.and_then(|(_, s, _)| s.sid.as_deref())
        {
            let revoked = app
                .store()
                .revoke_session_grants(sid, &client.client_id, app.clock().now())
                .await?;
            if revoked > 0 {
                app.revocations().revoked();
            }
        }
        cookies.push(
            app.cookies()
                .set_cookie(&app.cookies().session, "", Some(0)),
        );
    }
    // N-M1: without a session nothing ended, so neither the page nor the relying party is told it
    // did: the person reads that nobody was signed in, with the way back as a link.
    let ended = session.is_some();
    match back {
        Some(location) if ended && follow => Ok(pages::redirect(&location, &cookies)),
        back => {
            let outcome = match ended {
                true => Outcome::SignedOut,
                false => Outcome::NotSignedIn,
            };
            let mut page = logout_done(app, visit, outcome, back.as_deref());
            for cookie in cookies.iter().skip(visit.cookies.len()) {
                page.headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie.clone());
            }
            Ok(page)
        }
    }
}

/// Where the logout forms post: the end-session endpoint's path.
fn logout_action(app: &AppState) -> String {
    app.settings()
        .features
        .openid
        .as_ref()
        .map(|o| crate::settings::path_of(&o.end_session_endpoint))
        .unwrap_or_default()
}

/// The person chose to stay signed in: back to the relying party if it named where (by a link when
/// it may not be followed on its own), or the page.
fn logout_page_stayed(
    app: &AppState,
    visit: &Visit,
    back: Option<String>,
    follow: bool,
) -> Response {
    match back {
        Some(location) if follow => pages::redirect(&location, &visit.cookies),
        Some(location) => pages::leave_page(app, Some(visit), &location),
        None => logout_page(app, visit, false, None, Vec::new(), None),
    }
}
