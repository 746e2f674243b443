//! `latchkey registration token create`: initial access tokens for `registration.policy = "token"`
//! (RFC 7591 §3).
use anyhow::{Result, anyhow};
use latchkey_core::secret::ClientSecret;
use latchkey_store::RegistrationStore;

use crate::cli::open_store;
use crate::config::{Config, parse_duration};

#[derive(Debug, clap::Subcommand)]
pub enum RegistrationCommand {
    /// Manage initial access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an initial access token and print it (shown once).
    Create {
        /// How long it is valid (90s, 10m, 24h, 7d); default 24h.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        ttl: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: RegistrationCommand, config: &Config) -> Result<()> {
    let RegistrationCommand::Token(TokenCommand::Create { ttl, json }) = command;
    let seconds = parse_duration(&ttl)
        .map(|d| d.as_secs())
        .filter(|s| *s > 0)
        .ok_or_else(|| anyhow!("--ttl: expected a duration such as \"24h\", got `{ttl}`"))?;
    let store = open_store(config).await?;
    let token = ClientSecret::generate();
    let now = latchkey_server::clock::Clock::system().now();
    let result = store
        .insert_initial_access_token(&token.hash(), now, now.plus(seconds))
        .await;
    store.close().await;
    result?;
    if json {
        println!(
            "{}",
            serde_json::json!({"initial_access_token": token.expose(), "expires_at": now.plus(seconds)})
        );
    } else {
        println!("{}", token.expose());
        if config.settings.registration.is_none() {
            eprintln!(
                "note: registration.policy is off in this configuration; the token is stored but unused until it is `token`"
            );
        }
    }
    Ok(())
}
