//! The outermost layer around every route (`edge`: error shapes, the access log, the headers every
//! response carries, the request metrics) and the rate-limit middleware of each limited group.
use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::InternalCause;
use crate::http_error;
use crate::services::rate_limit::{Group, LimitKey, LimitSlot};
use crate::state::AppState;

/// Which route template a request path matches, the way the router matched it: segment by segment,
/// `{name}` standing for any one non-empty segment. The edge middleware runs outside the router, where
/// axum's `MatchedPath` is not yet known.
#[derive(Debug, Default)]
pub(crate) struct RouteLabels {
    exact: HashSet<String>,
    templated: Vec<String>,
}

impl RouteLabels {
    pub(crate) fn add(&mut self, template: &str) {
        if template.contains('{') {
            self.templated.push(template.to_owned());
        } else {
            self.exact.insert(template.to_owned());
        }
    }

    fn label(&self, path: &str) -> Option<&str> {
        if let Some(exact) = self.exact.get(path) {
            return Some(exact);
        }
        self.templated
            .iter()
            .find(|template| template_matches(template, path))
            .map(String::as_str)
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let (mut template, mut path) = (template.split('/'), path.split('/'));
    loop {
        match (template.next(), path.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if t.starts_with('{') && t.ends_with('}') => {
                if p.is_empty() {
                    return false;
                }
            }
            (Some(t), Some(p)) if t == p => {}
            _ => return false,
        }
    }
}

/// The one middleware around every route: the error shapes, one log line, the headers every response
/// carries, and (when on) the request metrics. One middleware rather than one per concern: axum's
/// `from_fn` boxes the future and clones the whole inner stack on every request, per layer.
///
/// # Security
/// Only method and path are logged: query strings and bodies can carry codes, tokens and secrets.
pub(crate) async fn edge(
    State((app, labels)): State<(AppState, Arc<RouteLabels>)>,
    request: Request,
    next: Next,
) -> Response {
    let started = app.clock().stopwatch();
    let method = request.method().clone();
    // A cheap clone (shared bytes), where the path as a String would be an allocation per request.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let mut response = http_error::shape_errors(
        app.settings().http.error_shape,
        || app.is_protocol_path(uri.path()),
        response,
    );
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let path = uri.path();
    match response.extensions().get::<InternalCause>() {
        Some(InternalCause(cause)) => {
            tracing::error!(%method, %path, status, elapsed_ms, %cause, "request failed")
        }
        None => {
            tracing::info!(target: "latchkey::access", %method, %path, status, elapsed_ms, "request")
        }
    }
    if app.settings().metrics.enabled {
        app.metrics()
            .request(labels.label(path), response.status(), elapsed);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The middleware of one limited group. Address-keyed groups decide before the handler runs; the
/// client-keyed ones leave a `LimitSlot` for the client-authentication extractor, and count a request
/// that never reached it (a 405, a 413) against its address afterwards.
pub(crate) async fn limit(
    State((app, group)): State<(AppState, Group)>,
    request: Request,
    next: Next,
) -> Response {
    limit_keyed(app, group, group.keyed_by_client(), request, next).await
}

/// The middleware of a route in a client-keyed group whose requests authenticate no client (UserInfo
/// in the token group): decided by address before the handler runs, as an address-keyed group is.
pub(crate) async fn limit_by_address(
    State((app, group)): State<(AppState, Group)>,
    request: Request,
    next: Next,
) -> Response {
    limit_keyed(app, group, false, request, next).await
}

async fn limit_keyed(
    app: AppState,
    group: Group,
    by_client: bool,
    mut request: Request,
    next: Next,
) -> Response {
    if app.rate_limits().group(group).is_none() {
        return next.run(request).await;
    }
    let address = crate::extract::client_address::of_request(&app, &request);
    // Read through the trusted proxies once: the handler's extractors take it from here.
    request.extensions_mut().insert(address);
    if !by_client {
        if address.is_trusted_proxy() {
            // The proxy's own request (no client hop at all): its address is everyone's behind
            // it; limiting it would refuse them all. A hop a client garbled is not this (N-M2).
            return next.run(request).await;
        }
        let limiter = app.rate_limits().group(group).expect("checked above");
        let decision = limiter.check(&LimitKey::Address(address.limit_key()));
        if !decision.allowed {
            return app.rate_limits().refuse(decision);
        }
        let mut response = next.run(request).await;
        decision.apply(response.headers_mut());
        return response;
    }
    let slot = Arc::new(LimitSlot::new(group, address));
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if slot.decision().is_none() {
        slot.check_address(app.rate_limits()).ok();
    }
    if let Some(decision) = slot.decision() {
        decision.apply(response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::RouteLabels;

    #[test]
    fn a_path_is_labelled_with_the_template_the_router_would_match() {
        let mut labels = RouteLabels::default();
        for template in ["/token", "/register", "/register/{id}", "/a/{x}/b"] {
            labels.add(template);
        }
        assert_eq!(labels.label("/token"), Some("/token"));
        assert_eq!(labels.label("/register"), Some("/register"));
        assert_eq!(labels.label("/register/abc"), Some("/register/{id}"));
        assert_eq!(labels.label("/a/1/b"), Some("/a/{x}/b"));
        // No label, as the router would not match these either: no client ids or paths leak in.
        for unmatched in [
            "/token/",
            "/register/",
            "/register/a/b",
            "/a//b",
            "/tokens",
            "",
        ] {
            assert_eq!(labels.label(unmatched), None, "{unmatched}");
        }
    }
}
