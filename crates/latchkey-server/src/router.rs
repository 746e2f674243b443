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
    let settings = state.settings();
    let features = &settings.features;
    let cors = discovery_cors();
    // Each group's routes share one limit; CORS stays outside it so a browser can read a 429.
    let limited =
        |group: Group| middleware::from_fn_with_state((state.clone(), group), edge::limit);
    let mut router = Routes::default();
    for path in features.well_known_paths() {
        router = router.route(
            &path,
            get(metadata::metadata).layer(
                ServiceBuilder::new()
                    .layer(cors.clone())
                    .layer(limited(Group::Discovery)),
            ),
        );
    }
    if let Some(authorization) = &features.endpoints.authorization {
        let path = path_of(authorization);
        router = router
            .route(
                &path,
                get(authorize::authorize)
                    .post(authorize::authorize_post)
                    .layer(limited(Group::Authorization)),
            )
            .route(
                &format!("{path}/login"),
                post(login::login).layer(limited(Group::Authorization)),
            )
            .route(
                &format!("{path}/consent"),
                post(consent::consent).layer(limited(Group::Authorization)),
            )
            .route(&settings.ui.stylesheet_path, get(crate::pages::stylesheet));
    }
    if let Some(introspection) = &features.endpoints.introspection {
        router = router.route(
            &path_of(introspection),
            post(introspect::introspect).layer(limited(Group::IntrospectionRevocation)),
        );
    }
    if let Some(registration) = &features.endpoints.registration {
        router = router
            .route(
                &path_of(registration),
                post(register::register).layer(limited(Group::Registration)),
            )
            .route(
                &register::client_route(registration),
                get(register::read)
                    .put(register::update)
                    .delete(register::delete)
                    .layer(limited(Group::Registration)),
            );
    }
    if let Some(revocation) = &features.endpoints.revocation {
        router = router.route(
            &path_of(revocation),
            post(revoke::revoke).layer(limited(Group::IntrospectionRevocation)),
        );
    }
    if let Some(openid) = &features.openid {
        router = router
            .route(
                &path_of(&openid.userinfo_endpoint),
                get(userinfo::userinfo)
                    .post(userinfo::userinfo)
                    .layer(userinfo_cors()),
            )
            .route(
                &path_of(&openid.end_session_endpoint),
                get(logout::logout)
                    .post(logout::logout)
                    .layer(limited(Group::Authorization)),
            );
    }
    if let Some(path) = &settings.openapi_path {
        router = router.route(path, get(openapi).layer(cors.clone()));
    }
    if settings.metrics.public {
        router = router.route("/metrics", get(crate::endpoint::metrics::scrape));
    }
    let router = router
        .route(
            &path_of(&features.endpoints.jwks),
            get(jwks::jwks).layer(
                ServiceBuilder::new()
                    .layer(cors)
                    .layer(limited(Group::Discovery)),
            ),
        )
        .route(
            &path_of(&features.endpoints.token),
            post(token::token).layer(limited(Group::Token)),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready));
    let labels = Arc::new(router.labels);
    let routes: Router = router
        .router
        .fallback(http_error::not_found)
        .with_state(state.clone());
    // Around the router, not through `Router::layer`: that wraps every route in its own copy of these
    // layers, boxed, and `from_fn` clones its inner service on every request, so each request paid for
    // cloning the whole boxed route stack (a fifth of the metadata endpoint's time in the profile).
    // Outermost first: error shapes and the log see what the limits produced.
    let (request_timeout, body_limit) = (settings.http.request_timeout, settings.http.body_limit);
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

/// The router being built, and the template of each route, for the metrics' route label.
#[derive(Default)]
struct Routes {
    router: Router<AppState>,
    labels: RouteLabels,
}

impl Routes {
    fn route(mut self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        self.labels.add(path);
        self.router = self.router.route(path, method_router);
        self
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
