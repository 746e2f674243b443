//! The `latchkey` binary's command line and configuration, as a library so integration tests can start
//! a real server in-process with exactly the configuration path the binary uses.
pub mod cli;
pub mod config;
