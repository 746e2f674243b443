//! `latchkey migrate` and `latchkey store copy`: the database's schema, and the move from SQLite to
//! PostgreSQL.
use anyhow::{Context, Result};
use latchkey_store::Store;

use crate::cli::{open_unmigrated, redact};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copy everything from an SQLite database into an empty PostgreSQL database, in one transaction.
    Copy {
        /// The SQLite database to read, e.g. sqlite://latchkey.db (only read; must be at this version's schema).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database to fill, e.g. postgres://latchkey@db/latchkey (migrated first).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Replace the target's contents if it is not empty.
        #[arg(long)]
        force: bool,
        /// Print one JSON object of row counts per table.
        #[arg(long)]
        json: bool,
    },
}

/// `latchkey migrate`: applies pending migrations and says where the schema stands.
pub async fn migrate(config: &Config) -> Result<()> {
    let store = open_unmigrated(config).await?;
    let applied = store
        .migrate()
        .await
        .with_context(|| format!("migrate {}", redact(&config.database_url)))?;
    store.check_schema().await?;
    store.close().await;
    match applied {
        0 => println!("the database is up to date"),
        n => println!("applied {n} migration(s); the database is up to date"),
    }
    Ok(())
}

pub async fn run(command: StoreCommand, config: &Config) -> Result<()> {
    let StoreCommand::Copy {
        from,
        to,
        force,
        json,
    } = command;
    if !from.starts_with("sqlite:") && from.contains("://") {
        anyhow::bail!(
            "--from: expected an SQLite database (sqlite://PATH), got {}",
            redact(&from)
        );
    }
    let path = from
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    // Opening an SQLite URL creates a missing file; a typo must not copy an empty database.
    if !std::path::Path::new(path).is_file() {
        anyhow::bail!("--from: no database file at {path}");
    }
    let source = Store::open(&from, &config.database)
        .await
        .with_context(|| format!("--from: cannot open {}", redact(&from)))?;
    let target = Store::open(&to, &config.database)
        .await
        .with_context(|| format!("--to: cannot open {}", redact(&to)))?;
    let report = source.copy_into(&target, force).await;
    source.close().await;
    target.close().await;
    let report = report.context("store copy")?;
    if json {
        println!("{}", serde_json::json!({ "tables": report.tables }));
    } else {
        let total: u64 = report.tables.values().sum();
        println!(
            "copied {total} rows from {} into {}:",
            redact(&from),
            redact(&to)
        );
        for (table, rows) in &report.tables {
            println!("  {table:<24} {rows}");
        }
    }
    Ok(())
}
