//! `latchkey resource …`: add, list and delete resources (RFC 8707), the APIs tokens are issued for.
use anyhow::{Result, anyhow, bail};
use latchkey_core::client::TokenFormat;
use latchkey_core::resource::Resource;
use latchkey_core::types::{ResourceUri, Scope, ScopeToken};
use latchkey_store::{ResourceStore, Store};
use serde::Serialize;
use serde_json::json;

use crate::cli::open_store;
use crate::cli::table::Table;
use crate::config::{Config, parse_duration};

#[derive(Debug, clap::Subcommand)]
pub enum ResourceCommand {
    /// Add a resource: an https URI, or http on a loopback host for local development.
    Add {
        /// The identifier clients send as `resource`; it becomes the tokens' `aud`.
        uri: String,
        /// A scope that means something at this resource (repeatable); none: any the client may have.
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// Access-token format for this resource: jwt or opaque (default: the client's, else jwt).
        #[arg(long, value_name = "F")]
        format: Option<String>,
        /// Access-token lifetime in seconds (or with a unit: 5m, 1h), at most 24h.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<String>,
    },
    /// List resources: those in the configuration file and those added here.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a resource added with `resource add`.
    Delete {
        /// Its identifier.
        uri: String,
    },
}

pub async fn run(command: ResourceCommand, config: &Config) -> Result<()> {
    // Validate before opening the database, so a typo costs nothing.
    let parsed = match &command {
        ResourceCommand::Add {
            uri,
            scopes,
            format,
            ttl,
        } => Some(build(uri, scopes, format.as_deref(), ttl.as_deref())?),
        _ => None,
    };
    let store = open_store(config).await?;
    let result = dispatch(command, parsed, config, &store).await;
    store.close().await;
    result
}

fn build(
    uri: &str,
    scopes: &[String],
    format: Option<&str>,
    ttl: Option<&str>,
) -> Result<Resource> {
    let uri = Resource::parse_identifier(uri).map_err(|e| anyhow!("uri: {e}"))?;
    let scopes: Scope = scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
        .map(|s| {
            ScopeToken::parse(s.to_owned())
                .map_err(|_| anyhow!("--scope: `{s}` is not a scope token"))
        })
        .collect::<Result<_>>()?;
    let format = format
        .map(|f| {
            f.parse::<TokenFormat>()
                .map_err(|e| anyhow!("--format: {e}"))
        })
        .transpose()?;
    let ttl = ttl
        .map(|t| {
            parse_duration(t)
                .map(|d| d.as_secs())
                .filter(|s| (1..=86_400).contains(s))
                .ok_or_else(|| anyhow!("--ttl: expected 1 to 86400 seconds, got `{t}`"))
        })
        .transpose()?;
    Ok(Resource {
        uri,
        scopes,
        format,
        access_token_ttl: ttl,
    })
}

async fn dispatch(
    command: ResourceCommand,
    parsed: Option<Resource>,
    config: &Config,
    store: &Store,
) -> Result<()> {
    match command {
        ResourceCommand::Add { .. } => {
            let resource = parsed.ok_or_else(|| anyhow!("no resource"))?;
            if config.settings.resources.contains_key(&resource.uri) {
                bail!(
                    "resource `{}` is defined in the configuration file already",
                    resource.uri.as_str()
                );
            }
            store
                .insert_resource(&resource, latchkey_server::clock::Clock::system().now())
                .await?;
            println!("added resource {}", resource.uri.as_str());
        }
        ResourceCommand::List { json } => {
            let stored = store.list_resources().await?;
            let rows: Vec<_> = (config.settings.resources.values())
                .map(|r| ResourceRow::of(r, "config"))
                .chain(stored.iter().map(|r| ResourceRow::of(r, "database")))
                .collect();
            RESOURCES.print(json, &rows, |r| json!(r), ResourceRow::cells);
        }
        ResourceCommand::Delete { uri } => {
            let uri = ResourceUri::parse(&uri).map_err(|e| anyhow!("uri: {}", e.description()))?;
            if config.settings.resources.contains_key(&uri) {
                bail!(
                    "resource `{}` is defined in the configuration file; remove it there",
                    uri.as_str()
                );
            }
            if !store.delete_resource(&uri).await? {
                bail!("resource `{}` does not exist", uri.as_str());
            }
            println!("deleted resource {}", uri.as_str());
        }
    }
    Ok(())
}

/// One line of `resource list`, and its JSON object.
#[derive(Serialize)]
struct ResourceRow<'a> {
    uri: &'a str,
    scopes: String,
    format: Option<&'static str>,
    ttl: Option<u64>,
    source: &'static str,
}

impl ResourceRow<'_> {
    fn of<'a>(resource: &'a Resource, source: &'static str) -> ResourceRow<'a> {
        ResourceRow {
            uri: resource.uri.as_str(),
            scopes: resource.scopes.to_string(),
            format: resource.format.map(|f| f.as_str()),
            ttl: resource.access_token_ttl,
            source,
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.uri.into(),
            self.format.unwrap_or("-").into(),
            self.ttl.map_or_else(|| "-".into(), |t| t.to_string()),
            self.source.into(),
            self.scopes.clone(),
        ]
    }
}

const RESOURCES: Table<'_> = Table {
    empty: "no resources",
    columns: &[
        ("URI", 40),
        ("FORMAT", 8),
        ("TTL", 8),
        ("SOURCE", 9),
        ("SCOPES", 0),
    ],
};
