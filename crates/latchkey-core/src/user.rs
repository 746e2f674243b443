//! Resource owners: the people who sign in on the login page and approve clients.
use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// The other standard claims (OpenID Connect Core §5.1) the operator has set.
    pub attributes: UserAttributes,
    /// When any of the user's claims last changed (`updated_at`).
    pub updated_at: Timestamp,
}

/// A user's standard claims beyond `name` and `email` (OpenID Connect Core §5.1), each optional and
/// released only through the scopes or `claims` requests that cover it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAttributes {
    /// Given name(s) or first name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Surname(s) or last name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Casual name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// URL of the profile page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// URL of a profile picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// URL of a web page or blog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Gender, as the person states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Birthday, `YYYY-MM-DD` or `YYYY` (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    /// Time zone from the IANA database, such as `Europe/Madrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    /// Locale as a BCP 47 tag, such as `es-ES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Whether the e-mail address was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Telephone number, E.164 recommended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the telephone number was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// Postal address (§5.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// A postal address (OpenID Connect Core §5.1.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The full address as it would be printed on a label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Street, house number, and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// City or locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    /// True when no part is set.
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

impl User {
    /// A new random user id (its `sub`), one an operator can type after `--user`.
    pub fn generate_id() -> String {
        crate::secret::random_id()
    }

    /// Sets one standard claim by its OpenID name (Core §5.1; the address parts by their §5.1.1
    /// names), checking its form; `None` or an empty value removes it. The error says what is wrong.
    pub fn set_claim(&mut self, claim: &str, value: Option<&str>) -> Result<(), String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        let text = value.map(str::to_owned);
        if text.as_ref().is_some_and(|t| t.chars().count() > 500) {
            return Err(format!("{claim}: longer than 500 characters"));
        }
        let flag = |v: Option<&str>| match v {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(format!("{claim}: expected true or false, got `{other}`")),
        };
        let url = |v: &Option<String>| match v {
            Some(u) if !matches!(url::Url::parse(u), Ok(p) if p.scheme() == "https") => {
                Err(format!("{claim}: expected an https URL"))
            }
            _ => Ok(()),
        };
        let a = &mut self.attributes;
        match claim {
            "name" => self.name = text,
            "email" => {
                if text
                    .as_ref()
                    .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
                {
                    return Err("email: expected an address such as maria@example.com".into());
                }
                self.email = text;
            }
            "email_verified" => a.email_verified = flag(value)?,
            "phone_number_verified" => a.phone_number_verified = flag(value)?,
            "given_name" => a.given_name = text,
            "family_name" => a.family_name = text,
            "middle_name" => a.middle_name = text,
            "nickname" => a.nickname = text,
            "gender" => a.gender = text,
            "zoneinfo" => a.zoneinfo = text,
            "phone_number" => a.phone_number = text,
            "profile" | "picture" | "website" => {
                url(&text)?;
                match claim {
                    "profile" => a.profile = text,
                    "picture" => a.picture = text,
                    _ => a.website = text,
                }
            }
            "locale" => {
                let valid = |t: &str| {
                    t.split(['-', '_']).all(|p| {
                        !p.is_empty()
                            && p.len() <= 8
                            && p.chars().all(|c| c.is_ascii_alphanumeric())
                    })
                };
                if text.as_deref().is_some_and(|t| !valid(t)) {
                    return Err("locale: expected a language tag such as es-ES".into());
                }
                a.locale = text;
            }
            "birthdate" => {
                // Core §5.1: YYYY-MM-DD, or YYYY alone, or 0000-MM-DD when the year is withheld.
                let valid = |t: &str| {
                    let digits =
                        |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_digit());
                    match t.split('-').collect::<Vec<_>>().as_slice() {
                        [y] => digits(y, 4),
                        [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2),
                        _ => false,
                    }
                };
                if text.as_deref().is_some_and(|t| !valid(t)) {
                    return Err("birthdate: expected YYYY-MM-DD or YYYY".into());
                }
                a.birthdate = text;
            }
            "formatted" | "street_address" | "locality" | "region" | "postal_code" | "country" => {
                let address = a.address.get_or_insert_with(Address::default);
                let part = match claim {
                    "formatted" => &mut address.formatted,
                    "street_address" => &mut address.street_address,
                    "locality" => &mut address.locality,
                    "region" => &mut address.region,
                    "postal_code" => &mut address.postal_code,
                    _ => &mut address.country,
                };
                *part = text;
                if address.is_empty() {
                    a.address = None;
                }
            }
            other => return Err(format!("`{other}` is not a claim a user can have set")),
        }
        Ok(())
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
        for ok in ["alice", "josé.garcía@example.com"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(65);
        for bad in ["", "a b", "a\u{0}", long.as_str()] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claims_are_set_checked_and_cleared() {
        let mut user = crate::oidc::claims::tests::maria();
        user.set_claim("given_name", Some(" Mari ")).unwrap();
        assert_eq!(user.attributes.given_name.as_deref(), Some("Mari"));
        user.set_claim("email_verified", Some("false")).unwrap();
        assert_eq!(user.attributes.email_verified, Some(false));
        user.set_claim("postal_code", Some("28001")).unwrap();
        assert_eq!(
            user.attributes
                .address
                .as_ref()
                .unwrap()
                .postal_code
                .as_deref(),
            Some("28001")
        );
        user.set_claim("birthdate", Some("0000-03-14")).unwrap();
        user.set_claim("locale", Some("es-ES")).unwrap();
        user.set_claim("picture", Some("https://img.example/m.png"))
            .unwrap();
        // An empty value removes the claim; an emptied address disappears.
        user.set_claim("name", Some("")).unwrap();
        assert_eq!(user.name, None);
        user.set_claim("locality", None).unwrap();
        user.set_claim("postal_code", None).unwrap();
        assert_eq!(user.attributes.address, None);
        for (claim, value) in [
            ("email", "not-an-address"),
            ("email_verified", "yes"),
            ("birthdate", "14/03/1990"),
            ("locale", "es ES"),
            ("picture", "http://img.example/m.png"),
            ("sub", "x"),
        ] {
            assert!(
                user.set_claim(claim, Some(value)).is_err(),
                "{claim}={value}"
            );
        }
    }
}
