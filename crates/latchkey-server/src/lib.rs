//! Latchkey's HTTP server: thin axum handlers over `latchkey_core` (the rules) and `latchkey_store`
//! (the data). Handlers extract, parse, load, decide, persist and respond; nothing else.
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod audit;
pub mod cached_json;
pub mod client_address;
pub mod clock;
mod csrf;
mod endpoint;
pub mod error;
mod extract;
pub mod fetch;
pub mod http_error;
pub mod keyring;
mod listener;
pub mod metrics;
mod oidc;
pub mod openapi;
mod pages;
mod passwords;
pub mod rate_limit;
pub mod registry;
pub mod router;
pub mod settings;
pub mod state;
mod tasks;
pub mod throttle;
mod tokens;

pub use pages::i18n::Locale;
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
