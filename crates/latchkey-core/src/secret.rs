//! Generated secrets (client secrets, token ids) and how they are stored: hashed, compared in constant time.
use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system RNG only fails when the OS cannot provide entropy, where issuing secrets must stop.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source is available");
    bytes
}

/// `n` random bytes encoded as unpadded base64url.
pub fn random_base64url(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new random identifier that people type (client ids, user ids, grant ids): 128 bits, base64url,
/// starting with a letter or digit so that it can follow a command or an option (`latchkey grant
/// revoke ID`, `--user ID`) without being taken for an option itself.
pub fn random_id() -> String {
    loop {
        let id = random_base64url(16);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// A client secret in clear text: exists only between generation and the one time it is shown.
///
/// # Security
/// Not `Clone`, not `Serialize`, and `Debug` prints a placeholder, so it cannot leak through logs or JSON
/// by accident. Generated secrets carry 256 bits of entropy, which is why a single SHA-256 is the right
/// storage hash: a password KDF only helps against guessing low-entropy input, and would cap throughput.
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new 256-bit secret, base64url-encoded (43 characters).
    pub fn generate() -> Self {
        Self(random_base64url(32))
    }

    /// Wraps a secret a client presented.
    pub fn presented(value: String) -> Self {
        Self(value)
    }

    /// The secret in clear text, to show once to the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored in place of the secret.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.0.as_bytes())
    }

    /// Compares against a stored hash in constant time.
    pub fn verify(&self, stored: &SecretHash) -> bool {
        self.hash().ct_eq(stored)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// SHA-256 of a high-entropy secret (client secret, code, refresh or opaque token).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a secret value.
    pub fn of(secret: &[u8]) -> Self {
        let digest = digest::digest(&digest::SHA256, secret);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Rebuilds a hash loaded from storage; `None` when the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw hash, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time equality, so response timing reveals nothing about how much of a guess matched.
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_never_start_like_an_option() {
        for _ in 0..2000 {
            let id = super::random_id();
            assert_eq!(id.len(), 22);
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_and_distinct() {
        let (a, b) = (ClientSecret::generate(), ClientSecret::generate());
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn verify_accepts_only_the_same_secret() {
        let secret = ClientSecret::generate();
        let stored = secret.hash();
        assert!(ClientSecret::presented(secret.expose().to_owned()).verify(&stored));
        assert!(!ClientSecret::presented(format!("{}x", secret.expose())).verify(&stored));
        assert!(!ClientSecret::presented(String::new()).verify(&stored));
    }

    #[test]
    fn sha256_matches_the_fips_180_test_vector() {
        let hash = SecretHash::of(b"abc");
        let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = ClientSecret::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
