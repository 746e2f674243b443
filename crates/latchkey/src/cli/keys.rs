//! `latchkey keys …`: list signing keys and rotate to a new one.
use anyhow::{Result, anyhow};
use latchkey_core::keys::{KeyAlg, MasterKey};
use latchkey_server::clock::Clock;
use latchkey_server::keyring;
use latchkey_store::{AuditRecord, KeyStore, Store};
use serde::Serialize;
use serde_json::json;

use crate::cli::table::Table;
use crate::cli::{audit, open_store};
use crate::config::Config;
use latchkey_store::AuditEvent;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List signing keys: the active one (access tokens), the current key of each other algorithm
    /// (ID tokens), and retired ones still published.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Replace every current signing key with a new one; the previous ones stay published until their
    /// tokens expire.
    Rotate {
        /// Algorithm of the new access-token key: ES256, EdDSA, RS256 or PS256 (default:
        /// keys.algorithm, else ES256).
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
    },
    /// Remove a compromised key now: a current key is first replaced by a rotation, then the key is
    /// deleted. Running servers stop trusting it, and drop verifications made with it, within
    /// keys.refresh_interval; tokens it signed stop verifying.
    Revoke {
        /// The key id (`kid`), as `keys list` shows it.
        // A kid is a base64url thumbprint: one in 32 starts with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

pub async fn run(command: KeysCommand, config: &Config) -> Result<()> {
    match command {
        KeysCommand::List { json } => list(config, json).await,
        KeysCommand::Rotate { alg } => {
            let alg = match alg {
                Some(a) => a.parse::<KeyAlg>().map_err(|e| anyhow!("--alg: {e}"))?,
                None => config.settings.keys.alg,
            };
            let window = config.settings.keys.publish_window;
            let kid = change(
                config,
                "keys rotate",
                async |store, master| {
                    keyring::rotate(store, master, alg, Clock::system().now(), window).await
                },
                |kid| {
                    Some(
                        audit::operator(AuditEvent::KeyRotated)
                            .reason(format!("new active key {kid} ({alg})")),
                    )
                },
            )
            .await?;
            println!(
                "new active key {kid} ({alg}); running servers pick it up within {}s",
                config.settings.keys.refresh_interval.as_secs().max(1)
            );
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            let window = config.settings.keys.publish_window;
            let revoked = change(
                config,
                "keys revoke",
                async |store, master| {
                    keyring::revoke(store, master, &kid, Clock::system().now(), window).await
                },
                |revoked| {
                    revoked.then(|| {
                        audit::operator(AuditEvent::KeyRevoked)
                            .reason(format!("key {kid} removed before its publish window ended"))
                    })
                },
            )
            .await?;
            if !revoked {
                anyhow::bail!("keys revoke: no key has the id `{kid}`");
            }
            println!(
                "key {kid} removed; running servers stop trusting it within {}s",
                config.settings.keys.refresh_interval.as_secs().max(1)
            );
            Ok(())
        }
    }
}

/// One line of `keys list`, and its JSON object.
#[derive(Serialize)]
struct KeyRow<'a> {
    kid: &'a str,
    alg: &'static str,
    status: &'static str,
    created_at: i64,
    retired_at: Option<i64>,
}

impl KeyRow<'_> {
    fn cells(&self) -> Vec<String> {
        let created_at = self.created_at.to_string();
        vec![
            self.kid.into(),
            self.alg.into(),
            self.status.into(),
            created_at,
        ]
    }
}

const KEYS: Table<'_> = Table {
    empty: "no signing keys yet (the server creates one when it first starts)",
    columns: &[("KID", 45), ("ALG", 6), ("STATUS", 20), ("CREATED_AT", 0)],
};

async fn list(config: &Config, json: bool) -> Result<()> {
    let store = open_store(config).await?;
    let keys = store.list_keys().await;
    let window = keyring::publish_window(&store, config.settings.keys.publish_window).await;
    store.close().await;
    let now = Clock::system().now();
    let window = window.map_err(|e| anyhow!("keys list: {e}"))?;
    let keys = keys?;
    let rows: Vec<_> = keys
        .iter()
        .map(|k| KeyRow {
            kid: &k.kid,
            alg: k.alg.as_str(),
            status: match k.retired_at {
                None if k.active => "active",
                None => "current",
                Some(_) if keyring::is_published(k, now, window) => "retired, published",
                Some(_) => "retired, expired",
            },
            created_at: k.created_at.0,
            retired_at: k.retired_at.map(|t| t.0),
        })
        .collect();
    KEYS.print(json, &rows, |r| json!(r), KeyRow::cells);
    Ok(())
}

/// Opens the store, applies a key change and records what `audit` makes of its outcome, if
/// anything. The change's own error comes first, then a failure to record it.
async fn change<T, E: std::fmt::Display>(
    config: &Config,
    command: &str,
    apply: impl AsyncFnOnce(&Store, &MasterKey) -> Result<T, E>,
    audit: impl FnOnce(&T) -> Option<AuditRecord>,
) -> Result<T> {
    let master = config.master_key().map_err(anyhow::Error::msg)?;
    let store = open_store(config).await?;
    let changed = apply(&store, &master).await;
    let recorded = match changed.as_ref().ok().and_then(audit) {
        Some(record) => audit::record(&store, &[record]).await,
        None => Ok(()),
    };
    store.close().await;
    let changed = changed.map_err(|e| anyhow!("{command}: {e}"))?;
    recorded?;
    Ok(changed)
}
