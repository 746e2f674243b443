//! The storage interface by role (lldap's handler traits): what the server and the CLI may ask of a
//! store, and the records those calls exchange. `sqlite.rs` and `postgres.rs` implement every trait;
//! `dispatch.rs` forwards them from `Store`.
use std::future::Future;

use latchkey_core::client::Client;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
use latchkey_core::grant::{Grant, GrantId};
use latchkey_core::keys::KeyAlg;
use latchkey_core::password::PasswordHash;
use latchkey_core::resource::Resource;
use latchkey_core::secret::SecretHash;
use latchkey_core::throttle::{Counter, ThrottleKey};
use latchkey_core::token::RefreshTokenRecord;
use latchkey_core::types::{AuthMethod, ClientId, ResourceUri, Scope, Timestamp};
use latchkey_core::user::{User, Username};

use crate::{AuditQuery, AuditRecord, StoreError};

/// A signing key as stored: its private half sealed under the master key.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: KeyAlg,
    /// Nonce, ciphertext and tag of the PKCS#8 private key.
    pub sealed_private: Vec<u8>,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When a newer key replaced it; `None` while it is current (one current key per algorithm).
    pub retired_at: Option<Timestamp>,
    /// Whether it signs access tokens: exactly one current key does.
    pub active: bool,
}

