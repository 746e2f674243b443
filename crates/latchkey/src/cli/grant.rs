//! `latchkey grant …`: what a user has granted to clients, and ending it.
//!
//! A grant is one authorization: the scopes a user approved for a client (and resource) at one
//! sign-in, with the refresh tokens and access tokens issued from it. Revoking it ends every one of
//! them (refresh tokens stop working, access tokens go on the deny-list until they would have
//! expired) and forgets the remembered consent, so the client has to ask the user again.
use anyhow::{Result, anyhow, bail};
use latchkey_core::grant::{Grant, GrantId};
use latchkey_core::user::Username;
use latchkey_server::audit::{GrantRevocation, describe_consent};
use latchkey_server::clock::Clock;
use latchkey_store::{AuditEvent, ClientStore, GrantStore, SessionStore, Store, UserStore};
use serde::Serialize;
use serde_json::json;

use crate::cli::audit::{operator, record, rfc3339};
use crate::cli::open_store;
use crate::cli::table::Table;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum GrantCommand {
    /// List a user's grants that are neither revoked nor expired.
    List {
        /// The user (username, or `sub`).
        // A `sub` made before ids were kept from starting with `-` still reads as a value here.
        #[arg(long, value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant: its refresh tokens stop working, its access tokens are deny-listed, and the
    /// client must ask the user's consent again.
    Revoke {
        /// The grant id, as `grant list` shows it.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

pub async fn run(command: GrantCommand, config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let result = dispatch(command, &store).await;
    store.close().await;
    result
}

async fn dispatch(command: GrantCommand, store: &Store) -> Result<()> {
    match command {
        GrantCommand::List { user, json } => {
            let sub = subject_of(store, &user).await?;
            let grants = store.list_grants(&sub, Clock::system().now()).await?;
            let mut clients = Vec::with_capacity(grants.len());
            for grant in &grants {
                clients.push(store.find_client(&grant.client_id).await?);
            }
            let rows: Vec<_> = grants
                .iter()
                .zip(&clients)
                .map(|(grant, client)| {
                    GrantRow::of(grant, client.as_ref().map(|c| c.name.as_str()))
                })
                .collect();
            let table = Table {
                empty: &format!("no grants for {user}"),
                columns: &[
                    ("GRANT_ID", 28),
                    ("CLIENT_ID", 24),
                    ("CLIENT", 24),
                    ("SCOPE", 30),
                    ("CREATED_AT", 24),
                    ("RESOURCE", 0),
                ],
            };
            table.print(json, &rows, |r| json!(r), GrantRow::cells);
            Ok(())
        }
        GrantCommand::Revoke { id } => revoke(store, &id).await,
    }
}

async fn revoke(store: &Store, id: &str) -> Result<()> {
    let grant_id = GrantId::from_stored(id.to_owned());
    let grant = store
        .find_grant(&grant_id)
        .await?
        .ok_or_else(|| anyhow!("grant `{id}` does not exist"))?;
    if grant.revoked_at.is_some() {
        println!("grant {id} was already revoked");
        return Ok(());
    }
    store.revoke_grant(&grant_id, Clock::system().now()).await?;
    let forgot = store
        .delete_consent(&grant.user_id, &grant.client_id, grant.resource.as_ref())
        .await?;
    let mut records = vec![
        operator(AuditEvent::GrantRevoked)
            .client(grant.client_id.as_str())
            .subject(grant.user_id.as_str())
            .reason(format!(
                "grant {id}: {}",
                GrantRevocation::Operator.describe()
            )),
    ];
    if forgot {
        records.push(
            operator(AuditEvent::ConsentRevoked)
                .client(grant.client_id.as_str())
                .subject(grant.user_id.as_str())
                .reason(format!(
                    "{} withdrawn with grant {id}",
                    describe_consent(&grant.scope, grant.resource.as_ref())
                )),
        );
    }
    record(store, &records).await?;
    println!(
        "revoked grant {id}: its refresh tokens no longer work, its access tokens are deny-listed, and {} must ask {} again",
        grant.client_id, grant.user_id
    );
    Ok(())
}

/// A username's `sub`, or the argument itself when it is a `sub`.
async fn subject_of(store: &Store, user: &str) -> Result<String> {
    if let Ok(username) = Username::parse(user)
        && let Some(found) = store.find_user_by_username(&username).await?
    {
        return Ok(found.user_id);
    }
    if store.find_user(user).await?.is_some() {
        return Ok(user.to_owned());
    }
    bail!("user `{user}` does not exist")
}

/// One line of `grant list`, and its JSON object.
#[derive(Serialize)]
struct GrantRow<'a> {
    grant_id: &'a str,
    client_id: &'a str,
    client_name: Option<&'a str>,
    subject: &'a str,
    scope: String,
    resource: Option<&'a str>,
    auth_time: String,
    created_at: String,
    expires_at: String,
}

impl GrantRow<'_> {
    fn of<'a>(grant: &'a Grant, client_name: Option<&'a str>) -> GrantRow<'a> {
        GrantRow {
            grant_id: grant.grant_id.as_str(),
            client_id: grant.client_id.as_str(),
            client_name,
            subject: &grant.user_id,
            scope: grant.scope.to_string(),
            resource: grant.resource.as_ref().map(|r| r.as_str()),
            auth_time: rfc3339(grant.auth_time.0 * 1000),
            created_at: rfc3339(grant.created_at.0 * 1000),
            expires_at: rfc3339(grant.expires_at.0 * 1000),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.grant_id.into(),
            self.client_id.into(),
            self.client_name.unwrap_or("-").into(),
            self.scope.clone(),
            self.created_at.clone(),
            self.resource.unwrap_or("-").into(),
        ]
    }
}
