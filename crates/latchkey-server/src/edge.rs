//! The outermost layer around every route (`edge`): error shapes, the access log, the headers every
//! response carries, the request metrics, and what the route table says about each route: its
//! rate-limit group and its CORS policy, applied here once instead of by a layer on each route.
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::InternalCause;
use crate::http_error;
use crate::services::rate_limit::{Group, LimitKey, LimitSlot};
use crate::state::AppState;

/// What the edge does for one route besides logging it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteEdge {
    /// The rate-limit group its requests spend.
    pub(crate) limit: Option<Group>,
    /// Whether a client-keyed group's limit is decided by address before the handler (its requests
    /// authenticate no client).
    pub(crate) by_address: bool,
    /// Who may read it from another origin.
    pub(crate) cors: Option<Cors>,
}

/// A route of the table: its template (the metrics' label) and what the edge does for it.
#[derive(Debug)]
struct Route {
    template: String,
    edge: RouteEdge,
}

/// Which route template a request path matches, the way the router matched it: segment by segment,
/// `{name}` standing for any one non-empty segment. The edge middleware runs outside the router, where
/// axum's `MatchedPath` is not yet known.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    exact: HashMap<String, Route>,
    templated: Vec<Route>,
}

impl RouteTable {
    pub(crate) fn add(&mut self, template: &str, edge: RouteEdge) {
        let route = Route {
            template: template.to_owned(),
            edge,
        };
        if template.contains('{') {
            self.templated.push(route);
        } else {
            self.exact.insert(template.to_owned(), route);
        }
    }

    fn route(&self, path: &str) -> Option<&Route> {
        if let Some(exact) = self.exact.get(path) {
            return Some(exact);
        }
        self.templated
            .iter()
            .find(|route| template_matches(&route.template, path))
    }

    #[cfg(test)]
    fn label(&self, path: &str) -> Option<&str> {
        self.route(path).map(|route| route.template.as_str())
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

/// The CORS policy of a route. The headers are what tower-http's `CorsLayer` sent for the same
/// configuration (any origin, a fixed method list, a day's `max-age`, `Vary` on the preflight request
/// headers), built once: the layer made them for every response, and wrapped each route in a copy of
/// itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cors {
    /// The public discovery documents (metadata, JWKS, the OpenAPI document): any origin may `GET` them
    /// with any request headers it asks for (a browser app may send `Authorization` or an API key to
    /// every call), and read the caching and rate-limit headers. They carry nothing secret and set no
    /// cookies.
    Discovery,
    /// UserInfo (OpenID Connect Core §5.3): a browser app calls it with its access token as a Bearer
    /// header; no cookie is involved, so any origin may.
    UserInfo,
}

static VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
static ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
static MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

impl Cors {
    /// The answer to a preflight (`OPTIONS`) request, which never reaches the route.
    fn preflight(self, request: &HeaderMap) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        let headers = response.headers_mut();
        self.common(headers);
        let (methods, allowed) = match self {
            Cors::Discovery => (
                HeaderValue::from_static("GET"),
                request.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
            ),
            Cors::UserInfo => (
                HeaderValue::from_static("GET,POST"),
                Some(HeaderValue::from_static("authorization,content-type")),
            ),
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        if let Some(allowed) = allowed {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE.clone());
        response
    }

    /// The headers of every other response of the route, whatever its status (a browser must be able to
    /// read a 429 and its `Retry-After`).
    fn apply(self, headers: &mut HeaderMap) {
        self.common(headers);
        let exposed = match self {
            Cors::Discovery => HeaderValue::from_static(
                "etag,cache-control,retry-after,x-ratelimit-limit,x-ratelimit-remaining,\
                 x-ratelimit-reset",
            ),
            Cors::UserInfo => HeaderValue::from_static("www-authenticate"),
        };
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
    }

