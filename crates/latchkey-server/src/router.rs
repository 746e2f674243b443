//! Every route the server answers, derived from `Features` so the metadata and the routes agree, and
//! the layers around them: access log, error shapes, timeout, body limit, and CORS on the discovery
//! documents.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::edge::{self, RouteLabels};
use crate::endpoint::{
    authorize, consent, health, introspect, jwks, login, logout, metadata, register, revoke, token,
    userinfo,
};
use crate::http_error;
use crate::services::rate_limit::Group;
use crate::settings::path_of;
use crate::state::AppState;

pub(crate) fn router(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let table = routes(&state);
    let labels = Arc::new(table.labels);
    let routes: Router = table
        .router
        .fallback(http_error::not_found)
        .with_state(state.clone());
    // Around the router, not through `Router::layer`: that wraps every route in its own copy of these
    // layers, boxed, and `from_fn` clones its inner service on every request, so each request paid for
    // cloning the whole boxed route stack (a fifth of the metadata endpoint's time in the profile).
    // Outermost first: error shapes and the log see what the limits produced.
    let http = &state.settings().http;
    let (request_timeout, body_limit) = (http.request_timeout, http.body_limit);
    ServiceBuilder::new()
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state((state, labels), edge::edge))
        .map_response(IntoResponse::into_response)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .service(routes)
}

/// The route table: every endpoint `Features` turns on, each in its rate-limit group.
fn routes(state: &AppState) -> Routes {
    let settings = state.settings();
    let features = &settings.features;
    let mut routes = Routes::new(state);
    for path in features.well_known_paths() {
        routes = routes.discovery(&path, get(metadata::metadata));
    }
    if let Some(authorization) = &features.endpoints.authorization {
        let path = path_of(authorization);
        let pages = Group::Authorization;
        routes = routes
            .limited(
                &path,
                pages,
                get(authorize::authorize).post(authorize::authorize_post),
            )
            .limited(&format!("{path}/login"), pages, post(login::login))
            .limited(&format!("{path}/consent"), pages, post(consent::consent))
            .route(&settings.ui.stylesheet_path, get(crate::pages::stylesheet));
    }
    let checks = Group::IntrospectionRevocation;
    if let Some(introspection) = &features.endpoints.introspection {
        routes = routes.limited(
            &path_of(introspection),
            checks,
            post(introspect::introspect),
        );
    }
    if let Some(revocation) = &features.endpoints.revocation {
        routes = routes.limited(&path_of(revocation), checks, post(revoke::revoke));
    }
    if let Some(registration) = &features.endpoints.registration {
        let client = get(register::read)
            .put(register::update)
            .delete(register::delete);
        routes = routes
            .limited(
                &path_of(registration),
                Group::Registration,
                post(register::register),
            )
            .limited(
                &register::client_route(registration),
                Group::Registration,
                client,
            );
    }
    if let Some(openid) = &features.openid {
        let userinfo = get(userinfo::userinfo).post(userinfo::userinfo);
        let logout = get(logout::logout).post(logout::logout);
        routes = routes
            .userinfo(&path_of(&openid.userinfo_endpoint), userinfo)
            .limited(
                &path_of(&openid.end_session_endpoint),
                Group::Authorization,
                logout,
            );
    }
    if let Some(path) = &settings.openapi_path {
        routes = routes.route(path, get(openapi).layer(discovery_cors()));
    }
    if settings.metrics.public {
        routes = routes.route("/metrics", get(crate::endpoint::metrics::scrape));
    }
    routes
        .discovery(&path_of(&features.endpoints.jwks), get(jwks::jwks))
        .limited(
            &path_of(&features.endpoints.token),
            Group::Token,
            post(token::token),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
}

/// The router being built, and the template of each route, for the metrics' route label.
struct Routes {
    state: AppState,
    router: Router<AppState>,
    labels: RouteLabels,
    cors: CorsLayer,
}

impl Routes {
    fn new(state: &AppState) -> Self {
        Routes {
            state: state.clone(),
            router: Router::new(),
            labels: RouteLabels::default(),
            cors: discovery_cors(),
        }
    }

    fn route(mut self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.labels.add(path);
        self.router = self.router.route(path, method_router);
        self
    }

    /// A route whose requests share `group`'s rate limit.
    fn limited(self, path: &str, group: Group, method_router: MethodRouter<AppState>) -> Self {
        let limit = middleware::from_fn_with_state((self.state.clone(), group), edge::limit);
        self.route(path, method_router.layer(limit))
    }

    /// UserInfo (N-L3): in the token group, keyed by address (it authenticates no client; a bearer
    /// string costs a lookup or a signature check), with its CORS outside the limit.
    fn userinfo(self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        let limit = middleware::from_fn_with_state(
            (self.state.clone(), Group::Token),
            edge::limit_by_address,
        );
        let layers = ServiceBuilder::new().layer(userinfo_cors()).layer(limit);
        self.route(path, method_router.layer(layers))
    }

    /// A public discovery document: the discovery limit, with CORS outside it so a browser can read a
    /// 429.
    fn discovery(self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        let limit =
            middleware::from_fn_with_state((self.state.clone(), Group::Discovery), edge::limit);
        let layers = ServiceBuilder::new().layer(self.cors.clone()).layer(limit);
        self.route(path, method_router.layer(layers))
    }
}

/// `GET openapi.path`: this server's OpenAPI document, prepared once.
async fn openapi(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    app.openapi()
        .respond(&headers, app.settings().http.discovery_max_age)
}

/// CORS for the public discovery documents (metadata and JWKS): any origin may `GET` them with any
/// request headers it asks for (a browser app may send `Authorization` or an API key to every call),
/// and read the caching and rate-limit headers. They carry nothing secret and set no cookies.
fn discovery_cors() -> CorsLayer {
    CorsLayer::new()
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
        .max_age(Duration::from_secs(86_400))
}

/// CORS for UserInfo (OpenID Connect Core §5.3): a browser app calls it with its access token as a
/// Bearer header; no cookie is involved, so any origin may.
fn userinfo_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(86_400))
}
