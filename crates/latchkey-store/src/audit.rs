//! `AuditStore` on both backends: the audit trail's records and its stable vocabulary.
//!
//! The record's members and the event names are a documented interface (README, "Audit trail"):
//! operators query and ship them, so names are only ever added, never changed.
use std::fmt;
use std::str::FromStr;

use latchkey_core::secret::random_base64url;

/// What happened. The wire names (`as_str`) are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    /// A person signed in on the login page.
    SignInSucceeded,
    /// A sign-in failed: unknown user or wrong password.
    SignInFailed,
    /// A sign-in was refused because the account or the address is locked.
    SignInLocked,
    /// A person approved scopes for a client (and resource) on the consent page.
    ConsentGranted,
    /// A remembered consent was withdrawn.
    ConsentRevoked,
    /// An operator registered a client (`client create`).
    ClientCreated,
    /// A client's metadata changed (RFC 7592 update).
    ClientUpdated,
    /// A client was deleted.
    ClientDeleted,
    /// A client's secret was replaced.
    ClientSecretRotated,
    /// A client registered itself (RFC 7591).
    ClientRegistered,
    /// A signing key was created (the first one, at start).
    KeyCreated,
    /// A new signing key replaced the active one.
    KeyRotated,
    /// A signing key was withdrawn before its time.
    KeyRevoked,
    /// A grant was revoked with every token issued from it; `reason` says why.
    GrantRevoked,
    /// A token was exchanged (RFC 8693).
    TokenExchanged,
    /// An operator added a user.
    UserCreated,
    /// An operator deleted a user.
    UserDeleted,
    /// A user's password was set.
    UserPasswordChanged,
}

impl AuditEvent {
    /// Every event, for documentation and tests.
    pub const ALL: [AuditEvent; 18] = [
        AuditEvent::SignInSucceeded,
        AuditEvent::SignInFailed,
        AuditEvent::SignInLocked,
        AuditEvent::ConsentGranted,
        AuditEvent::ConsentRevoked,
        AuditEvent::ClientCreated,
        AuditEvent::ClientUpdated,
        AuditEvent::ClientDeleted,
        AuditEvent::ClientSecretRotated,
        AuditEvent::ClientRegistered,
        AuditEvent::KeyCreated,
        AuditEvent::KeyRotated,
        AuditEvent::KeyRevoked,
        AuditEvent::GrantRevoked,
        AuditEvent::TokenExchanged,
        AuditEvent::UserCreated,
        AuditEvent::UserDeleted,
        AuditEvent::UserPasswordChanged,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::SignInSucceeded => "sign_in.succeeded",
            AuditEvent::SignInFailed => "sign_in.failed",
            AuditEvent::SignInLocked => "sign_in.locked",
            AuditEvent::ConsentGranted => "consent.granted",
            AuditEvent::ConsentRevoked => "consent.revoked",
            AuditEvent::ClientCreated => "client.created",
            AuditEvent::ClientUpdated => "client.updated",
            AuditEvent::ClientDeleted => "client.deleted",
            AuditEvent::ClientSecretRotated => "client.secret_rotated",
            AuditEvent::ClientRegistered => "client.registered",
            AuditEvent::KeyCreated => "key.created",
            AuditEvent::KeyRotated => "key.rotated",
            AuditEvent::KeyRevoked => "key.revoked",
            AuditEvent::GrantRevoked => "grant.revoked",
            AuditEvent::TokenExchanged => "token.exchanged",
            AuditEvent::UserCreated => "user.created",
            AuditEvent::UserDeleted => "user.deleted",
            AuditEvent::UserPasswordChanged => "user.password_changed",
        }
    }

    /// The outcome the event stands for.
    pub fn outcome(self) -> Outcome {
        match self {
            AuditEvent::SignInFailed | AuditEvent::SignInLocked => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown audit event `{s}`"))
    }
}

/// Whether what was attempted happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit record: the documented schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Random; identifies the record.
    pub event_id: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What happened.
    pub event: AuditEvent,
    /// Who did it: `user:<sub>`, `client:<client_id>`, `operator` (the CLI), `server` (on its own,
    /// e.g. reuse detection), `anonymous` (an unauthenticated caller).
    pub actor: String,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The user (`sub`) concerned.
    pub subject: Option<String>,
    /// The caller's address, for events caused by a request.
    pub address: Option<String>,
    /// Whether it happened or was refused.
    pub outcome: Outcome,
    /// Why, or what exactly, in words; never a secret or a token.
    pub reason: Option<String>,
}

