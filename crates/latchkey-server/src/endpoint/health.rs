//! `GET /health/live` and `GET /health/ready`: process liveness, and readiness including the database.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_store::HealthStore;
use serde_json::{Value, json};

use crate::http_error::HttpError;
use crate::state::AppState;

pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn ready(State(app): State<AppState>) -> Response {
    match app.store().ping().await {
        Ok(()) => Json(json!({"status": "ok", "database": app.store().backend()})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                format!("the {} database does not answer", app.store().backend()),
            )
            .respond(app.settings().http.error_shape)
        }
    }
}
