//! `Store` forwards every role to its backend: one two-arm `match` per method, no boxed futures.
//!
//! Each method is listed once, by its signature in the trait (the compiler checks that they agree),
//! and `forward!` writes the `match`: the enum's price is one line per method, not a body per method.
use latchkey_core::client::Client;
use latchkey_core::grant::authorization_code::AuthorizationCodeRecord;
use latchkey_core::grant::{Grant, GrantId};
use latchkey_core::password::PasswordHash;
use latchkey_core::resource::Resource;
use latchkey_core::secret::SecretHash;
use latchkey_core::throttle::{Counter, ThrottleKey};
use latchkey_core::token::{AccessTokenClaims, RefreshTokenRecord};
use latchkey_core::types::{AuthMethod, ClientId, ResourceUri, Scope, Timestamp};
use latchkey_core::user::{User, Username};

use crate::{
    AuditQuery, AuditRecord, AuditStore, ClientStore, GrantStore, HealthStore, KeyStore, Presented,
    RefreshTokenState, RegistrationStore, ResourceStore, Session, SessionStore, Store, StoreError,
    StoredKey, ThrottleStore, TokenStore, UserStore, Versions,
};

/// Implements `$role for Store`, each listed method answering `Result<$ok, StoreError>` from the
/// backend's implementation.
macro_rules! forward {
    ($role:ident { $(fn $method:ident($($arg:ident: $ty:ty),*) -> $ok:ty;)* }) => {
        impl $role for Store {
            $(async fn $method(&self, $($arg: $ty),*) -> Result<$ok, StoreError> {
                match self {
                    Store::Sqlite(s) => s.$method($($arg),*).await,
                    Store::Postgres(p) => p.$method($($arg),*).await,
                }
            })*
        }
    };
}

forward! { ClientStore {
    fn insert_client(client: &Client) -> ();
    fn find_client(id: &ClientId) -> Option<Client>;
    fn list_clients() -> Vec<Client>;
    fn delete_client(id: &ClientId) -> bool;
    fn set_client_secret(id: &ClientId, method: AuthMethod, hash: &SecretHash) -> bool;
} }

forward! { KeyStore {
    fn insert_first_key(key: &StoredKey) -> bool;
    fn insert_key(key: &StoredKey) -> bool;
    fn rotate_keys(keys: &[StoredKey], now: Timestamp) -> ();
    fn list_keys() -> Vec<StoredKey>;
    fn prune_keys(before: Timestamp) -> u64;
    fn delete_retired_key(kid: &str) -> bool;
} }

forward! { UserStore {
    fn insert_user(user: &User) -> ();
    fn find_user_by_username(username: &Username) -> Option<User>;
    fn find_user(user_id: &str) -> Option<User>;
    fn list_users() -> Vec<User>;
    fn delete_user(username: &Username) -> bool;
    fn update_user(user: &User) -> bool;
    fn set_password(
        username: &Username, hash: &PasswordHash, revoke_grants_at: Option<Timestamp>
    ) -> bool;
} }

forward! { SessionStore {
    fn insert_session(hash: &SecretHash, session: &Session) -> ();
    fn find_session(hash: &SecretHash, now: Timestamp) -> Option<Session>;
    fn find_signed_in(hash: &SecretHash, now: Timestamp) -> Option<(Session, User)>;
    fn delete_session(hash: &SecretHash) -> ();
    fn find_consent(
        user_id: &str, client_id: &ClientId, resource: Option<&ResourceUri>
    ) -> Option<Scope>;
    fn delete_consent(
        user_id: &str, client_id: &ClientId, resource: Option<&ResourceUri>
    ) -> bool;
    fn save_consent(
        user_id: &str, client_id: &ClientId, resource: Option<&ResourceUri>, scope: &Scope,
        now: Timestamp
    ) -> ();
} }