impl AuditRecord {
    /// A record of `event` by `actor` at `at_ms`; the outcome follows from the event.
    pub fn new(event: AuditEvent, actor: impl Into<String>, at_ms: i64) -> AuditRecord {
        AuditRecord {
            event_id: random_base64url(16),
            at_ms,
            event,
            actor: actor.into(),
            client_id: None,
            subject: None,
            address: None,
            outcome: event.outcome(),
            reason: None,
        }
    }

    /// Names the client concerned.
    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Names the user concerned.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Names the caller's address.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Says why.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// Which records `list_audit` returns: the latest `limit` matching ones, oldest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// At or after this time (milliseconds).
    pub since_ms: Option<i64>,
    /// Concerning this client.
    pub client_id: Option<String>,
    /// Concerning this user (`sub`).
    pub subject: Option<String>,
    /// At most this many.
    pub limit: u32,
}

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events \
    (event_id, at_ms, event, actor, client_id, subject, address, outcome, reason) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const LIST_AUDIT: &str = "SELECT event_id, at_ms, event, actor, client_id, subject, address, \
    outcome, reason FROM audit_events \
    WHERE ($1 IS NULL OR at_ms >= $1) AND ($2 IS NULL OR client_id = $2) AND ($3 IS NULL OR subject = $3) \
    ORDER BY at_ms DESC, event_id DESC LIMIT $4";
/// Rows deleted per statement: pruning never holds many row locks or one long transaction.
pub(crate) const PRUNE_BATCH: u64 = 1000;
pub(crate) const PRUNE_AUDIT: &str = "DELETE FROM audit_events WHERE event_id IN \
    (SELECT event_id FROM audit_events WHERE at_ms < $1 LIMIT 1000)";

/// Implements `AuditStore` for a backend struct (see `exec.rs`).
macro_rules! impl_audit_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use crate::audit::{self as q, AuditQuery, AuditRecord, Outcome};
        use crate::error::Result;
        use crate::{AuditStore, StoreError};

        fn record_from_row(row: &<$db as sqlx::Database>::Row) -> Result<AuditRecord> {
            let event: String = row.try_get("event")?;
            let outcome: String = row.try_get("outcome")?;
            Ok(AuditRecord {
                event_id: row.try_get("event_id")?,
                at_ms: row.try_get("at_ms")?,
                event: event.parse().map_err(StoreError::Corrupt)?,
                actor: row.try_get("actor")?,
                client_id: row.try_get("client_id")?,
                subject: row.try_get("subject")?,
                address: row.try_get("address")?,
                outcome: match outcome.as_str() {
                    "success" => Outcome::Success,
                    "failure" => Outcome::Failure,
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "audit record: outcome `{other}`"
                        )));
                    }
                },
                reason: row.try_get("reason")?,
            })
        }

        impl AuditStore for $store {
            async fn insert_audit(&self, records: &[AuditRecord]) -> Result<()> {
                if records.is_empty() {
                    return Ok(());
                }
                let mut tx = self.write.begin().await?;
                for r in records {
                    sqlx::query(q::INSERT_AUDIT)
                        .bind(&r.event_id)
                        .bind(r.at_ms)
                        .bind(r.event.as_str())
                        .bind(&r.actor)
                        .bind(&r.client_id)
                        .bind(&r.subject)
                        .bind(&r.address)
                        .bind(r.outcome.as_str())
                        .bind(&r.reason)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
                let statement = sqlx::query(q::LIST_AUDIT)
                    .bind(query.since_ms)
                    .bind(&query.client_id)
                    .bind(&query.subject)
                    .bind(i64::from(query.limit));
                let mut records = self.fetch_all(statement, record_from_row).await?;
                records.reverse();
                Ok(records)
            }

            async fn prune_audit(&self, before_ms: i64) -> Result<u64> {
                let query = || sqlx::query(q::PRUNE_AUDIT).bind(before_ms);
                self.delete_batched(q::PRUNE_BATCH, usize::MAX, query).await
            }
        }
    };
}

pub(crate) use impl_audit_traits;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_unique_and_parse_back() {
        let names: std::collections::BTreeSet<_> =
            AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), AuditEvent::ALL.len());
        for event in AuditEvent::ALL {
            assert_eq!(event.as_str().parse::<AuditEvent>(), Ok(event));
        }
        assert!("sign_in.maybe".parse::<AuditEvent>().is_err());
    }
}
