//! `GET /metrics`: the Prometheus exposition, on the metrics listener (`metrics.listen`) and, with
//! `metrics.public`, on the public one.
use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::services::metrics::Sampled;
use crate::state::AppState;

/// `GET /metrics`: the exposition, with the values read at scrape time.
pub(crate) async fn scrape(State(app): State<AppState>) -> Response {
    let pool = app.store().pool_status();
    let age = app
        .clock()
        .now()
        .0
        .saturating_sub(app.keys().active_created_at.0);
    let text = app.metrics().encode(Sampled {
        db_in_use: pool.in_use,
        db_idle: pool.idle,
        db_max: pool.max,
        db_acquire_timeouts: pool.acquire_timeouts,
        signing_key_age: age.max(0),
        log_lines_dropped: 0,
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

/// The metrics listener's routes: `/metrics` and nothing else.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Serves `/metrics` on its own listener (`metrics.listen`) until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
