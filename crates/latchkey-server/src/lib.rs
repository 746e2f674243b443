//! Latchkey's HTTP server: thin axum handlers over `latchkey_core` (the rules) and `latchkey_store`
//! (the data). Handlers extract, parse, load, decide, persist and respond; nothing else.
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod client_address;
pub mod clock;
mod endpoint;
pub mod error;
mod extract;
pub mod fetch;
pub mod http_error;
pub mod keyring;
mod pages;
mod passwords;
pub mod registry;
pub mod router;
pub mod state;
pub mod throttle;
mod tokens;

pub use pages::i18n::Locale;
pub use state::{AppState, Settings};

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
    let watcher = tokio::spawn(registry::watch(state.clone(), stop_rx));
    let app = router::router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    stop_tx.send(true).ok();
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
    result
}

/// Deletes expired deny-list entries, opaque tokens, codes, sessions and login counters every ten
/// minutes. Entries stay
/// a minute past their expiry, the clock leeway verifiers are allowed.
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
        if let Some(documents) = &state.settings().client_id_documents {
            use latchkey_store::RegistrationStore;
            // A document client's row outlives its cache entry only while a grant or consent needs it.
            let before = now.minus(documents.max_cache.as_secs());
            match state.store().prune_document_clients(before).await {
                Ok(removed) => tracing::debug!(removed, "deleted unused document clients"),
                Err(e) => tracing::warn!(error = %e, "deleting unused document clients failed"),
            }
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
