//! `latchkey serve`: open the store, make sure a signing key exists, and serve until SIGTERM or Ctrl-C.
use std::collections::BTreeSet;

use anyhow::{Context, Result};
use latchkey_core::client::{Client, ClientAuth};
use latchkey_core::secret::ClientSecret;
use latchkey_core::types::{AuthMethod, ClientId, GrantType, Scope};
use latchkey_server::AppState;
use latchkey_server::clock::Clock;
use latchkey_store::{ClientStore, Store};
use tokio::net::TcpListener;

use crate::cli::open_store;
use crate::config::Config;

mod logging;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Issuer identifier, e.g. https://auth.example.com (also LATCHKEY_ISSUER).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (also LATCHKEY_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Do not apply migrations; refuse to start unless the database is at this version's schema
    /// (run `latchkey migrate` first).
    #[arg(long)]
    pub no_migrate: bool,
}

/// The client `--dev` creates, so a first token is one curl away.
const DEMO_CLIENT_ID: &str = "demo";

/// A server ready to serve: the store is open and migrated, a signing key exists and, with `--dev`, the
/// demo client too. The binary and the integration tests both start from here.
pub struct Prepared {
    /// The opened store.
    pub store: Store,
    /// Handler state.
    pub state: AppState,
    /// The demo client's secret, when `--dev` just created it.
    pub demo_secret: Option<ClientSecret>,
}

/// Reads the master key, opens the store and loads keys, so every configuration error surfaces before
/// the first request.
pub async fn prepare(config: &Config) -> Result<Prepared> {
    prepare_with_clock(config, Clock::system()).await
}

/// `prepare`, with the clock the server reads (tests set a manual one).
pub async fn prepare_with_clock(config: &Config, clock: Clock) -> Result<Prepared> {
    let master = config.master_key().map_err(anyhow::Error::msg)?;
    let store = open_store(config).await?;
    let demo_secret = if config.dev {
        ensure_demo_client(&store, config).await?
    } else {
        None
    };
    let state = AppState::new(store.clone(), config.settings.clone(), master, clock)
        .await
        .context("signing keys")?;
    Ok(Prepared {
        store,
        state,
        demo_secret,
    })
}

pub async fn run(config: Config) -> Result<()> {
    let logging = logging::init(&config.log);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let metrics_listener = match config.metrics.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: cannot bind {addr}"))?,
        ),
        None => None,
    };
    let Prepared {
        store,
        state,
        demo_secret,
    } = prepare(&config).await?;
    let dropped = logging.drop_counter();
    state
        .metrics()
        .set_log_drop_source(move || dropped.dropped_lines() as u64);
    // Stopped when the public listener has drained: a scrape is never worth delaying shutdown for.
    let metrics_task = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        }
        tokio::spawn(latchkey_server::serve_metrics(
            listener,
            state.clone(),
            std::future::pending(),
        ))
    });
    let issuer = config.settings.features.issuer.as_str();
    let listen = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(%listen, issuer, database = store.backend(), kid = state.keys().active.kid(), "latchkey is serving");
    for warning in policy_warnings(&store, &config).await? {
        tracing::warn!("{warning}");
    }
    if config.dev {
        print_dev_banner(&config, demo_secret.as_ref());
    }
    let served = tokio::select! {
        served = latchkey_server::serve(listener, state, shutdown_signal()) => served,
        () = logging.report_drops(std::time::Duration::from_secs(10)) => unreachable!("reports forever"),
    };
    if let Some(task) = metrics_task {
        task.abort();
    }
    served.context("serving")?;
    store.close().await;
    tracing::info!("latchkey stopped");
    Ok(())
}

/// One line per registered client whose registration names a grant type or authentication method the
/// configuration has turned off. Such a client's requests that need it are refused; the operator
/// should know before its developers do.
pub async fn policy_warnings(store: &Store, config: &Config) -> Result<Vec<String>> {
    let features = &config.settings.features;
    Ok(store
        .list_clients()
        .await?
        .iter()
        .filter_map(|client| {
            features.check_client(client).err().map(|e| {
                format!(
                    "client {} ({}): {}; its requests that need it are refused",
                    client.client_id,
                    client.name,
                    e.description()
                )
            })
        })
        .collect())
}

/// Creates the demo client unless it exists; returns its secret when created.
async fn ensure_demo_client(store: &Store, config: &Config) -> Result<Option<ClientSecret>> {
    let id = ClientId::parse(DEMO_CLIENT_ID).expect("the demo id is valid");
    if store.find_client(&id).await?.is_some() {
        return Ok(None);
    }
    let secret = ClientSecret::generate();
    let scope: Scope = config
        .scopes
        .keys()
        .map(|s| latchkey_core::types::ScopeToken::parse(s.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = Client {
        client_id: id.clone(),
        name: "Demo client (created by --dev)".into(),
        auth: ClientAuth::Secret {
            method: AuthMethod::ClientSecretBasic,
            hash: secret.hash(),
        },
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scope,
        redirect_uris: vec![],
        created_at: latchkey_server::clock::Clock::system().now(),
        policy: latchkey_core::client::ClientPolicy::default(),
    };
    if let Err(e) = config.settings.features.check_client(&client) {
        println!("  no demo client `{id}`: {}", e.description());
        return Ok(None);
    }
    store.insert_client(&client).await?;
    Ok(Some(secret))
}

fn print_dev_banner(config: &Config, demo_secret: Option<&ClientSecret>) {
    let features = &config.settings.features;
    // RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path.
    let origin = url::Url::parse(features.issuer.as_str())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let metadata = format!("{origin}{}", features.well_known_paths()[0]);
    println!(
        "Latchkey is running in development mode (master key in {}).",
        crate::config::DEV_MASTER_KEY_FILE
    );
    println!("  metadata: curl -s {metadata}");
    match demo_secret {
        Some(secret) => {
            println!(
                "  demo client created: client_id={DEMO_CLIENT_ID} client_secret={} (shown once)",
                secret.expose()
            );
            println!(
                "  get a token: curl -s -u {DEMO_CLIENT_ID}:{} -d grant_type=client_credentials {}",
                secret.expose(),
                features.endpoints.token
            );
        }
        None => {
            println!(
                "  demo client `{DEMO_CLIENT_ID}` exists; `latchkey client rotate-secret {DEMO_CLIENT_ID}` prints a new secret, then:"
            );
            println!(
                "  get a token: curl -s -u {DEMO_CLIENT_ID}:SECRET -d grant_type=client_credentials {}",
                features.endpoints.token
            );
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested; finishing open requests");
}
