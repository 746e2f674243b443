//! A registered client (RFC 6749 §2) as the core sees it: loaded by the store, passed in by the caller.
use std::collections::BTreeSet;

use crate::secret::SecretHash;
use crate::types::{AuthMethod, ClientId, GrantType, RedirectUri, ResourceUri, Scope, Timestamp};

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
    /// What the client may do beyond its grants.
    pub policy: ClientPolicy,
}

/// A client's permissions and token preferences beyond its grant types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// A resource server role: may introspect tokens issued to any client (RFC 7662 §4 leaves who may
    /// introspect what to the server; by default a client sees only its own tokens).
    pub introspect_any: bool,
    /// Access-token format for this client, unless the resource sets one.
    pub access_token_format: Option<TokenFormat>,
    /// Resources this client may ask tokens for; empty means any configured resource. Token exchange
    /// always needs the target listed here.
    pub resources: Vec<ResourceUri>,
    /// Set for a client that registered itself (RFC 7591).
    pub registration: Option<DynamicRegistration>,
    /// Set for a client described by its Client ID Metadata Document: served only while documents
    /// are enabled, from the document, never as a registered client.
    pub metadata_document: bool,
    /// OpenID Connect metadata (Dynamic Client Registration 1.0 §2), defaults when none registered.
    pub openid: crate::oidc::client::OpenIdClient,
}

/// What a dynamically registered client has beyond its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicRegistration {
    /// SHA-256 of the RFC 7592 registration access token.
    pub token_hash: SecretHash,
    /// When it first obtained a token; one that never does expires (abuse control).
    pub activated_at: Option<Timestamp>,
}

/// How access tokens are represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// RFC 9068 JWT, verifiable by anyone with the JWKS.
    Jwt,
    /// A random reference, stored hashed, validated only through introspection.
    Opaque,
}

// The configuration and storage names.
wire_enum!(TokenFormat {
    Jwt => "jwt",
    Opaque => "opaque",
});

impl std::str::FromStr for TokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(s)
            .ok_or_else(|| format!("`{s}` is not a token format (expected jwt or opaque)"))
    }
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
    /// `private_key_jwt` (RFC 7523 §2.2): assertions signed with one of the client's public keys.
    PrivateKeyJwt {
        /// The client's `jwks`, each key a JSON object as registered; empty when `jwks_uri` is set
        /// (the server fetches them before authenticating).
        jwks: Vec<serde_json::Value>,
        /// Where the client publishes its keys, instead of `jwks`.
        jwks_uri: Option<String>,
    },
    /// A public client (`none`): it cannot keep a secret, so it has none, and PKCE binds its codes.
    Public,
}

impl ClientAuth {
    /// The registered `token_endpoint_auth_method`.
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Secret { method, .. } => *method,
            Self::PrivateKeyJwt { .. } => AuthMethod::PrivateKeyJwt,
            Self::Public => AuthMethod::None,
        }
    }
}

impl Client {
    /// Whether the operator created this client (command line or configuration), as opposed to one
    /// that registered itself (RFC 7591) or is described by its own metadata document.
    ///
    /// # Security
    /// RFC 9700 §4.11.2: the server "SHOULD only automatically redirect the user agent if it trusts
    /// the redirect URI". Anyone can register a redirect URI for the other kinds, so their URIs are
    /// not followed automatically before the person has signed in (N-M3).
    pub fn operator_created(&self) -> bool {
        self.policy.registration.is_none() && !self.policy.metadata_document
    }

    /// True for a public client (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuth::Public)
    }

    /// The scope a request gets (RFC 6749 §3.3): what it `requested`, which must lie within the
    /// client's, or the client's whole scope when it named none. The refusal lists what is out of
    /// reach.
    pub fn requested_scope(&self, requested: Option<&Scope>) -> Result<Scope, crate::OAuthError> {
        let Some(requested) = requested else {
            return Ok(self.scope.clone());
        };
        if requested.is_subset(&self.scope) {
            return Ok(requested.clone());
        }
        let refused: Vec<_> = requested
            .difference(&self.scope)
            .map(|t| t.as_str())
            .collect();
        Err(crate::OAuthError::invalid_scope(format!(
            "scope not allowed for this client: {}",
            refused.join(" ")
        )))
    }
}
