//! The audit trail: security-relevant events as structured records (schema in
//! `latchkey_store::AuditRecord`, documented in the README), logged at once to the `latchkey::audit`
//! tracing target and stored in the database by one background writer.
//!
//! Handlers hand a record over and go on: the writer stores what has queued up in one transaction, so a
//! burst of sign-ins costs one commit, not one each. The queue is bounded and a full queue makes the
//! handler wait rather than drop the record; a record the database refuses (after retries) is logged
//! at error level in full, so it is never silently lost. Shutdown flushes the queue before the store
//! closes. The hot paths write nothing here: `client_credentials`, code redemption, refresh and
//! introspection issue no record.
use std::time::Duration;

use latchkey_core::client::Client;
use latchkey_core::types::{ClientId, ResourceUri, Scope};
use latchkey_store::{AuditEvent, AuditRecord, AuditStore, Store};
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::metrics::Metrics;

/// Records waiting for the writer before handlers wait for room.
const QUEUE: usize = 4096;
/// Records stored per transaction at most.
const BATCH: usize = 256;
/// Waits before retrying a batch the database refused.
const RETRIES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_secs(1),
];

enum Message {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// The handle handlers record through.
pub struct Audit {
    queue: mpsc::Sender<Message>,
    store: Store,
    clock: Clock,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Record(r) => write!(f, "Record({})", r.event),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Audit {
    /// Starts the writer on the current runtime; it ends when the last handle is dropped.
    pub(crate) fn start(store: Store, clock: Clock, metrics: &Metrics) -> Audit {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let written = metrics.audit_counter(true);
        let failed = metrics.audit_counter(false);
        tokio::spawn(write(store.clone(), receiver, written, failed));
        Audit {
            queue,
            store,
            clock,
        }
    }

    /// Logs `record` to `latchkey::audit` and queues it for the database.
    pub async fn record(&self, record: AuditRecord) {
        log(&record, "audit");
        if let Err(mpsc::error::SendError(Message::Record(record))) =
            self.queue.send(Message::Record(record)).await
        {
            log_lost(&record, "the audit writer has stopped");
        }
    }

    /// Waits until every record queued so far is stored (or given up on).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            stored.await.ok();
        }
    }
}

/// The record as a `latchkey::audit` event: members the record lacks are left out. `lost` is why a
/// record could not be stored: then it is an error, with the reason beside the record.
macro_rules! log_record {
    ($level:ident, $record:expr, $($rest:tt)+) => {{
        let record: &AuditRecord = $record;
        tracing::$level!(
            target: "latchkey::audit",
            event = record.event.as_str(),
            actor = %record.actor,
            client_id = record.client_id.as_deref(),
            subject = record.subject.as_deref(),
            address = record.address.as_deref(),
            outcome = record.outcome.as_str(),
            reason = record.reason.as_deref(),
            event_id = %record.event_id,
            at_ms = record.at_ms,
            $($rest)+
        )
    }};
}

fn log(record: &AuditRecord, message: &str) {
    log_record!(info, record, "{message}");
}

fn log_lost(record: &AuditRecord, why: &str) {
    log_record!(error, record, why, "audit record not stored");
}

async fn write(
    store: Store,
    mut receiver: mpsc::Receiver<Message>,
    written: prometheus_client::metrics::counter::Counter,
    failed: prometheus_client::metrics::counter::Counter,
) {
    let mut messages = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut messages, BATCH).await > 0 {
        let mut records = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Record(record) => records.push(record),
                Message::Flush(done) => flushes.push(done),
            }
        }
        let mut result = store.insert_audit(&records).await;
        for wait in RETRIES {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(wait).await;
            result = store.insert_audit(&records).await;
        }
        match result {
            Ok(()) => {
                written.inc_by(records.len() as u64);
            }
            Err(e) => {
                failed.inc_by(records.len() as u64);
                let why = e.to_string();
                for record in &records {
                    log_lost(record, &why);
                }
            }
        }
        for done in flushes {
            done.send(()).ok();
        }
    }
}

/// `scope "a b"` and the resource, for the reason of consent records.
pub fn describe_consent(scope: &Scope, resource: Option<&ResourceUri>) -> String {
    match resource {
        Some(resource) => format!("scope \"{scope}\" for {}", resource.as_str()),
        None => format!("scope \"{scope}\""),
    }
}

/// Why a grant was revoked.
#[derive(Clone, Copy, Debug)]
pub enum GrantRevocation {
    /// Its client revoked a refresh token at the revocation endpoint (on the user's behalf).
    Revocation,
    /// A used authorization code came back.
    CodeReuse,
    /// A rotated-out refresh token came back.
    RefreshTokenReuse,
    /// An operator ran `latchkey grant revoke`.
    Operator,
}

impl GrantRevocation {
    /// The reason recorded.
    pub fn describe(self) -> &'static str {
        match self {
            GrantRevocation::Revocation => {
                "its refresh token was revoked at the revocation endpoint"
            }
            GrantRevocation::CodeReuse => {
                "reuse detection: a used authorization code was presented again"
            }
            GrantRevocation::RefreshTokenReuse => {
                "reuse detection: a rotated-out refresh token was presented again"
            }
            GrantRevocation::Operator => "revoked by an operator",
        }
    }
}

/// The events handlers record, each one call.
impl Audit {
    /// The first signing key, created when the server first started.
    pub(crate) async fn key_created(&self, key: &latchkey_core::keys::SigningKey) {
        let reason = format!(
            "kid {} ({}): the first signing key",
            key.kid(),
            key.alg().as_str()
        );
        let record = AuditRecord::new(AuditEvent::KeyCreated, "server", self.clock.now_ms());
        self.record(record.reason(reason)).await;
    }

