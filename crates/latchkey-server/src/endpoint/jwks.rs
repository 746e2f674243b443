//! `GET jwks_uri`: the public signing keys (RFC 7517 §5), including retired keys whose tokens may still
//! be valid.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::state::AppState;

pub(crate) async fn jwks(State(app): State<AppState>, headers: HeaderMap) -> Response {
    app.keys()
        .jwks
        .respond(&headers, app.settings().http.discovery_max_age)
}
