//! User passwords: Argon2id (RFC 9106) in the PHC string format, and the minimum-length policy.
//!
//! Unlike client secrets, passwords are chosen by people and have little entropy, so a slow,
//! memory-hard hash is what stops an offline guesser who obtained the database.
use std::fmt;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::secret::random_bytes;

/// Argon2id cost for new hashes: OWASP's recommendation of 19 MiB, 2 passes, 1 lane. Stored hashes
/// carry their own parameters, so raising these later still verifies old ones.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const OUTPUT_LEN: usize = 32;

/// A password in clear text, as typed. Not `Clone`; `Debug` prints a placeholder.
pub struct Password(String);

impl Password {
    /// Wraps a password a person typed.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Characters, for the length policy (not bytes: a password in Spanish is not penalised for ñ).
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// Hashes the password with a fresh 16-byte salt.
    pub fn hash(&self) -> PasswordHash {
        self.hash_with(&mut HashMemory::new())
    }

    /// `hash`, reusing `memory`.
    pub fn hash_with(&self, memory: &mut HashMemory) -> PasswordHash {
        let salt: [u8; 16] = random_bytes();
        let digest = derive(&self.0, &salt, MEMORY_KIB, PASSES, LANES, memory)
            .expect("the built-in Argon2 parameters are valid");
        PasswordHash(format!(
            "$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(digest)
        ))
    }

    /// Checks the password against a stored hash, in constant time. A malformed hash never verifies.
    pub fn verify(&self, stored: &PasswordHash) -> bool {
        self.verify_with(stored, &mut HashMemory::new())
    }

    /// `verify`, reusing `memory`.
    pub fn verify_with(&self, stored: &PasswordHash, memory: &mut HashMemory) -> bool {
        let Some(parsed) = Parsed::from(&stored.0) else {
            return false;
        };
        match derive(&self.0, &parsed.salt, parsed.m, parsed.t, parsed.p, memory) {
            Some(digest) => {
                aws_lc_rs::constant_time::verify_slices_are_equal(&digest, &parsed.hash).is_ok()
            }
            None => false,
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored Argon2id hash in PHC format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Rebuilds a hash loaded from storage; `None` when it is not an Argon2id PHC string.
    pub fn from_stored(value: String) -> Option<Self> {
        Parsed::from(&value).map(|_| Self(value))
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash of a random password, verified against when a username does not exist, so that the
    /// response time does not reveal whether it does.
    pub fn decoy(memory: &mut HashMemory) -> Self {
        Password::new(crate::secret::random_base64url(16)).hash_with(memory)
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

struct Parsed {
    m: u32,
    t: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Parsed {
    fn from(phc: &str) -> Option<Parsed> {
        let mut parts = phc.split('$');
        let (Some(""), Some("argon2id"), Some("v=19"), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let mut values = params.split(',').map(|kv| kv.split_once('='));
        let mut next = |key: &str| match values.next() {
            Some(Some((k, v))) if k == key => v.parse::<u32>().ok(),
            _ => None,
        };
        let (m, t, p) = (next("m")?, next("t")?, next("p")?);
        let salt = STANDARD_NO_PAD.decode(salt).ok()?;
        let hash = STANDARD_NO_PAD.decode(hash).ok()?;
        (hash.len() == OUTPUT_LEN).then_some(Parsed {
            m,
            t,
            p,
            salt,
            hash,
        })
    }
}

/// Argon2's working memory (19 MiB with the built-in cost), kept between hashes.
///
/// Allocating and freeing it for every login makes the allocator keep a copy per thread that ever
/// hashed, and resident memory grows with concurrency; a few of these, reused, keep it bounded.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// Empty; sized on first use.
    pub fn new() -> Self {
        Self(Vec::new())
    }
}

impl fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashMemory({} KiB)", self.0.len())
    }
}

fn derive(
    password: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
    memory: &mut HashMemory,
) -> Option<[u8; OUTPUT_LEN]> {
    // Refuse stored parameters so large that verifying would exhaust memory: 256 MiB is far above any
    // sensible setting.
    if m > 256 * 1024 || t > 64 || p > 16 {
        return None;
    }
    let params = Params::new(m, t, p, Some(OUTPUT_LEN)).ok()?;
    let blocks = params.block_count();
    let mut out = [0u8; OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    if blocks > MEMORY_KIB as usize {
        // A stored hash costlier than ours (raised later, or imported): its memory is not kept.
        let mut once = vec![Block::default(); blocks];
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut once[..])
            .ok()?;
        return Some(out);
    }
    if memory.0.len() < blocks {
        memory.0.resize(blocks, Block::default());
    }
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory.0[..blocks],
        )
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_same_password() {
        let hash = Password::new("correct horse".into()).hash();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(Password::new("correct horse".into()).verify(&hash));
        assert!(!Password::new("correct horsE".into()).verify(&hash));
        let again = Password::new("correct horse".into()).hash();
        assert_ne!(hash, again, "salted");
    }

    #[test]
    fn rfc_9106_style_phc_strings_from_other_tools_verify() {
        // Produced by the reference `argon2` CLI: echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32 -e
        let stored = PasswordHash::from_stored(
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
                .into(),
        )
        .unwrap();
        assert!(Password::new("password".into()).verify(&stored));
        assert!(!Password::new("Password".into()).verify(&stored));
    }

    #[test]
    fn malformed_or_hostile_hashes_never_verify() {
        for bad in [
            "",
            "plain",
            "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        ] {
            let parsed = PasswordHash::from_stored(bad.into());
            assert!(
                parsed.is_none_or(|h| !Password::new("password".into()).verify(&h)),
                "{bad}"
            );
        }
    }

    #[test]
    fn reused_memory_gives_the_same_answers() {
        let mut memory = HashMemory::new();
        let hash = Password::new("one".into()).hash_with(&mut memory);
        assert!(Password::new("one".into()).verify_with(&hash, &mut memory));
        assert!(!Password::new("two".into()).verify_with(&hash, &mut memory));
        // A cheaper stored hash (m=65536 is costlier; m=16 cheaper) verifies with the same memory.
        let cheap = PasswordHash::from_stored(
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
                .into(),
        )
        .unwrap();
        assert!(Password::new("password".into()).verify_with(&cheap, &mut memory));
    }

    #[test]
    fn length_counts_characters() {
        assert_eq!(Password::new("contraseña".into()).char_count(), 10);
    }
}
