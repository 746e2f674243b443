//! The grant: what a user approved for a client, the record every code and refresh token of it points
//! to, so that reuse or revocation ends them all at once.
use crate::types::{ResourceUri, Scope};

/// The id that ties together a code and every token issued from it (a refresh token "family"), so that
/// code reuse or refresh-token reuse revokes them all at once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GrantId(String);

impl GrantId {
    /// A new random id, 128 bits, one an operator can type after `latchkey grant revoke`.
    pub fn generate() -> Self {
        Self(crate::secret::random_id())
    }

    /// Rebuilds a stored id.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The id, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user granted a client: the record codes and refresh tokens point to.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Its id.
    pub grant_id: GrantId,
    /// The client it was granted to.
    pub client_id: crate::types::ClientId,
    /// The user (the tokens' `sub`).
    pub user_id: String,
    /// The scope the user approved.
    pub scope: Scope,
    /// The resource the tokens are for.
    pub resource: Option<ResourceUri>,
    /// When the user signed in for it.
    pub auth_time: crate::types::Timestamp,
    /// When it was created.
    pub created_at: crate::types::Timestamp,
    /// Absolute end of refresh: no refresh token of this grant outlives it.
    pub expires_at: crate::types::Timestamp,
    /// Set when code reuse, refresh-token reuse or revocation ended it.
    pub revoked_at: Option<crate::types::Timestamp>,
    /// The browser session it was approved in (OpenID `sid`), for logout.
    pub sid: Option<String>,
    /// OpenID: the `claims` request it was made with, `Some` (possibly empty) when the scope held
    /// `openid` on a server with OpenID on.
    pub claims: Option<crate::oidc::claims::ClaimsRequest>,
}

impl Grant {
    /// Whether the tokens of this grant come with an ID token (OpenID Connect Core §3.1.3.3).
    pub fn is_openid(&self) -> bool {
        self.claims.is_some()
    }
}
