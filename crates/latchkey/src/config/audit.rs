//! `[audit]`: how long the audit trail keeps its records.
use std::time::Duration;

use latchkey_server::AuditSettings;

use super::error::{ConfigError, Section};
use super::raw::RawAudit;
use super::value::duration;

pub(crate) fn audit(raw: &RawAudit, file: &str) -> Result<AuditSettings, ConfigError> {
    let s = Section::new(file, "audit");
    let retention = duration(
        s,
        "retention",
        &raw.retention,
        AuditSettings::default().retention,
    )?;
    if retention < Duration::from_secs(3600) {
        return Err(s.error("retention", "must be at least 1h"));
    }
    Ok(AuditSettings { retention })
}
