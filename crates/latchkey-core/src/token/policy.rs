//! The issuing policy from configuration: lifetimes and the default audience. Apart from the tokens
//! themselves, so that deciding a token's target (`resource`) needs only this, not the token types.
use crate::types::Issuer;

/// Lifetime and audience rules for issued tokens, from configuration.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// The `iss` of every token.
    pub issuer: Issuer,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// The `aud` of tokens issued without a resource indicator.
    pub default_audience: String,
    /// Authorization code lifetime in seconds.
    pub code_ttl: u64,
    /// A refresh token unused for this long expires (seconds).
    pub refresh_token_idle_ttl: u64,
    /// No refresh token of a grant is valid after this long from the grant (seconds).
    pub refresh_token_absolute_ttl: u64,
}