forward! { GrantStore {
    fn insert_code(grant: &Grant, code: &AuthorizationCodeRecord) -> ();
    fn find_code(hash: &SecretHash) -> Option<Presented<AuthorizationCodeRecord>>;
    fn consume_code(hash: &SecretHash, now: Timestamp) -> bool;
    fn insert_refresh_token(token: &RefreshTokenRecord) -> ();
    fn use_refresh_token(hash: &SecretHash, now: Timestamp) -> bool;
    fn revoke_session_grants(sid: &str, client_id: &ClientId, now: Timestamp) -> u64;
    fn find_grant(grant_id: &GrantId) -> Option<Grant>;
    fn list_grants(user_id: &str, now: Timestamp) -> Vec<Grant>;
    fn find_grant_of_token(jti: &str) -> Option<Grant>;
    fn revoke_grant(grant_id: &GrantId, now: Timestamp) -> ();
} }

forward! { TokenStore {
    fn record_issued(
        jti: &str, grant_id: &GrantId, expires_at: Timestamp, refresh: Option<&RefreshTokenRecord>
    ) -> bool;
    fn insert_opaque(hash: &SecretHash, claims: &AccessTokenClaims) -> ();
    fn find_opaque(hash: &SecretHash) -> Option<AccessTokenClaims>;
    fn revoke_jti(jti: &str, expires_at: Timestamp) -> ();
    fn is_revoked(jti: &str) -> bool;
    fn find_refresh_token(hash: &SecretHash) -> Option<RefreshTokenState>;
    fn prune(before: Timestamp) -> u64;
} }

forward! { ResourceStore {
    fn insert_resource(resource: &Resource, now: Timestamp) -> ();
    fn find_resource(uri: &ResourceUri) -> Option<Resource>;
    fn list_resources() -> Vec<Resource>;
    fn delete_resource(uri: &ResourceUri) -> bool;
} }

forward! { RegistrationStore {
    fn update_client_metadata(client: &Client) -> bool;
    fn record_assertion(client_id: &ClientId, jti: &str, expires_at: Timestamp) -> bool;
    fn activate_client(id: &ClientId, now: Timestamp) -> ();
    fn upsert_document_client(client: &Client) -> bool;
    fn prune_document_clients(before: Timestamp) -> u64;
    fn prune_unused_clients(before: Timestamp) -> u64;
    fn insert_initial_access_token(hash: &SecretHash, now: Timestamp, expires_at: Timestamp) -> ();
    fn initial_access_token_valid(hash: &SecretHash, now: Timestamp) -> bool;
} }

forward! { AuditStore {
    fn insert_audit(records: &[AuditRecord]) -> ();
    fn list_audit(query: &AuditQuery) -> Vec<AuditRecord>;
    fn prune_audit(before_ms: i64) -> u64;
} }

forward! { HealthStore {
    fn ping() -> ();
    fn versions() -> Versions;
} }

// Generic over the caller's closure, which `forward!` does not take: written out.
impl ThrottleStore for Store {
    async fn update_counters<T, R, F>(
        &self,
        keys: &[ThrottleKey],
        update: F,
    ) -> Result<Result<T, R>, StoreError>
    where
        T: Send,
        R: Send,
        F: FnOnce(&[Counter]) -> Result<(Vec<Counter>, T), R> + Send,
    {
        match self {
            Store::Sqlite(s) => s.update_counters(keys, update).await,
            Store::Postgres(p) => p.update_counters(keys, update).await,
        }
    }

    async fn count_event(
        &self,
        key: &ThrottleKey,
        window_start: Timestamp,
    ) -> Result<u32, StoreError> {
        match self {
            Store::Sqlite(s) => s.count_event(key, window_start).await,
            Store::Postgres(p) => p.count_event(key, window_start).await,
        }
    }

    async fn prune_throttle(
        &self,
        forget_before: Timestamp,
        now: Timestamp,
        windows_before: Timestamp,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.prune_throttle(forget_before, now, windows_before).await,
            Store::Postgres(p) => p.prune_throttle(forget_before, now, windows_before).await,
        }
    }
}
