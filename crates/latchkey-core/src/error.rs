//! The error vocabulary of RFC 6749 §5.2 (token endpoint) and its extensions.
use std::borrow::Cow;
use std::fmt;

/// Every `error` code Latchkey emits, and none it doesn't.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: missing, repeated or malformed parameter, or more than one client auth method.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, credentials) is invalid.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by this server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid, unknown, or exceeds what the client may ask for.
    InvalidScope,
    /// RFC 8707 §2: the requested resource is invalid or unknown.
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: `response_type` is not one this server supports.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the resource owner denied the request.
    AccessDenied,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, but the user is not signed in.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, but the user has not consented.
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: the user would have to choose an account, which Latchkey does not
    /// offer (`prompt=select_account`).
    AccountSelectionRequired,
    /// OpenID Connect Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OpenID Connect Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 6750 §3.1: the access token lacks the scope the resource needs.
    InsufficientScope,
    /// RFC 7591 §3.2.2: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: a metadata value is not acceptable.
    InvalidClientMetadata,
    /// RFC 6750 §3.1: a bearer token (initial or registration access token) is missing or invalid.
    InvalidToken,
    /// RFC 6749 §4.1.2.1: the server met an unexpected condition. Never carries detail.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
}

// In declaration order: the OpenAPI document lists them from here, so they cannot drift.
wire_enum!(ErrorCode {
    InvalidRequest => "invalid_request",
    InvalidClient => "invalid_client",
    InvalidGrant => "invalid_grant",
    UnauthorizedClient => "unauthorized_client",
    UnsupportedGrantType => "unsupported_grant_type",
    InvalidScope => "invalid_scope",
    InvalidTarget => "invalid_target",
    UnsupportedResponseType => "unsupported_response_type",
    AccessDenied => "access_denied",
    LoginRequired => "login_required",
    ConsentRequired => "consent_required",
    AccountSelectionRequired => "account_selection_required",
    RequestNotSupported => "request_not_supported",
    RequestUriNotSupported => "request_uri_not_supported",
    InsufficientScope => "insufficient_scope",
    InvalidRedirectUri => "invalid_redirect_uri",
    InvalidClientMetadata => "invalid_client_metadata",
    InvalidToken => "invalid_token",
    ServerError => "server_error",
    TemporarilyUnavailable => "temporarily_unavailable",
});

/// A protocol error: an RFC error code with a human-readable description for the client developer.
///
/// The description is only built by the constructors, which keep it within RFC 6749 §5.2's character
/// set (`%x20-21 / %x23-5B / %x5D-7E`): a `"` or `\` (which that set leaves out, so that the member
/// can sit in a quoted header parameter), a control character or any non-ASCII character never reaches
/// a client, whatever text an error echoes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` member.
    pub code: ErrorCode,
    /// The `error_description` member: never containing a secret the client sent.
    description: Cow<'static, str>,
}

/// Whether RFC 6749 §5.2 allows `c` in `error_description`.
fn allowed(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// `text` within the allowed set: `"` becomes `'`, `\` becomes `/`, anything else outside it `?`.
/// Text that is already fine (every fixed message) is kept as it is, without a copy.
fn within_charset(text: Cow<'static, str>) -> Cow<'static, str> {
    if text.chars().all(allowed) {
        return text;
    }
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if allowed(c) => c,
            _ => '?',
        })
        .collect::<String>()
        .into()
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl OAuthError {
            $(
                #[doc = concat!("An `", stringify!($name), "` error.")]
                pub fn $name(description: impl Into<Cow<'static, str>>) -> Self {
                    Self::new(ErrorCode::$code, description)
                }
            )*
        }
    };
}

constructors! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unauthorized_client => UnauthorizedClient,
    unsupported_grant_type => UnsupportedGrantType,
    invalid_scope => InvalidScope,
    invalid_target => InvalidTarget,
    unsupported_response_type => UnsupportedResponseType,
    access_denied => AccessDenied,
    login_required => LoginRequired,
    consent_required => ConsentRequired,
    account_selection_required => AccountSelectionRequired,
    request_not_supported => RequestNotSupported,
    request_uri_not_supported => RequestUriNotSupported,
    insufficient_scope => InsufficientScope,
    invalid_redirect_uri => InvalidRedirectUri,
    invalid_client_metadata => InvalidClientMetadata,
    invalid_token => InvalidToken,
    temporarily_unavailable => TemporarilyUnavailable,
}

