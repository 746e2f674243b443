//! Integration tests: the real server on `127.0.0.1:0`, spoken to over HTTP, on SQLite and on PostgreSQL;
//! and the real binary for what a person types.
#![allow(clippy::unwrap_used)]

mod ai_clients;
mod assertions;
mod audit;
mod authorize;
mod browser;
mod chromium;
mod cli;
mod command;
mod conformance;
mod discover;
mod discovery;
mod documents;
mod faults;
mod fleet;
mod harness;
mod http_errors;
mod instances;
mod keys;
mod lockout;
mod metrics;
mod moving;
mod openapi;
mod openid;
mod operations;
mod policy;
mod profiles;
mod races;
mod rate_limits;
mod registration;
mod services;
mod token;
