//! The rule codes and refresh tokens share when one is presented at the token endpoint: whose it is,
//! and whether it comes back after it was used (RFC 6749 §4.1.2 and §10.5, OAuth 2.1 §4.3.1).
use crate::OAuthError;
use crate::types::ClientId;

/// A code or refresh token as the store found it, before anything is spent.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    /// The client it was issued to.
    pub owner: &'a ClientId,
    /// Whether it was used already (a code redeemed, a refresh token rotated out).
    pub used: bool,
}

/// What a presented code or refresh token of this client turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// Not used yet: the grant's own checks come next, and it is spent only after they all pass.
    Unused,
    /// Used before. Two parties hold it and the server cannot tell which is the attacker, so the
    /// caller revokes the whole grant with every token issued from it, then answers [`reused`].
    Reused,
}

/// Decides what a presented code or refresh token (`what`, for the description) is; `found` is
/// `None` when the store knows no such value.
///
/// # Security
/// L2: one issued to another client is refused as unknown, before the reuse rule is looked at, so a
/// client that learned someone else's code or refresh token can neither spend it nor, by presenting
/// it twice, have the owner's whole grant revoked.
pub fn check_presented(
    found: Option<Found<'_>>,
    client: &ClientId,
    what: &str,
) -> Result<Presented, OAuthError> {
    match found {
        Some(found) if found.owner == client => Ok(if found.used {
            Presented::Reused
        } else {
            Presented::Unused
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

    fn id(value: &str) -> ClientId {
        ClientId::parse(value).unwrap()
    }

    #[test]
    fn this_clients_value_is_unused_or_reused() {
        let me = id("app");
        for (used, outcome) in [(false, Presented::Unused), (true, Presented::Reused)] {
            let found = Found { owner: &me, used };
            assert_eq!(check_presented(Some(found), &me, "code"), Ok(outcome));
        }
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
        let (me, owner) = (id("app"), id("victim"));
        for used in [false, true] {
            let found = Found {
                owner: &owner,
                used,
            };
            let err = check_presented(Some(found), &me, "code").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidGrant);
            assert_eq!(err.description(), "the code is invalid");
        }
        let err = check_presented(None, &me, "code").unwrap_err();
        assert_eq!(err.description(), "the code is invalid");
    }
}