    /// A sign-in: `Ok(sub)` when it succeeded; `Err(Some(sub))` a wrong password for a known user;
    /// `Err(None)` an unknown user (whose attempted name is not recorded: people type passwords there).
    pub(crate) async fn sign_in(
        &self,
        result: Result<&str, Option<&str>>,
        client_id: &ClientId,
        address: &str,
    ) {
        let record = match result {
            Ok(sub) => AuditRecord::new(
                AuditEvent::SignInSucceeded,
                format!("user:{sub}"),
                self.clock.now_ms(),
            )
            .subject(sub),
            Err(Some(sub)) => {
                AuditRecord::new(AuditEvent::SignInFailed, "anonymous", self.clock.now_ms())
                    .subject(sub)
                    .reason("wrong password")
            }
            Err(None) => {
                AuditRecord::new(AuditEvent::SignInFailed, "anonymous", self.clock.now_ms())
                    .reason("unknown username")
            }
        };
        self.record(record.client(client_id.as_str()).address(address))
            .await;
    }

    /// A sign-in refused without checking the password: the account or the address is locked.
    pub(crate) async fn sign_in_locked(&self, client_id: &ClientId, address: &str) {
        let record = AuditRecord::new(AuditEvent::SignInLocked, "anonymous", self.clock.now_ms())
            .client(client_id.as_str())
            .address(address)
            .reason("too many failed sign-ins: the account or this address is locked");
        self.record(record).await;
    }

    /// A person approved `scope` for a client (and resource) on the consent page.
    pub(crate) async fn consent_granted(
        &self,
        sub: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
        scope: &Scope,
    ) {
        let record = AuditRecord::new(
            AuditEvent::ConsentGranted,
            format!("user:{sub}"),
            self.clock.now_ms(),
        )
        .client(client_id.as_str())
        .subject(sub)
        .reason(describe_consent(scope, resource));
        self.record(record).await;
    }

    /// A client registered itself (RFC 7591).
    pub(crate) async fn client_registered(&self, client: &Client, address: &str) {
        let record = AuditRecord::new(
            AuditEvent::ClientRegistered,
            "anonymous",
            self.clock.now_ms(),
        )
        .client(client.client_id.as_str())
        .address(address)
        .reason(format!(
            "{} ({})",
            client.name,
            client.auth.method().as_str()
        ));
        self.record(record).await;
    }

    /// A self-registered client changed (`ClientUpdated`) or deleted (`ClientDeleted`) itself with its
    /// registration access token (RFC 7592).
    pub(crate) async fn client_managed(&self, event: AuditEvent, client_id: &ClientId) {
        let record = AuditRecord::new(event, format!("client:{client_id}"), self.clock.now_ms())
            .client(client_id.as_str())
            .reason("through its registration access token (RFC 7592)");
        self.record(record).await;
    }

    /// A grant revoked with every token issued from it.
    pub(crate) async fn grant_revoked(
        &self,
        why: GrantRevocation,
        grant_id: &latchkey_core::grant::GrantId,
        client_id: &ClientId,
        subject: Option<&str>,
    ) {
        let actor = match why {
            GrantRevocation::Revocation => format!("client:{client_id}"),
            _ => "server".to_owned(),
        };
        let mut record = AuditRecord::new(AuditEvent::GrantRevoked, actor, self.clock.now_ms())
            .client(client_id.as_str())
            .reason(format!("grant {}: {}", grant_id.as_str(), why.describe()));
        if let Some(sub) = subject {
            record = record.subject(sub);
        }
        self.record(record).await;
    }

    /// A client revoked a refresh token at the revocation endpoint, and with it the grant.
    pub(crate) async fn refresh_token_revoked(&self, state: &latchkey_store::RefreshTokenState) {
        self.grant_revoked(
            GrantRevocation::Revocation,
            &state.grant.grant_id,
            &state.grant.client_id,
            Some(&state.grant.user_id),
        )
        .await;
    }

    /// Reuse detection revoked `grant_id`: a used code (`what` = `code`) or a rotated-out refresh token
    /// came back. The grant is read back for its client and user; a failed read still records the event.
    pub(crate) async fn reuse_detected(
        &self,
        what: &str,
        grant_id: &latchkey_core::grant::GrantId,
    ) {
        use latchkey_store::GrantStore;
        let why = match what {
            "code" => GrantRevocation::CodeReuse,
            _ => GrantRevocation::RefreshTokenReuse,
        };
        let mut record = AuditRecord::new(AuditEvent::GrantRevoked, "server", self.clock.now_ms())
            .reason(format!("grant {}: {}", grant_id.as_str(), why.describe()));
        if let Ok(Some(grant)) = self.store.find_grant(grant_id).await {
            record = record
                .client(grant.client_id.as_str())
                .subject(grant.user_id);
        }
        self.record(record).await;
    }

    /// `client_id` exchanged a token (RFC 8693) for one with `claims`.
    pub(crate) async fn token_exchanged(
        &self,
        client_id: &ClientId,
        claims: &latchkey_core::token::AccessTokenClaims,
    ) {
        let record = AuditRecord::new(
            AuditEvent::TokenExchanged,
            format!("client:{client_id}"),
            self.clock.now_ms(),
        )
        .client(client_id.as_str())
        .subject(claims.sub.as_str())
        .reason(format!(
            "a token for {} with scope \"{}\" (jti {})",
            claims.aud, claims.scope, claims.jti
        ));
        self.record(record).await;
    }
}
