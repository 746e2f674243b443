//! `[openid]`: whether Latchkey is an OpenID Provider (OpenID Connect Core 1.0 on top of the
//! authorization code flow), how long ID tokens live, which algorithms and subject types it offers,
//! and where UserInfo and logout are served.
use latchkey_core::keys::KeyAlg;
use latchkey_core::metadata::OpenIdFeatures;
use latchkey_core::types::Issuer;
use latchkey_server::services::csrf::CookiePolicy;
use latchkey_server::settings::OpenIdSettings;

use super::error::{ConfigError, Section};
use super::raw::{RawEndpoints, RawOpenId};
use super::value::absolute_url;

/// What `[openid]` decides: the published members and the server's own settings. `None` when off.
pub(crate) struct OpenId {
    pub(crate) features: OpenIdFeatures,
    pub(crate) settings: OpenIdSettings,
}

/// Off unless `enabled = true`: turning it on changes what the metadata says, so it is a decision.
pub(crate) fn openid(
    raw: &RawOpenId,
    endpoints: &RawEndpoints,
    file: &str,
    issuer: &Issuer,
    authorization_endpoint: Option<&str>,
) -> Result<Option<OpenId>, ConfigError> {
    let s = Section::new(file, "openid");
    // Every key is checked even while OpenID is off, so turning it on never meets a mistake made
    // long before.
    let id_token_ttl: u64 =
        s.duration_between("id_token_ttl", &raw.id_token_ttl, "1h", ["1s", "24h"])?;
    let signing_algs = signing_algs(s, &raw.signing_algs)?;
    let subject_types = subject_types(s, &raw.subject_types)?;
    let e = Section::new(file, "endpoints");
    let base = match &endpoints.base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => issuer.as_str().to_owned(),
    };
    let endpoint = |key: &str, value: &Option<String>, suffix: &str| match value {
        Some(url) => absolute_url(e, key, url),
        None => Ok(format!("{base}{suffix}")),
    };
    let userinfo_endpoint = endpoint(
        "userinfo_endpoint",
        &endpoints.userinfo_endpoint,
        "/userinfo",
    )?;
    let end_session_endpoint = endpoints
        .end_session_endpoint
        .as_ref()
        .map(|url| absolute_url(e, "end_session_endpoint", url))
        .transpose()?;
    // Logout ends the signed-in session, which it finds by the page cookies: at a URL the browser
    // does not send them to, it would never see anyone signed in.
    if let (Some(url), Some(authorization)) = (&end_session_endpoint, authorization_endpoint) {
        let cookies = CookiePolicy::new(issuer.as_str(), authorization);
        if !cookies.reaches(url) {
            return Err(e.error(
                "end_session_endpoint",
                format!(
                    "`{url}` is outside where the session cookie is sent (the host and path of `{authorization}`, or below it), so logout would never see who is signed in"
                ),
            ));
        }
    }
    if raw.enabled != Some(true) {
        return Ok(None);
    }
    let Some(authorization_endpoint) = authorization_endpoint else {
        return Err(s.error(
            "enabled",
            "OpenID Connect needs the authorization endpoint (policy turns it off)",
        ));
    };
    Ok(Some(OpenId {
        features: OpenIdFeatures {
            userinfo_endpoint,
            // Beside login and consent, under the path the session cookie is scoped to (an https
            // issuer with a path scopes it to the authorization endpoint).
            end_session_endpoint: end_session_endpoint
                .unwrap_or_else(|| format!("{authorization_endpoint}/logout")),
            signing_algs: signing_algs.clone(),
            subject_types: subject_types.clone(),
        },
        settings: OpenIdSettings {
            id_token_ttl,
            signing_algs,
            pairwise: subject_types.iter().any(|t| t == "pairwise"),
            public: subject_types.iter().any(|t| t == "public"),
            require_pkce_for_confidential_clients: raw
                .require_pkce_for_confidential_clients
                .unwrap_or(true),
            logout_revokes_grants: raw.logout_revokes_grants.unwrap_or(false),
        },
    }))
}

/// `openid.signing_algs`: every algorithm by default; RS256 always among them.
fn signing_algs(s: Section<'_>, list: &Option<Vec<String>>) -> Result<Vec<KeyAlg>, ConfigError> {
    let Some(list) = list else {
        return Ok(KeyAlg::ALL.to_vec());
    };
    let mut algs = Vec::new();
    for text in list {
        let alg = text
            .parse::<KeyAlg>()
            .map_err(|e| s.error("signing_algs", e))?;
        if algs.contains(&alg) {
            return Err(s.error("signing_algs", format!("`{text}` is listed twice")));
        }
        algs.push(alg);
    }
    // Core §15.1: every OpenID Provider supports RS256.
    if !algs.contains(&KeyAlg::RS256) {
        return Err(s.error(
            "signing_algs",
            "must include RS256, which OpenID Connect requires",
        ));
    }
    Ok(algs)
}

/// `openid.subject_types`: public, pairwise or both (the default).
fn subject_types(s: Section<'_>, list: &Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = list else {
        return Ok(vec!["public".to_owned(), "pairwise".to_owned()]);
    };
    if list.is_empty() {
        return Err(s.error("subject_types", "name public, pairwise or both"));
    }
    for (i, t) in list.iter().enumerate() {
        if !matches!(t.as_str(), "public" | "pairwise") {
            return Err(s.error("subject_types", format!("`{t}` is not public or pairwise")));
        }
        if list[..i].contains(t) {
            return Err(s.error("subject_types", format!("`{t}` is listed twice")));
        }
    }
    Ok(list.clone())
}
