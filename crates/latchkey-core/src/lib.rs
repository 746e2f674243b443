//! Latchkey's OAuth 2.1 protocol core: the rules of RFC 6749, 8414, 9068 and friends as plain functions.
//!
//! Nothing here performs I/O or reads the clock: callers pass loaded records, the current time and
//! signing keys as arguments, so every rule is testable without a server or a database.
#![warn(missing_docs)]

#[macro_use]
mod wire;

pub mod authorize;
pub mod cimd;
pub mod client;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod grant;
pub mod introspection;
pub mod jws;
pub mod keys;
pub mod metadata;
pub mod oidc;
pub mod params;
pub mod password;
pub mod pkce;
pub mod registration;
pub mod resource;
pub mod secret;
pub mod throttle;
pub mod token;
pub mod types;
pub mod user;

pub use error::{ErrorCode, OAuthError};
