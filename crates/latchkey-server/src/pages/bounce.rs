//! The same-site bounce (N-M1): a cross-site form POST (a relying party's RP-Initiated Logout §2
//! request, or an authorization request by POST, Core §3.1.2.1) does not carry the `SameSite=Lax`
//! session cookie, so the server cannot see who is signed in. The answer is a page from this origin
//! that posts the same parameters back to the same endpoint; that second POST is same-site, so the
//! browser sends the cookies.
//!
//! The page submits itself with a one-line script, allowed by its hash in the page's CSP and
//! nothing else; without JavaScript the person presses the visible button. The parameters stay in a
//! form body, never in a URL, so an `id_token_hint` is not written to any log or history.
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use latchkey_core::params::Params;

use super::visit::Visit;
use super::{Chrome, chrome, hidden_fields, html};
use crate::state::AppState;

/// The form field that marks the second, same-site POST.
pub(crate) const FIELD: &str = "latchkey_bounce";

/// The page's only script, exactly as `templates/bounce.html` holds it: the CSP allows it by hash.
pub(crate) const SCRIPT: &str = r#"document.getElementById("bounce").submit();"#;

#[derive(Template)]
#[template(path = "bounce.html")]
pub(crate) struct BouncePage {
    pub(crate) c: Chrome,
    pub(crate) action: String,
    pub(crate) fields: Vec<(String, String)>,
    /// Submit on its own (the script) or wait for the button.
    pub(crate) auto: bool,
}

/// The CSP source that allows [`SCRIPT`] and no other script.
fn script_source() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, SCRIPT.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The bounce page: `params` posted again to `action`, with a marker bound to this browser.
/// `target` is where the endpoint may redirect afterwards: a browser applies `form-action` to the
/// redirects that follow a form submission, so its origin is allowed as on the other pages.
pub(crate) fn bounce_page(
    app: &AppState,
    visit: &Visit,
    action: String,
    params: &Params,
    target: Option<&str>,
    bounce: Bounce,
) -> Response {
    let auto = bounce == Bounce::Auto;
    let mut fields = hidden_fields(&params.without(&[FIELD]));
    fields.push((FIELD.to_owned(), app.csrf().bounce(&visit.browser)));
    let page = BouncePage {
        c: chrome(app, visit.locale, Vec::new()),
        action,
        fields,
        auto,
    };
    let target = target.and_then(super::form_target);
    let mut response = html(
        StatusCode::OK,
        page.render(),
        target.as_deref(),
        &visit.cookies,
    );
    if !auto {
        return response;
    }
    let headers = response.headers_mut();
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.replacen(
                "default-src 'none';",
                &format!("default-src 'none'; script-src {};", script_source()),
                1,
            )
        });
    if let Some(csp) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// Whether a POST must go through the bounce page before it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bounce {
    /// The session cookie came, or this is the bounce page's own POST: answer it.
    No,
    /// A POST without the session cookie (a cross-site POST never has it): bounce it.
    Auto,
    /// A marker that does not verify for this browser: a forged one, or a browser that keeps no
    /// cookies. Bounced again, but only by the person's click, so nothing loops on its own and
    /// nobody is told a session is missing when it was only not sent.
    Manual,
}

/// Which bounce a POST needs. The marker is bound to the browser cookie, which a relying party can
/// neither read nor send cross-site (`HttpOnly`, `SameSite=Lax`), so it cannot skip the bounce.
pub(crate) fn needed(app: &AppState, visit: &Visit, params: &Params) -> Bounce {
    if visit.session_binding.is_some() {
        return Bounce::No;
    }
    match params.get(FIELD) {
        None => Bounce::Auto,
        Some(marker)
            if visit.browser_presented() && app.csrf().verify_bounce(&visit.browser, marker) =>
        {
            Bounce::No
        }
        Some(_) => Bounce::Manual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_m1_the_template_holds_exactly_the_script_the_csp_allows() {
        let template = include_str!("../../templates/bounce.html");
        assert!(template.contains(&format!(
            "{{% if auto %}}<script>{SCRIPT}</script>{{% endif %}}"
        )));
        assert!(script_source().starts_with("'sha256-"));
        // Without JavaScript the person submits the form themselves.
        assert!(template.contains(r#"<button type="submit""#));
    }
}