impl OAuthError {
    /// An error with `code`; the description is kept within RFC 6749 §5.2's character set.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: within_charset(description.into()),
        }
    }

    /// A `server_error`: the description is fixed so internal detail never reaches a client.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server met an unexpected condition",
        )
    }

    /// The `error_description` member.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The description, owned.
    pub fn into_description(self) -> String {
        self.description.into_owned()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn every_constructor(text: String) -> Vec<OAuthError> {
        vec![
            OAuthError::invalid_request(text.clone()),
            OAuthError::invalid_client(text.clone()),
            OAuthError::invalid_grant(text.clone()),
            OAuthError::unauthorized_client(text.clone()),
            OAuthError::unsupported_grant_type(text.clone()),
            OAuthError::invalid_scope(text.clone()),
            OAuthError::invalid_target(text.clone()),
            OAuthError::unsupported_response_type(text.clone()),
            OAuthError::access_denied(text.clone()),
            OAuthError::login_required(text.clone()),
            OAuthError::consent_required(text.clone()),
            OAuthError::invalid_redirect_uri(text.clone()),
            OAuthError::invalid_client_metadata(text.clone()),
            OAuthError::invalid_token(text.clone()),
            OAuthError::temporarily_unavailable(text.clone()),
            OAuthError::new(ErrorCode::InvalidRequest, text),
            OAuthError::server_error(),
        ]
    }

    #[test]
    fn all_lists_every_code_once_in_declaration_order() {
        // Exhaustive on purpose: a new variant does not compile until it has a position here, and the
        // assertions below then fail until `ALL` holds it at that position.
        fn position(code: ErrorCode) -> usize {
            use ErrorCode::*;
            match code {
                InvalidRequest => 0,
                InvalidClient => 1,
                InvalidGrant => 2,
                UnauthorizedClient => 3,
                UnsupportedGrantType => 4,
                InvalidScope => 5,
                InvalidTarget => 6,
                UnsupportedResponseType => 7,
                AccessDenied => 8,
                LoginRequired => 9,
                ConsentRequired => 10,
                AccountSelectionRequired => 11,
                RequestNotSupported => 12,
                RequestUriNotSupported => 13,
                InsufficientScope => 14,
                InvalidRedirectUri => 15,
                InvalidClientMetadata => 16,
                InvalidToken => 17,
                ServerError => 18,
                TemporarilyUnavailable => 19,
            }
        }
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(position(*code), i, "{code}");
        }
        assert_eq!(
            ErrorCode::ALL.len(),
            position(ErrorCode::TemporarilyUnavailable) + 1
        );
        let wire: std::collections::BTreeSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(wire.len(), ErrorCode::ALL.len(), "wire values are distinct");
    }

    #[test]
    fn every_constructor_keeps_error_description_within_rfc_6749_charset() {
        let hostile = "expected `,` or `}` at \"line\" 1 \\ col\u{7}\u{0}\n\u{e9}\u{1F600}";
        for error in every_constructor(hostile.to_owned()) {
            assert!(
                error.description().chars().all(allowed),
                "{:?}: {}",
                error.code,
                error.description()
            );
        }
        let quoted = OAuthError::invalid_request("a \"b\" c\\d");
        assert_eq!(quoted.description(), "a 'b' c/d");
        let fine = OAuthError::invalid_request("parameter `state` is required");
        assert_eq!(fine.description(), "parameter `state` is required");
        assert!(matches!(fine.description, Cow::Borrowed(_)), "no copy");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_leave_the_error_description_charset(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for error in every_constructor(text.clone()) {
                prop_assert!(error.description().chars().all(allowed));
            }
            let unicode: String = bytes.iter().map(|&b| char::from(b)).collect();
            for error in every_constructor(unicode) {
                prop_assert!(error.description().chars().all(allowed));
                // One character for one: nothing the client reads is dropped or run together.
                if error.code != ErrorCode::ServerError {
                    prop_assert_eq!(error.description().chars().count(), bytes.len());
                }
            }
        }
    }
}
