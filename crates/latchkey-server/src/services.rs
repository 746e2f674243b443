//! The services layer: what the handlers call to look things up, decide with state and record. Each
//! service is built by `state.rs` with exactly what it needs (the store, the clock, its slice of the
//! settings, other services by handle) and never sees the application state or the web layer; a test
//! (`layering` below) reads the sources and fails if one does.
pub mod access_tokens;
pub mod audit;
mod cache;
pub mod cached_json;
pub mod client_address;
pub mod clients;
pub mod clock;
pub mod csrf;
pub mod fetch;
pub mod keyring;
pub mod metrics;
pub mod openid;
pub mod passwords;
pub mod rate_limit;
pub mod resources;
pub mod revocations;
pub mod throttle;
