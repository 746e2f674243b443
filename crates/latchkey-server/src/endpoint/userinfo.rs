//! `GET`/`POST userinfo_endpoint`: OpenID Connect Core §5.3. The access token comes as a Bearer
//! token (RFC 6750 §2.1) or, on POST, in the form body (§2.2); the answer is the user's released
//! claims with the `sub` of the client's ID tokens, as JSON or, when the client registered
//! `userinfo_signed_response_alg`, as a signed JWT (§5.3.2).
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::oidc::OPENID_SCOPE;
use latchkey_core::oidc::claims::{self, Destination};
use latchkey_core::params::Params;
use latchkey_core::{ErrorCode, OAuthError};
use latchkey_store::{GrantStore, UserStore};
use serde_json::{Value, json};

use crate::error::{ApiError, NoStore};
use crate::extract::bearer::{NotBearer, bearer};
use crate::state::AppState;

pub(crate) async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<NoStore<Response>, ApiError> {
    let token = presented_token(&method, &headers, &body)?;
    let now = app.clock().now();
    let access = app
        .access_tokens()
        .active_access_token(&token, now)
        .await?
        .ok_or_else(invalid_token)?;
    if !access.scope.contains(OPENID_SCOPE) {
        return Err(ApiError::Resource(
            Some(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token was not issued with the openid scope",
            )),
            Some(OPENID_SCOPE),
        ));
    }
    // The grant says who the user is (a pairwise `sub` cannot be reversed) and what they asked for.
    let grant = app
        .store()
        .find_grant_of_token(&access.jti)
        .await?
        .filter(|g| g.revoked_at.is_none() && g.is_openid())
        .ok_or_else(invalid_token)?;
    // N-L2: UserInfo is a resource like any other (RFC 9700 §2.3): a token issued for another resource
    // (or exchanged by another client) is not one for UserInfo, whatever scope it carries.
    if !for_userinfo(&app, &access.aud) || access.client_id != grant.client_id {
        return Err(invalid_token());
    }
    let user = app
        .store()
        .find_user(&grant.user_id)
        .await?
        .ok_or_else(invalid_token)?;
    let client = app
        .clients()
        .token_client(&access.client_id)
        .await?
        .ok_or_else(invalid_token)?;
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
    let response = match client.policy.openid.userinfo_signed_response_alg {
        // §5.3.2: a signed response carries iss and aud besides the claims.
        Some(alg) => {
            body.insert("iss".into(), json!(app.settings().features.issuer.as_str()));
            body.insert("aud".into(), json!(client.client_id));
            let jwt = app.openid().sign(&Value::Object(body), alg).await?;
            let mut r = jwt.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            r
        }
        None => Json(Value::Object(body)).into_response(),
    };
    Ok(NoStore(response))
}

/// Whether an access token's audience is UserInfo's: the default audience, the issuer or the UserInfo
/// URL itself.
fn for_userinfo(app: &AppState, aud: &str) -> bool {
    let settings = app.settings();
    aud == settings.policy.default_audience
        || aud == settings.features.issuer.as_str()
        || settings
            .features
            .openid
            .as_ref()
            .is_some_and(|o| aud == o.userinfo_endpoint)
}

/// RFC 6750 §3.1 `invalid_token`: unknown, expired, revoked, or not bound to a user's grant.
fn invalid_token() -> ApiError {
    ApiError::Resource(
        Some(OAuthError::invalid_token(
            "the access token is invalid, expired or revoked",
        )),
        None,
    )
}

/// The access token, from the `Authorization` header (§2.1) or, on POST, the form body (§2.2); one of
/// the two, never both.
fn presented_token(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let malformed =
        |why: &'static str| ApiError::Resource(Some(OAuthError::invalid_request(why)), None);
    let from_header = match bearer(headers) {
        Some(Ok(token)) => Some(token.to_owned()),
        Some(Err(NotBearer)) => return Err(invalid_token()),
        None => None,
    };
    let from_body = match *method == Method::POST && !body.is_empty() {
        true => Params::parse_urlencoded(body)
            .map_err(|_| malformed("the form body is malformed"))?
            .get("access_token")
            .map(str::to_owned),
        false => None,
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(malformed(
            "send the access token once: in the Authorization header or in the body",
        )),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(ApiError::Resource(None, None)),
    }
}
