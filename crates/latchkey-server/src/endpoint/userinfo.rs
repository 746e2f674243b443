//! `GET`/`POST userinfo_endpoint`: OpenID Connect Core §5.3. The access token comes as a Bearer
//! token (RFC 6750 §2.1) or, on POST, in the form body (§2.2); the answer is the user's released
//! claims with the `sub` of the client's ID tokens, as JSON or, when the client registered
//! `userinfo_signed_response_alg`, as a signed JWT (§5.3.2).
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::oidc::OPENID_SCOPE;
use latchkey_core::oidc::claims::{self, Destination};
use latchkey_core::params::Params;
use latchkey_store::{GrantStore, UserStore};
use serde_json::{Value, json};

use crate::error::InternalCause;
use crate::state::AppState;

/// Why the request fails, in RFC 6750 §3.1's words.
enum Refusal {
    /// No token at all: a bare challenge (§3.1: no error code when the request has no credentials).
    NoToken,
    /// Two ways of sending the token, or a malformed body.
    InvalidRequest(&'static str),
    /// Unknown, expired, revoked, or not bound to a user's grant.
    InvalidToken,
    /// The token lacks `openid`.
    InsufficientScope,
    /// The server failed.
    Internal(String),
    /// The database cannot serve right now (503, as on every other endpoint).
    Unavailable(String),
}

pub(crate) async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&app, &method, &headers, &body).await {
        Ok(response) => response,
        Err(refusal) => refuse(refusal),
    }
}

async fn answer(
    app: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| Refusal::InvalidToken)?;
            match value.trim().split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(Refusal::InvalidToken),
            }
        }
        None => None,
    };
    let from_body = match *method == Method::POST && !body.is_empty() {
        true => Params::parse_urlencoded(body)
            .map_err(|_| Refusal::InvalidRequest("the form body is malformed"))?
            .get("access_token")
            .map(str::to_owned),
        false => None,
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(Refusal::InvalidRequest(
                "send the access token once: in the Authorization header or in the body",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(Refusal::NoToken),
    };
    let now = app.clock().now();
    let internal = |e: latchkey_store::StoreError| match e {
        latchkey_store::StoreError::Unavailable(_) => Refusal::Unavailable(e.to_string()),
        e => Refusal::Internal(e.to_string()),
    };
    let access = app
        .access_tokens()
        .active_access_token(&token, now)
        .await
        .map_err(internal)?
        .ok_or(Refusal::InvalidToken)?;
    if !access.scope.contains(OPENID_SCOPE) {
        return Err(Refusal::InsufficientScope);
    }
    // The grant says who the user is (a pairwise `sub` cannot be reversed) and what they asked for.
    let grant = app
        .store()
        .find_grant_of_token(&access.jti)
        .await
        .map_err(internal)?
        .filter(|g| g.revoked_at.is_none() && g.is_openid())
        .ok_or(Refusal::InvalidToken)?;
    let user = app
        .store()
        .find_user(&grant.user_id)
        .await
        .map_err(internal)?
        .ok_or(Refusal::InvalidToken)?;
    let client = app
        .clients()
        .token_client(&access.client_id)
        .await
        .map_err(internal)?
        .ok_or(Refusal::InvalidToken)?;
    let names = claims::released(
        &access.scope,
        grant.claims.as_ref(),
        Destination::UserInfo,
        &client.scope,
    );
    let mut body = serde_json::Map::new();
    body.insert(
        "sub".into(),
        json!(app.openid().subject(&client, &user.user_id)),
    );
    body.extend(claims::select(&user, &names));
    let mut response = match client.policy.openid.userinfo_signed_response_alg {
        // §5.3.2: a signed response carries iss and aud besides the claims.
        Some(alg) => {
            body.insert("iss".into(), json!(app.settings().features.issuer.as_str()));
            body.insert("aud".into(), json!(client.client_id));
            let jwt = app
                .openid()
                .sign(&Value::Object(body), alg)
                .await
                .map_err(|e| Refusal::Internal(format!("{e:?}")))?;
            let mut r = jwt.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            r
        }
        None => Json(Value::Object(body)).into_response(),
    };
    no_store(&mut response);
    Ok(response)
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 6750 §3: the status, the `WWW-Authenticate` challenge, and the error as JSON.
fn refuse(refusal: Refusal) -> Response {
    if let Refusal::Unavailable(cause) = refusal {
        return crate::error::ApiError::Unavailable(cause.into()).into_response();
    }
    let (status, challenge, body) = match &refusal {
        Refusal::NoToken => (
            StatusCode::UNAUTHORIZED,
            "Bearer".to_owned(),
            json!({"error": "invalid_request", "error_description": "an access token is required"}),
        ),
        Refusal::InvalidRequest(why) => (
            StatusCode::BAD_REQUEST,
            "Bearer error=\"invalid_request\"".to_owned(),
            json!({"error": "invalid_request", "error_description": why}),
        ),
        Refusal::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            "Bearer error=\"invalid_token\"".to_owned(),
            json!({"error": "invalid_token",
                   "error_description": "the access token is invalid, expired or revoked"}),
        ),
        Refusal::InsufficientScope => (
            StatusCode::FORBIDDEN,
            format!("Bearer error=\"insufficient_scope\", scope=\"{OPENID_SCOPE}\""),
            json!({"error": "insufficient_scope",
                   "error_description": "the access token was not issued with the openid scope"}),
        ),
        Refusal::Internal(_) | Refusal::Unavailable(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            String::new(),
            json!({"error": "server_error",
                   "error_description": "the server met an unexpected condition"}),
        ),
    };
    let mut response = (status, Json(body)).into_response();
    if !challenge.is_empty()
        && let Ok(value) = HeaderValue::from_str(&challenge)
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(&mut response);
    if let Refusal::Internal(cause) = refusal {
        response
            .extensions_mut()
            .insert(InternalCause(cause.into()));
    }
    response
}
