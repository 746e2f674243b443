//! `[scopes.NAME]`: the scopes the server offers, which of them it publishes, and how the consent page
//! describes them.
use std::collections::BTreeMap;

use indexmap::IndexMap;
use latchkey_core::types::ScopeToken;
use latchkey_server::Locale;

use super::ScopeConfig;
use super::error::{ConfigError, Section};
use super::raw::RawScope;

/// The configured scopes, in the file's order.
pub(crate) fn scopes(
    raw: &IndexMap<String, RawScope>,
    file: &str,
) -> Result<IndexMap<String, ScopeConfig>, ConfigError> {
    let s = Section::new(file, "scopes");
    let mut scopes = IndexMap::new();
    for (name, scope) in raw {
        ScopeToken::parse(name.clone())
            .map_err(|_| s.error(name, "not a valid scope token (RFC 6749 §3.3)"))?;
        scopes.insert(
            name.clone(),
            ScopeConfig {
                public: scope.public.unwrap_or(true),
            },
        );
    }
    Ok(scopes)
}

/// Scope descriptions for the consent page: `""` is the default text, other keys are language tags.
pub(crate) fn descriptions(
    raw: &IndexMap<String, RawScope>,
    file: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ConfigError> {
    let s = Section::new(file, "scopes");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    // offline_access is defined by OpenID Connect; describe it even when the operator does not.
    out.insert(
        "offline_access".into(),
        BTreeMap::from([
            ("en".into(), "Keep access while you are away".into()),
            ("es".into(), "Mantener el acceso cuando no estés".into()),
        ]),
    );
    for (name, scope) in raw {
        let mut texts = BTreeMap::new();
        if let Some(description) = &scope.description {
            texts.insert(String::new(), description.clone());
        }
        for (tag, text) in &scope.translations {
            if !Locale::ALL.iter().any(|l| l.tag() == tag) {
                return Err(s.error(
                    &format!("{name}.translations.{tag}"),
                    format!("the pages are not written in `{tag}`"),
                ));
            }
            texts.insert(tag.clone(), text.clone());
        }
        if !texts.is_empty() {
            out.insert(name.clone(), texts);
        }
    }
    Ok(out)
}
