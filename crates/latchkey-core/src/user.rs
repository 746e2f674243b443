//! Resource owners: the people who sign in on the login page and approve clients.
use std::fmt;

use crate::password::PasswordHash;
use crate::types::Timestamp;

/// A user as stored.
#[derive(Clone, Debug)]
pub struct User {
    /// Stable, opaque id: the `sub` of tokens. Never the username, which may be reused after deletion.
    pub user_id: String,
    /// What the person types to sign in.
    pub username: Username,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Optional display name.
    pub name: Option<String>,
    /// Argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// When the user was added.
    pub created_at: Timestamp,
}

impl User {
    /// A new random user id.
    pub fn generate_id() -> String {
        crate::secret::random_base64url(16)
    }
}

/// A username: 1 to 64 characters, no whitespace or control characters, compared exactly.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    /// Validates a username; the error says what is wrong.
    pub fn parse(value: &str) -> Result<Self, String> {
        let count = value.chars().count();
        if count == 0 || count > 64 {
            return Err("a username has 1 to 64 characters".into());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a username has no spaces or control characters".into());
        }
        Ok(Self(value.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_short_visible_words() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("josé.garcía@example.com").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a\u{0}").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }
}
