//! `master_key` / `master_key_file` / `--dev`: where the key that seals signing keys at rest comes from.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use latchkey_core::keys::MasterKey;

use super::error::ConfigError;
use super::pick;

/// The dev-mode master key file, created beside the working directory's database.
pub const DEV_MASTER_KEY_FILE: &str = "latchkey-dev.key";

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum MasterKeySource {
    /// The key itself, from `LATCHKEY_MASTER_KEY` or `master_key`; `origin` names which.
    Value { text: String, origin: String },
    /// A file holding the key.
    File(PathBuf),
    /// `--dev`: a file created on first use with 0600 permissions.
    DevFile(PathBuf),
    /// Nothing configured.
    Missing,
}

impl MasterKeySource {
    /// The environment beats the file; `--dev` only applies when neither names a key.
    pub(crate) fn resolve(
        text: &Option<String>,
        path: &Option<PathBuf>,
        file: &str,
        env: &BTreeMap<String, String>,
        dev: bool,
    ) -> MasterKeySource {
        let in_file = text.clone().map(|v| (v, format!("{file}: master_key")));
        match pick(None, env, "LATCHKEY_MASTER_KEY", in_file) {
            Some((text, origin)) => MasterKeySource::Value { text, origin },
            None => match env
                .get("LATCHKEY_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .or(path.clone())
            {
                Some(path) => MasterKeySource::File(path),
                None if dev => MasterKeySource::DevFile(PathBuf::from(DEV_MASTER_KEY_FILE)),
                None => MasterKeySource::Missing,
            },
        }
    }

    /// Reads the key, creating the dev key file if `--dev` and it is missing.
    pub fn read(&self) -> Result<MasterKey, ConfigError> {
        match self {
            MasterKeySource::Value { text, origin } => {
                MasterKey::parse(text).map_err(|e| ConfigError::at(origin, e))
            }
            MasterKeySource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::at(
                        "master_key_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                MasterKey::parse(&text).map_err(|e| {
                    ConfigError::at("master_key_file", format!("{}: {e}", path.display()))
                })
            }
            MasterKeySource::DevFile(path) => read_or_create_dev_key(path),
            MasterKeySource::Missing => Err(ConfigError::at(
                "master_key",
                "not set; set LATCHKEY_MASTER_KEY to 32 random bytes in base64 \
                 (`openssl rand -base64 32`), or master_key_file, or run with --dev",
            )),
        }
    }
}

#[cfg(unix)]
fn read_or_create_dev_key(path: &Path) -> Result<MasterKey, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let at = |problem: String| ConfigError::at(path.display().to_string(), problem);
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::parse(&text).map_err(at),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| at(format!("cannot create the dev master key: {e}")))?;
            writeln!(file, "{}", key.to_base64()).map_err(|e| at(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(at(format!("cannot read the dev master key: {e}"))),
    }
}
