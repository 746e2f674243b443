//! The deny-list writes that every way of ending a grant, a user or a client shares (L4): what still
//! works of what they allowed is put on the deny-list in the same transaction that ends them.

/// Revoking a grant puts every access token issued from it on the deny-list.
pub(crate) const REVOKE_GRANT_TOKENS: &str = "INSERT INTO revoked_tokens (jti, expires_at) \
    SELECT jti, expires_at FROM issued_tokens WHERE grant_id = $1 ON CONFLICT DO NOTHING";
/// Before a user's or a client's rows go, every access token still outstanding for them is put on
/// the deny-list: those issued from their grants (JWT or opaque, exchanged ones included), and opaque
/// tokens by owner. (`$1` is the user id or client id.)
pub(crate) const DENY_USER_TOKENS: [&str; 2] = [
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT i.jti, i.expires_at FROM issued_tokens i \
    JOIN grants g ON g.grant_id = i.grant_id WHERE g.user_id = $1 ON CONFLICT DO NOTHING",
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT jti, expires_at FROM opaque_tokens \
    WHERE sub = $1 ON CONFLICT DO NOTHING",
];
pub(crate) const DENY_CLIENT_TOKENS: [&str; 2] = [
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT i.jti, i.expires_at FROM issued_tokens i \
    JOIN grants g ON g.grant_id = i.grant_id WHERE g.client_id = $1 ON CONFLICT DO NOTHING",
    "INSERT INTO revoked_tokens (jti, expires_at) SELECT jti, expires_at FROM opaque_tokens \
    WHERE client_id = $1 ON CONFLICT DO NOTHING",
];
/// Revokes every grant of a user (a new password ends what the old one allowed).
pub(crate) const REVOKE_USER_GRANTS: &str =
    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
