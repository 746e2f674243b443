//! `GET /health/live` and `GET /health/ready`: process liveness, and readiness including the database.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_store::HealthStore;
use serde_json::{Value, json};

use crate::state::AppState;

pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match app.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": app.store().backend()})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": app.store().backend()})),
            )
        }
    }
}
