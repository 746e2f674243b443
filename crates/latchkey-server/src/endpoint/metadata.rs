//! `GET /.well-known/oauth-authorization-server[/issuer-path]`: RFC 8414 §3.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::state::AppState;

pub(crate) async fn metadata(State(app): State<AppState>, headers: HeaderMap) -> Response {
    app.metadata()
        .respond(&headers, app.settings().http.discovery_max_age)
}
