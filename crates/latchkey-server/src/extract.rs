//! Request extractors shared by endpoints: form parsing with RFC 6749's rules, and client authentication.
pub(crate) mod client_auth;
pub(crate) mod form;
