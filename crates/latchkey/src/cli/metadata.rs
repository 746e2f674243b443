//! `latchkey metadata`: the RFC 8414 document this configuration publishes, printed without starting a
//! server or opening the database, and `--check FILE.json` to compare it with an expected document.
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct MetadataArgs {
    /// Print the document as JSON (the exact bytes served, pretty-printed).
    #[arg(long)]
    pub json: bool,
    /// Compare with the expected document in FILE (missing, extra and different members, and their
    /// order); exit non-zero on any difference.
    #[arg(long, value_name = "FILE.json")]
    pub check: Option<PathBuf>,
}

pub fn run(args: MetadataArgs, config: &Config) -> Result<()> {
    let published = config.settings.features.document();
    if let Some(path) = &args.check {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("--check: cannot read {}: {e}", path.display()))?;
        let expected: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("--check: {} is not JSON: {e}", path.display()))?;
        let expected = expected
            .as_object()
            .ok_or_else(|| anyhow!("--check: {} is not a JSON object", path.display()))?;
        let published = published.as_object().expect("the document is an object");
        let differences = compare(published, expected);
        if differences.is_empty() {
            println!(
                "the metadata matches {} ({} members, in order)",
                path.display(),
                expected.len()
            );
            return Ok(());
        }
        for difference in &differences {
            println!("{difference}");
        }
        bail!(
            "the metadata differs from {} in {} way{}",
            path.display(),
            differences.len(),
            if differences.len() == 1 { "" } else { "s" }
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&published).expect("JSON values serialise")
        );
    } else if let Value::Object(members) = &published {
        for (name, value) in members {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            println!("{name:<56} {text}");
        }
    }
    Ok(())
}

/// One way the published document differs from the expected one.
#[derive(Debug, PartialEq, Eq)]
pub enum Difference {
    /// Expected but not published.
    Missing(String),
    /// Published but not expected.
    Extra(String),
    /// Both have it, with different values (lists compare in order).
    Value {
        /// The member.
        name: String,
        /// The expected value.
        expected: Value,
        /// The published value.
        published: Value,
    },
    /// The members both have come in another order.
    Order {
        /// Their expected order.
        expected: Vec<String>,
        /// Their published order.
        published: Vec<String>,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing(name) => write!(f, "missing: {name}"),
            Difference::Extra(name) => write!(f, "extra: {name}"),
            Difference::Value {
                name,
                expected,
                published,
            } => write!(
                f,
                "different: {name}: expected {expected}, published {published}"
            ),
            Difference::Order {
                expected,
                published,
            } => write!(
                f,
                "order: expected {}; published {}",
                expected.join(", "),
                published.join(", ")
            ),
        }
    }
}

/// Every difference between two documents, member by member, then their order.
pub fn compare(published: &Map<String, Value>, expected: &Map<String, Value>) -> Vec<Difference> {
    let mut differences = Vec::new();
    for (name, value) in expected {
        match published.get(name) {
            None => differences.push(Difference::Missing(name.clone())),
            Some(actual) if actual != value => differences.push(Difference::Value {
                name: name.clone(),
                expected: value.clone(),
                published: actual.clone(),
            }),
            Some(_) => {}
        }
    }
    for name in published.keys() {
        if !expected.contains_key(name) {
            differences.push(Difference::Extra(name.clone()));
        }
    }
    let in_both = |doc: &Map<String, Value>, other: &Map<String, Value>| -> Vec<String> {
        doc.keys()
            .filter(|k| other.contains_key(*k))
            .cloned()
            .collect()
    };
    let (expected_order, published_order) =
        (in_both(expected, published), in_both(published, expected));
    if expected_order != published_order {
        differences.push(Difference::Order {
            expected: expected_order,
            published: published_order,
        });
    }
    differences
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn identical_documents_have_no_difference() {
        let doc = object(json!({"issuer": "https://a", "grant_types_supported": ["a", "b"]}));
        assert_eq!(compare(&doc, &doc), []);
    }

    #[test]
    fn missing_extra_different_and_reordered_members_are_each_reported() {
        let expected = object(json!({
            "issuer": "https://a",
            "token_endpoint": "https://a/token",
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "jwks_uri": "https://a/jwks",
        }));
        let published = object(json!({
            "issuer": "https://a",
            "jwks_uri": "https://a/jwks",
            "grant_types_supported": ["refresh_token", "authorization_code"],
            "x_extra": true,
        }));
        let differences = compare(&published, &expected);
        assert_eq!(
            differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "missing: token_endpoint",
                "different: grant_types_supported: expected [\"authorization_code\",\"refresh_token\"], published [\"refresh_token\",\"authorization_code\"]",
                "extra: x_extra",
                "order: expected issuer, grant_types_supported, jwks_uri; published issuer, jwks_uri, grant_types_supported",
            ]
        );
    }
}
