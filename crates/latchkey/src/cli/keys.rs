//! `latchkey keys …`: list signing keys and rotate to a new one.
use anyhow::{Result, anyhow};
use latchkey_core::keys::KeyAlg;
use latchkey_server::clock::Clock;
use latchkey_server::keyring;
use latchkey_store::KeyStore;

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
        KeysCommand::List { json } => {
            let store = open_store(config).await?;
            let keys = store.list_keys().await;
            let window = keyring::publish_window(&store, config.settings.keys.publish_window).await;
            store.close().await;
            let now = Clock::system().now();
            let window = window.map_err(|e| anyhow!("keys list: {e}"))?;
            let rows: Vec<_> = keys?
                .iter()
                .map(|k| {
                    let status = match k.retired_at {
                        None if k.active => "active".to_owned(),
                        None => "current".to_owned(),
                        Some(_) if keyring::is_published(k, now, window) => {
                            "retired, published".to_owned()
                        }
                        Some(_) => "retired, expired".to_owned(),
                    };
                    serde_json::json!({
                        "kid": k.kid, "alg": k.alg.as_str(), "status": status,
                        "created_at": k.created_at.0, "retired_at": k.retired_at.map(|t| t.0),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else if rows.is_empty() {
                println!("no signing keys yet (the server creates one when it first starts)");
            } else {
                println!("{:<45} {:<6} {:<20} CREATED_AT", "KID", "ALG", "STATUS");
                for r in &rows {
                    println!(
                        "{:<45} {:<6} {:<20} {}",
                        r["kid"].as_str().unwrap_or(""),
                        r["alg"].as_str().unwrap_or(""),
                        r["status"].as_str().unwrap_or(""),
                        r["created_at"]
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Rotate { alg } => {
            let alg = match alg {
                Some(a) => a.parse::<KeyAlg>().map_err(|e| anyhow!("--alg: {e}"))?,
                None => config.settings.keys.alg,
            };
            let master = config.master_key().map_err(anyhow::Error::msg)?;
            let store = open_store(config).await?;
            let rotated = keyring::rotate(
                &store,
                &master,
                alg,
                Clock::system().now(),
                config.settings.keys.publish_window,
            )
            .await;
            let recorded = match &rotated {
                Ok(kid) => {
                    let record = audit::operator(AuditEvent::KeyRotated)
                        .reason(format!("new active key {kid} ({alg})"));
                    audit::record(&store, &[record]).await
                }
                Err(_) => Ok(()),
            };
            store.close().await;
            let kid = rotated.map_err(|e| anyhow!("keys rotate: {e}"))?;
            recorded?;
            println!(
                "new active key {kid} ({alg}); running servers pick it up within {}s",
                config.settings.keys.refresh_interval.as_secs().max(1)
            );
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            let master = config.master_key().map_err(anyhow::Error::msg)?;
            let store = open_store(config).await?;
            let revoked = keyring::revoke(
                &store,
                &master,
                &kid,
                Clock::system().now(),
                config.settings.keys.publish_window,
            )
            .await;
            let recorded = match &revoked {
                Ok(true) => {
                    let record = audit::operator(AuditEvent::KeyRevoked)
                        .reason(format!("key {kid} removed before its publish window ended"));
                    audit::record(&store, &[record]).await
                }
                _ => Ok(()),
            };
            store.close().await;
            if !revoked.map_err(|e| anyhow!("keys revoke: {e}"))? {
                anyhow::bail!("keys revoke: no key has the id `{kid}`");
            }
            recorded?;
            println!(
                "key {kid} removed; running servers stop trusting it within {}s",
                config.settings.keys.refresh_interval.as_secs().max(1)
            );
            Ok(())
        }
    }
}
