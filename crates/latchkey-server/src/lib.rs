//! Latchkey's HTTP server: thin axum handlers over `latchkey_core` (the rules) and `latchkey_store`
//! (the data). Handlers extract, parse, load, decide, persist and respond; nothing else.
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod audit;
pub mod client_address;
pub mod clock;
mod endpoint;
pub mod error;
mod extract;
pub mod fetch;
pub mod http_error;
pub mod keyring;
pub mod metrics;
mod oidc;
pub mod openapi;
mod pages;
mod passwords;
pub mod rate_limit;
pub mod registry;
pub mod router;
pub mod state;
pub mod throttle;
mod tokens;

pub use pages::i18n::Locale;
pub use state::{AppState, AuditSettings, MetricsSettings, Settings};

/// Serves `state` on an already-bound listener until `shutdown` resolves, then drains open requests.
///
/// Taking a bound listener lets tests bind `127.0.0.1:0` and learn the port before serving, and lets
/// the binary report a bind failure before anything else starts.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let refresher = tokio::spawn(keyring::refresh_periodically(
        state.clone(),
        stop_rx.clone(),
    ));
    let pruner = tokio::spawn(prune_periodically(state.clone(), stop_rx.clone()));
    let sweeper = tokio::spawn(sweep_periodically(state.clone(), stop_rx.clone()));
    let watcher = tokio::spawn(registry::watch(state.clone(), stop_rx));
    let state_for_flush = state.clone();
    let app = router::router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    stop_tx.send(true).ok();
    // Records of the last requests reach the database before the store closes.
    tokio::time::timeout(Duration::from_secs(5), state_for_flush.audit().flush())
        .await
        .ok();
    // The refresher only sleeps and reloads; waiting briefly for it keeps shutdown orderly.
    tokio::time::timeout(Duration::from_secs(1), refresher)
        .await
        .ok();
    tokio::time::timeout(Duration::from_secs(1), pruner)
        .await
        .ok();
    tokio::time::timeout(Duration::from_secs(1), watcher)
        .await
        .ok();
    tokio::time::timeout(Duration::from_secs(1), sweeper)
        .await
        .ok();
    result
}

/// Drops rate-limit keys whose budget is whole again, so the limiters hold only the keys in use.
async fn sweep_periodically(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(rate_limit::SWEEP_EVERY) => state.rate_limits().sweep(),
            _ = stop.changed() => return,
        }
    }
}

/// Deletes expired deny-list entries, opaque tokens, codes, sessions and login counters every ten
/// minutes. Entries stay a minute past their expiry, the clock leeway verifiers are allowed.
async fn prune_periodically(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    use latchkey_store::TokenStore;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.changed() => return,
        }
        let now = state.clock().now();
        match state.store().prune(now.minus(60)).await {
            Ok(removed) => tracing::debug!(removed, "pruned expired tokens and sessions"),
            Err(e) => tracing::warn!(error = %e, "pruning expired tokens failed"),
        }
        // Failed-login counters and event windows with nothing left to remember; the request path
        // never sweeps them.
        let throttle = state.settings().login.throttle;
        let horizon = throttle
            .account
            .lock_seconds
            .max(throttle.address.lock_seconds);
        let this_minute = latchkey_core::types::Timestamp(now.0 - now.0.rem_euclid(60));
        match latchkey_store::ThrottleStore::prune_throttle(
            state.store(),
            now.minus(horizon),
            now,
            this_minute,
        )
        .await
        {
            Ok(removed) => tracing::debug!(removed, "pruned expired login counters"),
            Err(e) => tracing::warn!(error = %e, "pruning login counters failed"),
        }
        let before_ms = state.clock().now_ms().saturating_sub(
            i64::try_from(state.settings().audit.retention.as_millis()).unwrap_or(i64::MAX),
        );
        match latchkey_store::AuditStore::prune_audit(state.store(), before_ms).await {
            Ok(removed) => tracing::debug!(removed, "pruned audit records past their retention"),
            Err(e) => tracing::warn!(error = %e, "pruning audit records failed"),
        }
        if let Some(registration) = &state.settings().registration {
            use latchkey_store::RegistrationStore;
            let before = now.minus(registration.unused_client_ttl);
            match state.store().prune_unused_clients(before).await {
                Ok(removed) => tracing::debug!(removed, "deleted registered clients never used"),
                Err(e) => tracing::warn!(error = %e, "deleting unused registered clients failed"),
            }
        }
    }
}
