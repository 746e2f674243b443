//! `latchkey audit list`: the audit trail, newest last, filtered by time, client or user.
use anyhow::{Context, Result, anyhow};
use latchkey_core::user::Username;
use latchkey_server::clock::Clock;
use latchkey_store::{AuditEvent, AuditQuery, AuditRecord, AuditStore, Store, UserStore};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::open_store;
use crate::cli::table::Table;
use crate::config::{Config, parse_duration};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// List audit records, oldest first (the latest --limit of those that match).
    List {
        /// Only records from this long ago on ("24h", "7d") or since this time (RFC 3339).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only records concerning this client_id.
        #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
        client: Option<String>,
        /// Only records concerning this user (username, or `sub`).
        #[arg(long, value_name = "USER", allow_hyphen_values = true)]
        user: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: AuditCommand, config: &Config) -> Result<()> {
    let AuditCommand::List {
        since,
        client,
        user,
        limit,
        json,
    } = command;
    let since_ms = since.as_deref().map(parse_since).transpose()?;
    let store = open_store(config).await?;
    let result = list(&store, since_ms, client, user, limit, json).await;
    store.close().await;
    result
}

async fn list(
    store: &Store,
    since_ms: Option<i64>,
    client_id: Option<String>,
    user: Option<String>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let subject = match user {
        Some(user) => Some(subject_of(store, &user).await?),
        None => None,
    };
    let records = store
        .list_audit(&AuditQuery {
            since_ms,
            client_id,
            subject,
            limit,
        })
        .await?;
    if json {
        for record in &records {
            println!("{}", describe(record));
        }
    } else {
        AUDIT.print_text(&records, |r| {
            vec![
                rfc3339(r.at_ms),
                r.event.as_str().into(),
                r.outcome.as_str().into(),
                r.actor.clone(),
                r.client_id.as_deref().unwrap_or("-").into(),
                r.subject.as_deref().unwrap_or("-").into(),
                r.address.as_deref().unwrap_or("-").into(),
                r.reason.as_deref().unwrap_or("").into(),
            ]
        });
    }
    Ok(())
}

const AUDIT: Table<'_> = Table {
    empty: "no audit records",
    columns: &[
        ("TIME", 24),
        ("EVENT", 22),
        ("OUTCOME", 8),
        ("ACTOR", 28),
        ("CLIENT_ID", 24),
        ("SUBJECT", 24),
        ("ADDRESS", 16),
        ("REASON", 0),
    ],
};

/// A username's `sub`; anything that is not a known username is taken as a `sub` itself (the user may
/// have been deleted, and their records kept).
async fn subject_of(store: &Store, user: &str) -> Result<String> {
    if let Ok(username) = Username::parse(user)
        && let Some(found) = store.find_user_by_username(&username).await?
    {
        return Ok(found.user_id);
    }
    Ok(user.to_owned())
}

/// `--since`: a duration back from now, or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64> {
    if let Some(ago) = parse_duration(text) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(Clock::system().now_ms().saturating_sub(ago));
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        anyhow!(
            "--since: `{text}` is neither a duration such as 24h nor a time such as 2026-12-01T00:00:00Z"
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).context("--since: out of range")
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// The documented JSON form of a record.
pub(crate) fn describe(r: &AuditRecord) -> Value {
    json!({
        "time": rfc3339(r.at_ms),
        "event": r.event.as_str(),
        "actor": r.actor,
        "client_id": r.client_id,
        "subject": r.subject,
        "address": r.address,
        "outcome": r.outcome.as_str(),
        "reason": r.reason,
        "event_id": r.event_id,
    })
}

/// An operator's action, recorded once it is done.
pub(crate) fn operator(event: AuditEvent) -> AuditRecord {
    AuditRecord::new(event, "operator", Clock::system().now_ms())
}

/// Stores records of what the CLI just did; the change is made, so a failure here says so.
pub(crate) async fn record(store: &Store, records: &[AuditRecord]) -> Result<()> {
    store
        .insert_audit(records)
        .await
        .context("the change was made, but its audit record could not be stored")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_back_from_now_or_an_rfc3339_time() {
        assert_eq!(
            parse_since("2026-12-01T00:00:00Z").unwrap(),
            1_796_083_200_000
        );
        let day_ago = parse_since("1d").unwrap();
        assert!((Clock::system().now_ms() - day_ago - 86_400_000).abs() < 5_000);
        assert!(
            parse_since("yesterday")
                .unwrap_err()
                .to_string()
                .starts_with("--since: `yesterday` is neither")
        );
        assert_eq!(rfc3339(1_796_083_200_123), "2026-12-01T00:00:00.123Z");
    }
}