    fn common(self, headers: &mut HeaderMap) {
        // Appended: the route may vary on something of its own.
        headers.append(header::VARY, VARY.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN.clone());
    }
}

/// The one middleware around every route: the error shapes, one log line, the headers every response
/// carries, the route's CORS and rate limit, and (when on) the request metrics. One middleware rather
/// than one per concern, or a layer per route: axum's `from_fn` boxes the future and clones the whole
/// inner stack on every request, per layer.
///
/// # Security
/// Only method and path are logged: query strings and bodies can carry codes, tokens and secrets.
pub(crate) async fn edge(
    State((app, table)): State<(AppState, Arc<RouteTable>)>,
    request: Request,
    next: Next,
) -> Response {
    let started = app.clock().stopwatch();
    let method = request.method().clone();
    // A cheap clone (shared bytes), where the path as a String would be an allocation per request.
    let uri = request.uri().clone();
    let route = table.route(uri.path());
    let edge = route.map(|r| r.edge).unwrap_or_default();
    let response = match edge.cors {
        // CORS outside the limit: a preflight spends no budget, and a 429 is readable.
        Some(cors) if method == Method::OPTIONS => cors.preflight(request.headers()),
        cors => {
            let mut response = match edge.limit {
                Some(group) => limit(&app, group, edge.by_address, request, next).await,
                None => next.run(request).await,
            };
            if let Some(cors) = cors {
                cors.apply(response.headers_mut());
            }
            response
        }
    };
    let mut response = http_error::shape_errors(
        app.settings().http.error_shape,
        || app.is_protocol_path(uri.path()),
        response,
    );
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    // As `&str`, not `%` (Display through `Debug`): the log's formatter copies strings as they are.
    let (method, path) = (method.as_str(), uri.path());
    match response.extensions().get::<InternalCause>() {
        Some(InternalCause(cause)) => {
            tracing::error!(method, path, status, elapsed_ms, %cause, "request failed")
        }
        None => {
            tracing::info!(target: "latchkey::access", method, path, status, elapsed_ms, "request")
        }
    }
    if app.settings().metrics.enabled {
        app.metrics().request(
            route.map(|r| r.template.as_str()),
            response.status(),
            elapsed,
        );
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The rate limit of one group. Address-keyed groups decide before the handler runs; the client-keyed
/// ones leave a `LimitSlot` for the client-authentication extractor, and count a request that never
/// reached it (a 405, a 413) against its address afterwards.
///
/// `by_address`: a route of a client-keyed group whose requests authenticate no client (UserInfo in the
/// token group, N-L3) is decided by address before the handler runs, as an address-keyed group is.
async fn limit(
    app: &AppState,
    group: Group,
    by_address: bool,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = app.rate_limits().group(group) else {
        return next.run(request).await;
    };
    let address = crate::extract::client_address::of_request(app, &request);
    // Read through the trusted proxies once: the handler's extractors take it from here.
    request.extensions_mut().insert(address);
    if !group.keyed_by_client() || by_address {
        if address.is_trusted_proxy() {
            // The proxy's own request (no client hop at all): its address is everyone's behind
            // it; limiting it would refuse them all. A hop a client garbled is not this (N-M2).
            return next.run(request).await;
        }
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
    use std::convert::Infallible;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{HeaderMap, HeaderName, Method, header};
    use axum::response::Response;
    use tower::{Layer, ServiceExt};
    use tower_http::cors::{AllowHeaders, Any, CorsLayer};

    use super::{Cors, Request, RouteEdge, RouteTable};

    /// The response headers tower-http's `CorsLayer` sets around a handler that sets none.
    async fn layer_headers(layer: &CorsLayer, request: Request) -> HeaderMap {
        let handler = tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let response = layer.layer(handler).oneshot(request).await.unwrap();
        response.headers().clone()
    }

    fn request(method: Method) -> Request {
        axum::http::Request::builder()
            .method(method)
            .uri("/jwks")
            .header(header::ORIGIN, "https://app.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, x-api-key",
            )
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn cors_headers_are_those_tower_http_sent_for_the_same_policies() {
        // The layers the routes carried before the edge took CORS over.
        let discovery = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                header::ETAG,
                header::CACHE_CONTROL,
                header::RETRY_AFTER,
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
            ])
            .max_age(Duration::from_secs(86_400));
        let userinfo = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(86_400));
        for (cors, layer) in [(Cors::Discovery, discovery), (Cors::UserInfo, userinfo)] {
            let preflight = request(Method::OPTIONS);
            let ours = cors.preflight(preflight.headers());
            assert_eq!(ours.status(), 200);
            assert_eq!(
                ours.headers(),
                &layer_headers(&layer, preflight).await,
                "{cors:?}"
            );
            let mut ours = HeaderMap::new();
            cors.apply(&mut ours);
            assert_eq!(
                ours,
                layer_headers(&layer, request(Method::GET)).await,
                "{cors:?}"
            );
        }
    }

    #[test]
    fn a_path_is_labelled_with_the_template_the_router_would_match() {
        let mut labels = RouteTable::default();
        for template in ["/token", "/register", "/register/{id}", "/a/{x}/b"] {
            labels.add(template, RouteEdge::default());
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
