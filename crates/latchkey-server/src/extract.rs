//! Request extractors shared by endpoints: form parsing with RFC 6749's rules, client authentication, and
//! the client's address behind trusted proxies.
pub(crate) mod bearer;
pub(crate) mod client_address;
pub(crate) mod client_auth;
pub(crate) mod form;
