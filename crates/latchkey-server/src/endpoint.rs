//! One module per endpoint, named by what it serves.
pub(crate) mod authorize;
pub(crate) mod consent;
pub(crate) mod health;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod metadata;
pub(crate) mod metrics;
pub(crate) mod register;
pub(crate) mod revoke;
pub(crate) mod token;
pub(crate) mod userinfo;