/// Registered clients.
pub trait ClientStore {
    /// Adds a client; `Conflict` if the client_id is taken.
    fn insert_client(&self, client: &Client)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Loads a client by id.
    fn find_client(
        &self,
        id: &ClientId,
    ) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;
    /// All clients, oldest first.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>, StoreError>> + Send;
    /// Removes a client, after deny-listing every access token still outstanding for it (from its
    /// grants, and its opaque tokens); `false` if there was none.
    fn delete_client(&self, id: &ClientId)
    -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a client's secret hash (and its secret method); `false` if there is no such client.
    fn set_client_secret(
        &self,
        id: &ClientId,
        method: AuthMethod,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Signing keys.
pub trait KeyStore {
    /// Stores `key` as the active key unless one exists already; `false` when another was there first.
    fn insert_first_key(
        &self,
        key: &StoredKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores `key` as the current key of its algorithm, not signing access tokens, unless that
    /// algorithm has one already; `false` when another was there first.
    fn insert_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces keys in one transaction: each of `keys` retires the current key of its algorithm at
    /// `now` and becomes current; the one marked `active` also takes over signing access tokens from
    /// the key that did (which is retired too).
    fn rotate_keys(
        &self,
        keys: &[StoredKey],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every stored key: the active one first, then the others newest first.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;
    /// Deletes keys retired before `before`; returns how many.
    fn prune_keys(&self, before: Timestamp)
    -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes one retired key at once (a compromised key); `false` if there is no such retired key.
    fn delete_retired_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Users: the resource owners who sign in.
pub trait UserStore {
    /// Adds a user; `Conflict` if the username is taken.
    fn insert_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Loads a user by username.
    fn find_user_by_username(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Loads a user by id.
    fn find_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// All users, oldest first.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// Removes a user with their sessions, consents and grants, after deny-listing every access token
    /// still outstanding for them; `false` if there was none.
    fn delete_user(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a user's e-mail, name, other attributes and `updated_at`; `false` if there is no such
    /// user.
    fn update_user(&self, user: &User) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces a user's password hash and ends their sessions; with `revoke_grants_at`, also revokes
    /// their grants (refresh tokens) and deny-lists their access tokens. `false` if there is no such user.
    fn set_password(
        &self,
        username: &Username,
        hash: &PasswordHash,
        revoke_grants_at: Option<Timestamp>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A signed-in browser session, found by the hash of its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub user_id: String,
    /// When the user signed in.
    pub auth_time: Timestamp,
    /// When the session ends.
    pub expires_at: Timestamp,
    /// The session's public id (OpenID Connect `sid`); `None` for sessions older than OpenID support.
    pub sid: Option<String>,
}

/// Browser sessions and remembered consent.
pub trait SessionStore {
    /// Stores a session under the hash of its cookie value.
    fn insert_session(
        &self,
        hash: &SecretHash,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The unexpired session with this hash.
    fn find_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// The unexpired session with this hash and its user, in one query: what every page needs.
    fn find_signed_in(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<(Session, User)>, StoreError>> + Send;
    /// Ends a session.
    fn delete_session(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The scopes a user has approved for a client and resource.
    fn find_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> impl Future<Output = Result<Option<Scope>, StoreError>> + Send;
    /// Forgets what a user approved for a client and resource; `false` if nothing was recorded.
    fn delete_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records approval of `scope` (replacing what was recorded for that user, client and resource).
    fn save_consent(
        &self,
        user_id: &str,
        client_id: &ClientId,
        resource: Option<&ResourceUri>,
        scope: &Scope,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A code or refresh token as presented, before anything is spent: its record, its grant, and
/// whether it was used already. The token endpoint checks the presenting client, grant type, scope and
/// resource against it first (L2), so a request that fails a check spends nothing.
#[derive(Debug)]
pub struct Presented<T> {
    /// The stored code or token.
    pub record: T,
    /// Whether it was used (a code redeemed, a refresh token rotated out).
    pub used: bool,
    /// Its grant.
    pub grant: Grant,
}

/// Grants and the codes and refresh tokens issued from them.
pub trait GrantStore {
    /// Stores a new grant and its authorization code, in one transaction.
    fn insert_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCodeRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The code with this hash and its grant, used or not, in one query.
    fn find_code(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<Presented<AuthorizationCodeRecord>>, StoreError>> + Send;
    /// Marks the code used: `true` when this call did. Of two concurrent calls, exactly one gets
    /// `true`; `false` means it was used (or is gone) and the caller applies the reuse rule.
    fn consume_code(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores a refresh token.
    fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a refresh token used (rotated out): `true` when this call did. Of two concurrent calls,
    /// exactly one gets `true`.
    fn use_refresh_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Revokes the grants `client_id` was given in browser session `sid`, with their refresh and
    /// access tokens (RP-initiated logout, when configured); returns how many.
    fn revoke_session_grants(
        &self,
        sid: &str,
        client_id: &ClientId,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// A grant by id, whatever its state.
    fn find_grant(
        &self,
        grant_id: &GrantId,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
    /// A user's grants that are neither revoked nor expired at `now`, oldest first.
    fn list_grants(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Grant>, StoreError>> + Send;
    /// The grant an access token (by `jti`) was issued from, if it came from one.
    fn find_grant_of_token(
        &self,
        jti: &str,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;
    /// Revokes a grant, and with it every code and refresh token issued from it.
    fn revoke_grant(
        &self,
        grant_id: &GrantId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A refresh token as found by the token endpoint, introspection or revocation, rotated out or not.
pub type RefreshTokenState = Presented<RefreshTokenRecord>;

/// Opaque access tokens, the access tokens of grants, and revocation.
pub trait TokenStore {
    /// Remembers that access token `jti` was issued from `grant_id`, so revoking the grant reaches it,
    /// and stores the refresh token issued with it, in one transaction. `false` (and nothing stored)
    /// when the grant is revoked: a revocation and an issuance never interleave so that the new token
    /// escapes the deny-list (L3); the caller must not hand the token out.
    fn record_issued(
        &self,
        jti: &str,
        grant_id: &GrantId,
        expires_at: Timestamp,
        refresh: Option<&RefreshTokenRecord>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores an opaque access token: its hash and the claims it stands for.
    fn insert_opaque(
        &self,
        hash: &SecretHash,
        claims: &latchkey_core::token::AccessTokenClaims,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The claims behind an opaque access token.
    fn find_opaque(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<latchkey_core::token::AccessTokenClaims>, StoreError>> + Send;
    /// Puts an access token id on the deny-list until `expires_at`.
    fn revoke_jti(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether an access token id is on the deny-list.
    fn is_revoked(&self, jti: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// A refresh token by hash, whatever its state.
    fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<RefreshTokenState>, StoreError>> + Send;
    /// Deletes what expired before `before` (deny-list entries, opaque tokens, codes, sessions, and in
    /// bounded batches refresh tokens, grants and initial access tokens).
    fn prune(&self, before: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Resources added with `latchkey resource add` (the configuration file can list more).
pub trait ResourceStore {
    /// Adds a resource; `Conflict` if its identifier is taken.
    fn insert_resource(
        &self,
        resource: &Resource,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A resource by identifier.
    fn find_resource(
        &self,
        uri: &ResourceUri,
    ) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send;
    /// All resources, by identifier.
    fn list_resources(&self) -> impl Future<Output = Result<Vec<Resource>, StoreError>> + Send;
    /// Removes a resource; `false` if there was none.
    fn delete_resource(
        &self,
        uri: &ResourceUri,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// What dynamic client registration (RFC 7591/7592) needs beyond `ClientStore`.
pub trait RegistrationStore {
    /// Replaces a client's name, grant types, scope and redirect URIs (RFC 7592 §2.2).
    fn update_client_metadata(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a client assertion's `jti` until `expires_at`; `false` when it was used before.
    fn record_assertion(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records that a dynamically registered client obtained its first token.
    fn activate_client(
        &self,
        id: &ClientId,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Writes a Client ID Metadata Document's client whole (insert or replace) and marks it as one;
    /// `false` when the id belongs to a client that is not a document client, which is never touched.
    fn upsert_document_client(
        &self,
        client: &Client,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes document clients last fetched before `before` that no grant or consent refers to.
    fn prune_document_clients(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes dynamically registered clients created before `before` that never obtained a token.
    fn prune_unused_clients(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Stores an initial access token (RFC 7591 §3) for closed registration.
    fn insert_initial_access_token(
        &self,
        hash: &SecretHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether an initial access token exists and is unexpired.
    fn initial_access_token_valid(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Failed-login counters and per-address event windows, in the database so that every instance on it
/// counts the same attempts. The rules that decide what a counter becomes live in
/// `latchkey_core::throttle`.
pub trait ThrottleStore {
    /// Reads the counters of `keys` (a key never seen reads as `Counter::default()`) and replaces them
    /// with what `update` returns, in one transaction holding their rows locked: concurrent updates of
    /// a key, from any instance, happen one after the other. When `update` refuses, nothing is written.
    fn update_counters<T, R, F>(
        &self,
        keys: &[ThrottleKey],
        update: F,
    ) -> impl Future<Output = Result<Result<T, R>, StoreError>> + Send
    where
        T: Send,
        R: Send,
        F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send;
    /// Counts one event under `key` in the window that starts at `window_start`; returns how many the
    /// window holds now, this one included.
    fn count_event(
        &self,
        key: &ThrottleKey,
        window_start: Timestamp,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
    /// Deletes counters with nothing left to remember at `now` (last failure before `forget_before`, no
    /// lock, nothing in flight) and windows that started before `windows_before`, in bounded batches.
    fn prune_throttle(
        &self,
        forget_before: Timestamp,
        now: Timestamp,
        windows_before: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The audit trail (`audit_events`).
pub trait AuditStore {
    /// Stores `records` in one transaction.
    fn insert_audit(
        &self,
        records: &[AuditRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The latest records `query` matches, oldest first.
    fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
    /// Deletes records older than `before_ms`, in bounded batches; returns how many.
    fn prune_audit(&self, before_ms: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Liveness of the database itself, and the change counter caches watch.
pub trait HealthStore {
    /// Runs a trivial query.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Numbers that change whenever a client or a resource changes, and whenever a token is revoked,
    /// whoever changed it.
    fn versions(&self) -> impl Future<Output = Result<Versions, StoreError>> + Send;
}

/// The change counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Clients and resources.
    pub registry: i64,
    /// The deny-list of revoked tokens.
    pub revocations: i64,
}

/// Implements every role for a backend struct with `pool` (readers) and `write` fields: one module
/// per role file, each expanding that file's macro, with the statement helpers of `exec.rs`;
/// `$begin` starts a counter transaction (`throttle.rs`). The backend implements
/// `commit::Backend` itself.
macro_rules! impl_roles {
    ($store:ident, $db:ty, $begin:expr) => {
        crate::roles::impl_roles!(@each $store, $db;
            exec: impl_exec, clients: impl_client_traits, keys: impl_key_traits,
            health: impl_health_traits, users: impl_user_traits, grants: impl_grant_traits,
            tokens: impl_token_traits, audit: impl_audit_traits);
        mod throttle {
            crate::throttle::impl_throttle_traits!(super::$store, $db, $begin);
        }
    };
    (@each $store:ident, $db:ty; $($file:ident: $implement:ident),*) => {
        $(mod $file {
            crate::$file::$implement!(super::$store, $db);
        })*
    };
}

pub(crate) use impl_roles;
