//! OpenID Connect 1.0 on top of the authorization code flow: ID tokens (Core §2, §3.1.3.6), the
//! authentication request's parameters (Core §3.1.2.1), standard claims and the `claims` parameter
//! (Core §5), subject identifier types (Core §8), OpenID client metadata (Dynamic Registration 1.0 §2)
//! and RP-Initiated Logout 1.0.
//!
//! OpenID applies to a request whose scope holds `openid`, on a server that has it enabled; every
//! other request is plain OAuth and nothing here touches it.
pub mod claims;
pub mod client;
pub mod id_token;
pub mod logout;
pub mod request;
pub mod subject;

/// The scope value that makes an authorization request an OpenID Connect authentication request.
pub const OPENID_SCOPE: &str = "openid";

/// `amr` of every ID token: the person typed a password on the login page (RFC 8176 §2).
pub const AMR_PASSWORD: &str = "pwd";

/// The `acr` (Core §2) of a sign-in with a password, the one authentication context Latchkey
/// honours: returned in the ID token when a client asks for `acr`, and published in
/// `acr_values_supported`.
pub const ACR_PASSWORD: &str = "urn:latchkey:acr:password";
