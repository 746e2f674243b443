//! Latchkey's HTTP server: thin axum handlers over `latchkey_core` (the rules) and `latchkey_store`
//! (the data). Handlers extract, parse, load, decide, persist and respond; nothing else.
use std::future::Future;
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
    let limits = state.settings().http.clone();
    let state_for_flush = state.clone();
    let app = router::router(state);
    let result = accept(listener, app, &limits, shutdown).await;
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

/// The connection loop: at most `max_connections` open at once (the next waits in the kernel's
/// backlog), each read with `header_read_timeout` for its request head, and on shutdown every open
/// connection finishes its request and closes.
///
/// # Security
/// `axum::serve` sets no timer, so a client sending its headers a byte at a time held a connection
/// (and a task) for ever, and there was no bound on how many (L7). The request timeout only starts once
/// the head is read; the header-read timeout covers what comes before it.
async fn accept<S>(
    listener: TcpListener,
    app: S,
    limits: &state::HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors or the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        stream.set_nodelay(true).ok();
        let service = app.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request.map(axum::body::Body::new)
            },
        );
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
        if let Some(documents) = &state.settings().client_id_documents {
            use latchkey_store::RegistrationStore;
            // A document client's row outlives its cache entry only while a grant or consent needs it.
            let before = now.minus(documents.max_cache.as_secs());
            match state.store().prune_document_clients(before).await {
                Ok(removed) => tracing::debug!(removed, "deleted unused document clients"),
                Err(e) => tracing::warn!(error = %e, "deleting unused document clients failed"),
            }
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
