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

impl ErrorCode {
    /// The wire value of the `error` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: an RFC error code with a human-readable description for the client developer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` member.
    pub code: ErrorCode,
    /// The `error_description` member: ASCII, and never containing a secret the client sent.
    pub description: Cow<'static, str>,
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl OAuthError {
            $(
                #[doc = concat!("An `", stringify!($name), "` error.")]
                pub fn $name(description: impl Into<Cow<'static, str>>) -> Self {
                    Self { code: ErrorCode::$code, description: description.into() }
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
    /// A `server_error`: the description is fixed so internal detail never reaches a client.
    pub fn server_error() -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: Cow::Borrowed("the server met an unexpected condition"),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}
