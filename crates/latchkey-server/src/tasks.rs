//! The server's periodic jobs (rate-limit sweeps, pruning, the change watcher, key reloads), run in one
//! `JoinSet` and stopped by one signal.
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::state::AppState;

/// The jobs of one server, running until [`Tasks::stop`].
pub(crate) struct Tasks {
    stop: watch::Sender<bool>,
    running: JoinSet<()>,
}

impl Tasks {
    /// Starts every periodic job of `state`.
    pub(crate) fn start(state: &AppState) -> Tasks {
        let (stop, stopped) = watch::channel(false);
        let mut running = JoinSet::new();
        let settings = state.settings();
        let app = state.clone();
        running.spawn(every(
            crate::services::rate_limit::SWEEP_EVERY,
            stopped.clone(),
            move || {
                let app = app.clone();
                async move { app.rate_limits().sweep() }
            },
        ));
        let app = state.clone();
        running.spawn(every(PRUNE_EVERY, stopped.clone(), move || {
            prune(app.clone())
        }));
        let app = state.clone();
        running.spawn(every(
            settings.cache_refresh_interval,
            stopped.clone(),
            move || {
                let app = app.clone();
                async move {
                    watch_changes(&app).await;
                }
            },
        ));
        let app = state.clone();
        running.spawn(every(settings.keys.refresh_interval, stopped, move || {
            let app = app.clone();
            async move {
                if let Err(e) = app.keyring().reload().await {
                    tracing::error!(error = %e, "reloading signing keys failed; keeping the previous set");
                }
            }
        }));
        Tasks { stop, running }
    }

    /// Signals every job to stop and waits for them a moment: they only sleep and run short jobs, so
    /// waiting briefly keeps shutdown orderly without letting a stuck database hold it up.
    pub(crate) async fn stop(mut self) {
        self.stop.send(true).ok();
        let all = async { while self.running.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(1), all)
            .await
            .is_err()
        {
            self.running.abort_all();
        }
    }
}

/// Runs `job` every `interval` until `stop` flips. A job that fails logs and waits for its next turn.
async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => job().await,
            _ = stop.changed() => return,
        }
    }
}

/// Invalidates what the database's change counters say has changed since the last look: clients and
/// resources (the registry counter), and which tokens are known not to be revoked. A failed read keeps
/// the caches and is logged; the next successful one still sees every change, since the counters only
/// grow.
async fn watch_changes(app: &AppState) {
    use latchkey_store::HealthStore;
    match app.store().versions().await {
        Ok(versions) => {
            if app.clients().observe_version(versions.registry) {
                app.clients().invalidate();
                app.resources().invalidate();
            }
            app.revocations().observe_version(versions.revocations);
        }
        Err(e) => tracing::warn!(error = %e, "reading the change counters failed"),
    }
}

/// Expired rows are pruned this often. Entries stay a minute past their expiry, the clock leeway
/// verifiers are allowed.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Deletes expired deny-list entries, opaque tokens, codes, sessions, login counters, unused document
/// and registered clients and audit records past their retention.
async fn prune(state: AppState) {
    use latchkey_store::TokenStore;
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
    let this_minute = now.minute_start();
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
