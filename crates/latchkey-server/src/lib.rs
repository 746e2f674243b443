//! Latchkey's HTTP server: thin axum handlers over `latchkey_core` (the rules) and `latchkey_store`
//! (the data). Handlers extract, parse, load, decide, persist and respond; nothing else.
//!
//! Four floors, each using only those below it:
//! - **web**: `router` (the route table), `edge` (the outermost middleware, rate limits),
//!   `listener` (the connection loop), `tasks` (periodic jobs), `endpoint`, `pages`, `extract`;
//! - **state**: `state::AppState`, the composition root, which builds every service once and holds it;
//! - **services**: `services::*`, each built with exactly what it needs (store, clock, its slice of the
//!   settings, other services by handle) and never handed the state (`services::layering` checks);
//! - **settings**: `settings` (plain data), `error` and `http_error` (errors to HTTP, in one place).
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

mod edge;
mod endpoint;
pub mod error;
mod extract;
pub mod http_error;
mod listener;
pub mod openapi;
mod pages;
pub mod router;
pub mod services;
pub mod settings;
pub mod state;
mod tasks;

pub use pages::i18n::Locale;
// The services the binary builds settings for and calls (the CLI shares the keyring and the fetcher).
pub use endpoint::metrics::serve as serve_metrics;
pub use services::{audit, client_address, clock, fetch, keyring, metrics, rate_limit, throttle};
pub use settings::{AuditSettings, MetricsSettings, Settings};
pub use state::AppState;

/// Serves `state` on an already-bound listener until `shutdown` resolves, then drains open requests.
///
/// Taking a bound listener lets tests bind `127.0.0.1:0` and learn the port before serving, and lets
/// the binary report a bind failure before anything else starts.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tasks = tasks::Tasks::start(&state);
    let limits = state.settings().http.clone();
    let result = listener::accept(listener, router::router(state.clone()), &limits, shutdown).await;
    tasks.stop().await;
    // Records of the last requests reach the database before the store closes.
    tokio::time::timeout(Duration::from_secs(5), state.audit().flush())
        .await
        .ok();
    result
}
