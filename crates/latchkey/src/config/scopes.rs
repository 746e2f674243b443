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

/// With OpenID on, `openid` and the claim scopes (Core §5.4) are offered and published first, unless
/// the operator configured them (then their settings, such as `public = false`, stay).
pub(crate) fn add_openid_scopes(scopes: &mut IndexMap<String, ScopeConfig>) {
    let names = std::iter::once(latchkey_core::oidc::OPENID_SCOPE)
        .chain(latchkey_core::oidc::claims::CLAIM_SCOPES);
    for (i, name) in names.enumerate() {
        if !scopes.contains_key(name) {
            scopes.shift_insert(
                i.min(scopes.len()),
                name.to_owned(),
                ScopeConfig { public: true },
            );
        }
    }
}

/// OpenID's scopes (Core §5.4) in the pages' languages: name, English, Spanish.
const OPENID_SCOPES: [(&str, &str, &str); 5] = [
    ("openid", "Know who you are", "Saber quién eres"),
    (
        "profile",
        "See your name and profile details",
        "Ver tu nombre y los datos de tu perfil",
    ),
    (
        "email",
        "See your e-mail address",
        "Ver tu dirección de correo electrónico",
    ),
    (
        "address",
        "See your postal address",
        "Ver tu dirección postal",
    ),
    (
        "phone",
        "See your phone number",
        "Ver tu número de teléfono",
    ),
];

/// Scope descriptions for the consent page: `""` is the default text, other keys are language tags.
pub(crate) fn descriptions(
    raw: &IndexMap<String, RawScope>,
    file: &str,
    openid_on: bool,
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
    // OpenID's scopes, described in the pages' languages, only while OpenID is on: otherwise a scope
    // the operator happens to call `profile` releases no claims, and the page must not say it does.
    let openid_scopes: &[(&str, &str, &str)] = if openid_on { &OPENID_SCOPES } else { &[] };
    for &(name, en, es) in openid_scopes {
        out.insert(
            name.into(),
            BTreeMap::from([("en".into(), en.into()), ("es".into(), es.into())]),
        );
    }
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
