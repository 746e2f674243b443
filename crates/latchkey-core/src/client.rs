//! A registered client (RFC 6749 §2) as the core sees it: loaded by the store, passed in by the caller.
use std::collections::BTreeSet;

use crate::secret::SecretHash;
use crate::types::{AuthMethod, ClientId, GrantType, RedirectUri, Scope, Timestamp};

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    /// RFC 6749 §2.2.
    pub client_id: ClientId,
    /// Human-readable name, shown to operators and on consent pages.
    pub name: String,
    /// How the client proves its identity.
    pub auth: ClientAuth,
    /// Grant types the client may use; any other gives `unauthorized_client`.
    pub grant_types: BTreeSet<GrantType>,
    /// The most the client may ask for; also the default when a request omits `scope`.
    pub scope: Scope,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<RedirectUri>,
    /// When the client was registered.
    pub created_at: Timestamp,
}

/// A client's registered authentication. Each variant carries only what that method needs.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// A shared secret, stored hashed, presented by `method`.
    Secret {
        /// The registered `token_endpoint_auth_method`; the other secret method is refused.
        method: AuthMethod,
        /// SHA-256 of the secret.
        hash: SecretHash,
    },
    /// A public client (`none`): it cannot keep a secret, so it has none, and PKCE binds its codes.
    Public,
}

impl ClientAuth {
    /// The registered `token_endpoint_auth_method`.
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Secret { method, .. } => *method,
            Self::Public => AuthMethod::None,
        }
    }
}

impl Client {
    /// True for a public client (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuth::Public)
    }
}
