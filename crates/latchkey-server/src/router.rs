//! Every route the server answers, derived from `Features` so the metadata and the routes agree, and
//! the layers around them: the edge middleware (access log, error shapes, rate limits and CORS, from
//! the route table), timeout and body limit.
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower::{Service, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::edge::{self, Cors, RouteEdge, RouteTable};
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
    let edges = Arc::new(table.table);
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
        .layer(middleware::from_fn_with_state((state, edges), edge::edge))
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
    let mut routes = Routes::new();
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
            // N-L3: in the token group, keyed by address (it authenticates no client; a bearer
            // string costs a lookup or a signature check), with its CORS outside the limit.
            .with_edge(
                &path_of(&openid.userinfo_endpoint),
                RouteEdge {
                    limit: Some(Group::Token),
                    by_address: true,
                    cors: Some(Cors::UserInfo),
                },
                userinfo,
            )
            .limited(
                &path_of(&openid.end_session_endpoint),
                Group::Authorization,
                logout,
            );
    }
    if let Some(path) = &settings.openapi_path {
        let edge = RouteEdge {
            limit: None,
            by_address: false,
            cors: Some(Cors::Discovery),
        };
        routes = routes.with_edge(path, edge, get(openapi));
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

/// The router being built, and the table the edge middleware reads: each route's template (the
/// metrics' label), rate-limit group and CORS policy.
struct Routes {
    router: Router<AppState>,
    table: RouteTable,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            table: RouteTable::default(),
        }
    }

    fn route(self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.with_edge(path, RouteEdge::default(), method_router)
    }

    fn with_edge(
        mut self,
        path: &str,
        edge: RouteEdge,
        method_router: MethodRouter<AppState>,
    ) -> Self {
        self.table.add(path, edge);
        self.router = self.router.route(path, method_router);
        self
    }

    /// A route whose requests share `group`'s rate limit.
    fn limited(self, path: &str, group: Group, method_router: MethodRouter<AppState>) -> Self {
        let edge = RouteEdge {
            limit: Some(group),
            by_address: false,
            cors: None,
        };
        self.with_edge(path, edge, method_router)
    }

    /// A public discovery document: the discovery limit, and CORS so any origin may read it (and its
    /// 429).
    fn discovery(self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        let edge = RouteEdge {
            limit: Some(Group::Discovery),
            by_address: false,
            cors: Some(Cors::Discovery),
        };
        self.with_edge(path, edge, method_router)
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
