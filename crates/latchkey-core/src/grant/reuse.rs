//! The rule codes and refresh tokens share when one is presented at the token endpoint: whose it is,
//! and whether it comes back after it was used (RFC 6749 §4.1.2 and §10.5, OAuth 2.1 §4.3.1).
use crate::OAuthError;
use crate::types::ClientId;

/// A presented code or refresh token of this client, as the store found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented<T> {
    /// Not used yet: the grant's own checks come next, and it is spent only after they all pass.
    Unused(T),
    /// Used before. Two parties hold it and the server cannot tell which is the attacker, so the
    /// caller revokes the whole grant with every token issued from it, then answers [`reused`].
    Reused(T),
}

/// Decides what a presented code or refresh token (`what`, for the description) is. `found` is what
/// the store holds under its hash (`None`: nothing); `owner` and `used` read the client it was issued
/// to and whether it was used.
///
/// # Security
/// L2: one issued to another client is refused as unknown, before the reuse rule is looked at, so a
/// client that learned someone else's code or refresh token can neither spend it nor, by presenting
/// it twice, have the owner's whole grant revoked.
pub fn check_presented<T>(
    found: Option<T>,
    owner: impl Fn(&T) -> &ClientId,
    used: impl Fn(&T) -> bool,
    client: &ClientId,
    what: &str,
) -> Result<Presented<T>, OAuthError> {
    match found {
        Some(found) if owner(&found) == client => Ok(if used(&found) {
            Presented::Reused(found)
        } else {
            Presented::Unused(found)
        }),
        _ => Err(OAuthError::invalid_grant(format!("the {what} is invalid"))),
    }
}

/// The answer to a reused code or refresh token (`what`), once its grant is revoked.
pub fn reused(what: &str) -> OAuthError {
    OAuthError::invalid_grant(format!(
        "the {what} was already used; its grant and the tokens issued from it are revoked"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    /// A stored value: its owner and whether it was used.
    type Stored = (ClientId, bool);

    fn check(found: Option<Stored>, client: &str) -> Result<Presented<Stored>, OAuthError> {
        let client = ClientId::parse(client).unwrap();
        check_presented(found, |s| &s.0, |s| s.1, &client, "code")
    }

    fn stored(owner: &str, used: bool) -> Option<Stored> {
        Some((ClientId::parse(owner).unwrap(), used))
    }

    #[test]
    fn this_clients_value_is_unused_or_reused() {
        assert!(matches!(
            check(stored("app", false), "app"),
            Ok(Presented::Unused(_))
        ));
        assert!(matches!(
            check(stored("app", true), "app"),
            Ok(Presented::Reused(_))
        ));
        let answer = reused("refresh token");
        assert_eq!(answer.code, ErrorCode::InvalidGrant);
        assert!(
            answer
                .description()
                .contains("refresh token was already used")
        );
    }

    #[test]
    fn l2_another_clients_value_is_unknown_even_when_used() {
        for found in [stored("victim", false), stored("victim", true), None] {
            let err = check(found, "app").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidGrant);
            assert_eq!(err.description(), "the code is invalid");
        }
    }
}
