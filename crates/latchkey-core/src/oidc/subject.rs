//! Subject identifier types (OpenID Connect Core §8): `public`, the same `sub` for every client, and
//! `pairwise`, a different `sub` per sector so that clients of different sectors cannot correlate a
//! person by it.
//!
//! # Security
//! A pairwise `sub` is an HMAC-SHA256 of the sector identifier and the user id under a key derived
//! from the master key: Core §8.1's salted hash, with a secret salt, so nobody without the key can
//! compute or reverse one, and every instance of one issuer computes the same value.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::types::RedirectUri;

/// How a client sees its users' `sub`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "subject_type", rename_all = "snake_case")]
pub enum SubjectType {
    /// The user id, the same for every client.
    #[default]
    Public,
    /// A value of its own for the clients of one sector.
    Pairwise {
        /// The sector identifier: the host of the redirect URIs or of `sector_identifier_uri`.
        sector: String,
    },
}

impl SubjectType {
    /// The wire value of `subject_type`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise { .. } => "pairwise",
        }
    }
}

/// The key pairwise subjects are computed with.
pub struct PairwiseKey(aws_lc_rs::hmac::Key);

impl PairwiseKey {
    /// A key from 32 secret bytes (`MasterKey::derive("latchkey pairwise v1")`).
    pub fn new(key: [u8; 32]) -> Self {
        Self(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &key,
        ))
    }

    /// The `sub` a client with `subject_type` sees for `user_id`.
    pub fn subject(&self, user_id: &str, subject_type: &SubjectType) -> String {
        match subject_type {
            SubjectType::Public => user_id.to_owned(),
            SubjectType::Pairwise { sector } => {
                let mut context = aws_lc_rs::hmac::Context::with_key(&self.0);
                // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
                context.update(&(sector.len() as u64).to_be_bytes());
                context.update(sector.as_bytes());
                context.update(user_id.as_bytes());
                URL_SAFE_NO_PAD.encode(context.sign())
            }
        }
    }
}

impl std::fmt::Debug for PairwiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairwiseKey(<redacted>)")
    }
}

/// The sector of a client without `sector_identifier_uri` (Core §8.1): the one https host its
/// redirect URIs share.
///
/// # Security
/// N-L6: a loopback (`http://127.0.0.1:…`) or private-use-scheme redirect URI names nobody, since
/// any native app on any machine may register the same one. A sector taken from it would give
/// unrelated clients the same pairwise `sub`, so such a client's sector is its own `client_id`.
pub fn sector_of_redirect_uris(
    uris: &[RedirectUri],
    client_id: &crate::types::ClientId,
) -> Result<String, String> {
    let mut hosts = uris.iter().map(|u| {
        let url = url::Url::parse(u.as_str()).map_err(|_| "a redirect URI is not a URL")?;
        Ok::<_, &str>(match (url.scheme(), url.host_str()) {
            ("https", Some(host)) => host.to_ascii_lowercase(),
            // A space never occurs in a host name, so this cannot collide with a web sector.
            _ => format!("client {client_id}"),
        })
    });
    let first = hosts
        .next()
        .ok_or("pairwise subjects need at least one redirect URI")??;
    for host in hosts {
        if host? != first {
            return Err(
                "redirect URIs on several hosts need a sector_identifier_uri for pairwise subjects"
                    .into(),
            );
        }
    }
    Ok(first)
}

/// The sector named by `sector_identifier_uri`: its host. The URI must be https (Core §8.1).
pub fn sector_of_uri(uri: &str) -> Result<String, String> {
    let url = url::Url::parse(uri).map_err(|_| "sector_identifier_uri is not a URL".to_owned())?;
    if url.scheme() != "https" || url.fragment().is_some() {
        return Err("sector_identifier_uri must be an https URL without fragment".into());
    }
    url.host_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| "sector_identifier_uri has no host".into())
}

