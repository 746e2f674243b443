//! `ConfigError`: what is wrong with one configuration value, and where that value came from.
use std::fmt;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A key of the configuration file (or of built-in defaults when no file is given).
    Key {
        /// The file's path, or `config` when there is none.
        file: String,
        /// The dotted key, e.g. `tokens.code_ttl`.
        key: String,
    },
    /// An environment variable, a command-line flag, or a file named on its own.
    Source(String),
}

/// One configuration problem. Its `Display` is the one line the CLI prints:
/// `latchkey.toml: tokens.code_ttl: must be between 1s and 10m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the value came from.
    pub origin: Origin,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// A problem with a value from an environment variable, a flag or a file named on its own.
    pub fn at(source: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: Origin::Source(source.into()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Key { file, key } => write!(f, "{file}: {key}: {}", self.problem),
            Origin::Source(source) => write!(f, "{source}: {}", self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

/// One `[section]` of one file: builds errors that name the file and the section's key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section<'a> {
    pub(crate) file: &'a str,
    pub(crate) name: &'a str,
}

impl<'a> Section<'a> {
    pub(crate) fn new(file: &'a str, name: &'a str) -> Section<'a> {
        Section { file, name }
    }

    /// `section.key`, or `key` for top-level keys.
    pub(crate) fn key(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    pub(crate) fn error(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: Origin::Key {
                file: self.file.to_owned(),
                key: self.key(key),
            },
            problem: problem.into(),
        }
    }
}
