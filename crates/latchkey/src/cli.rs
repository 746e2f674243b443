//! The command line: `serve`, `client …`, `keys …`, `metadata`, `discover`. Every command reads the
//! same configuration.
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use latchkey_store::Store;

use crate::config::{self, Config, Flags};

pub mod audit;
pub mod client;
pub mod discover;
pub mod grant;
pub mod keys;
pub mod metadata;
pub mod registration;
pub mod resource;
pub mod serve;
pub mod store;
mod table;
pub mod user;

/// Latchkey: an OAuth 2.1 authorization server.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (also LATCHKEY_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite:PATH or postgres://… (also LATCHKEY_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Development mode: a master key file in the working directory and, for `serve`, a demo client.
    #[arg(long, global = true)]
    dev: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server.
    Serve(serve::ServeArgs),
    /// The audit trail: sign-ins, consents, client and key changes, revoked grants.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage registered clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Print the OpenAPI 3.1 document of this server as configured.
    Openapi,
    /// What users have granted to clients, and revoking it.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Dynamic client registration (RFC 7591): initial access tokens.
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Manage resources (RFC 8707): the APIs tokens are issued for.
    #[command(subcommand)]
    Resource(resource::ResourceCommand),
    /// Manage users (the people who sign in on the login page).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Print the RFC 8414 metadata this configuration publishes, or compare it with a file.
    Metadata(metadata::MetadataArgs),
    /// Fetch and check any authorization server's metadata, endpoints and JWKS.
    Discover(discover::DiscoverArgs),
    /// Apply pending database migrations without serving (for deployment pipelines).
    Migrate,
    /// Move data between databases.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

pub async fn run(cli: Cli) -> Result<()> {
    let mut flags = Flags {
        config: cli.config,
        database: cli.database,
        dev: cli.dev,
        ..Flags::default()
    };
    if let Command::Serve(args) = &cli.command {
        flags.issuer = args.issuer.clone();
        flags.listen = args.listen.clone();
    }
    let migrate = !matches!(&cli.command, Command::Serve(args) if args.no_migrate);
    let mut config = config::load(&flags).map_err(anyhow::Error::msg)?;
    config.migrate = migrate;
    match cli.command {
        Command::Serve(_) => serve::run(config).await,
        Command::Audit(command) => audit::run(command, &config).await,
        Command::Client(command) => client::run(command, &config).await,
        Command::Grant(command) => grant::run(command, &config).await,
        Command::Openapi => {
            let document = latchkey_server::openapi::document(&config.settings);
            println!(
                "{}",
                serde_json::to_string_pretty(&document).expect("JSON values serialise")
            );
            Ok(())
        }
        Command::Keys(command) => keys::run(command, &config).await,
        Command::User(command) => user::run(command, &config).await,
        Command::Resource(command) => resource::run(command, &config).await,
        Command::Registration(command) => registration::run(command, &config).await,
        Command::Metadata(args) => metadata::run(args, &config),
        Command::Discover(args) => discover::run(args, &config).await,
        Command::Migrate => store::migrate(&config).await,
        Command::Store(command) => store::run(command, &config).await,
    }
}

/// Opens the configured database and applies pending migrations, or, when `config.migrate` is off
/// (`serve --no-migrate`), refuses a database whose schema is not this build's; naming it in the error.
pub async fn open_store(config: &Config) -> Result<Store> {
    let store = open_unmigrated(config).await?;
    let checked = match config.migrate {
        true => store.migrate().await.map(drop),
        false => store.check_schema().await,
    };
    if let Err(e) = checked {
        store.close().await;
        return Err(e).with_context(|| format!("database {}", redact(&config.database_url)));
    }
    Ok(store)
}

/// Opens the configured database with the configured pool, leaving its schema alone.
pub async fn open_unmigrated(config: &Config) -> Result<Store> {
    Store::open(&config.database_url, &config.database)
        .await
        .with_context(|| format!("database: cannot open {}", redact(&config.database_url)))
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            parsed.set_password(Some("***")).ok();
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