/// Checks the JSON fetched from `sector_identifier_uri` (Core §8.1): an array of URIs that holds every
/// redirect URI the client registers.
pub fn check_sector_document(
    document: &serde_json::Value,
    redirect_uris: &[RedirectUri],
) -> Result<(), String> {
    let listed: Vec<&str> = document
        .as_array()
        .ok_or("the sector_identifier_uri document is not a JSON array")?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    match redirect_uris.iter().find(|u| !listed.contains(&u.as_str())) {
        Some(missing) => Err(format!(
            "the sector_identifier_uri document does not list the redirect URI {}",
            missing.as_str()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uris(list: &[&str]) -> Vec<RedirectUri> {
        list.iter()
            .map(|u| RedirectUri::parse(*u).unwrap())
            .collect()
    }

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let key = PairwiseKey::new([3; 32]);
        let a = SubjectType::Pairwise {
            sector: "a.example".into(),
        };
        let b = SubjectType::Pairwise {
            sector: "b.example".into(),
        };
        assert_eq!(key.subject("u1", &SubjectType::Public), "u1");
        let sub_a = key.subject("u1", &a);
        assert_eq!(sub_a, key.subject("u1", &a), "stable");
        assert_ne!(sub_a, key.subject("u1", &b), "differs across sectors");
        assert_ne!(sub_a, key.subject("u2", &a), "differs across users");
        assert_ne!(sub_a, PairwiseKey::new([4; 32]).subject("u1", &a), "keyed");
        assert_eq!(sub_a.len(), 43);
    }

    #[test]
    fn the_sector_is_the_one_redirect_host_or_the_sector_uri_host() {
        let id = crate::types::ClientId::parse("c1").unwrap();
        assert_eq!(
            sector_of_redirect_uris(
                &uris(&["https://App.example/cb", "https://app.example/b"]),
                &id
            )
            .unwrap(),
            "app.example"
        );
        assert!(
            sector_of_redirect_uris(
                &uris(&["https://a.example/cb", "https://b.example/cb"]),
                &id
            )
            .is_err()
        );
        assert!(sector_of_redirect_uris(&[], &id).is_err());
        assert_eq!(
            sector_of_uri("https://sector.example/uris.json").unwrap(),
            "sector.example"
        );
        assert!(sector_of_uri("http://sector.example/uris.json").is_err());
    }

    #[test]
    fn n_l6_native_clients_get_a_sector_of_their_own() {
        let (notes, tracker) = (
            crate::types::ClientId::parse("notes").unwrap(),
            crate::types::ClientId::parse("tracker").unwrap(),
        );
        for (a, b) in [
            ("http://127.0.0.1:1111/cb", "http://127.0.0.1:2222/cb"),
            ("http://localhost/cb", "http://localhost/cb"),
            ("com.example.app:/cb", "com.example.app:/cb"),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                "cursor://anysphere.cursor-mcp/oauth/callback",
            ),
        ] {
            let sector_a = sector_of_redirect_uris(&uris(&[a]), &notes).unwrap();
            let sector_b = sector_of_redirect_uris(&uris(&[b]), &tracker).unwrap();
            assert_ne!(sector_a, sector_b, "{a} / {b}");
            let key = PairwiseKey::new([3; 32]);
            let sub = |sector: String| key.subject("u1", &SubjectType::Pairwise { sector });
            assert_ne!(sub(sector_a), sub(sector_b));
        }
        // One client's native URIs together are still one sector.
        assert!(
            sector_of_redirect_uris(
                &uris(&["http://127.0.0.1/cb", "http://localhost/cb", "app.x:/cb"]),
                &notes
            )
            .is_ok()
        );
    }

    #[test]
    fn the_sector_document_must_list_every_redirect_uri() {
        let registered = uris(&["https://a.example/cb", "https://b.example/cb"]);
        let doc = json!([
            "https://a.example/cb",
            "https://b.example/cb",
            "https://c.example/"
        ]);
        assert!(check_sector_document(&doc, &registered).is_ok());
        let short = json!(["https://a.example/cb"]);
        assert!(
            check_sector_document(&short, &registered)
                .unwrap_err()
                .contains("b.example")
        );
        assert!(check_sector_document(&json!({"uris": []}), &registered).is_err());
    }
}
