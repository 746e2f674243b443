//! Every route the server answers, derived from `Features` so the metadata and the routes agree, and
//! the layers around them: access log, error shapes, timeout, body limit, and CORS on the discovery
//! documents.
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::endpoint::{
    authorize, consent, health, introspect, jwks, login, metadata, register, revoke, token,
};
use crate::error::InternalCause;
use crate::http_error;
use crate::rate_limit::{self, Group};
use crate::state::AppState;

/// The request path of an endpoint URL; endpoints may be published on another host, but a reverse
/// proxy forwards them here with their path intact.
pub fn path_of(endpoint: &str) -> String {
    url::Url::parse(endpoint)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| endpoint.to_owned())
}

pub(crate) fn router(state: AppState) -> Router {
    let settings = state.settings();
    let features = &settings.features;
    let cors = discovery_cors();
    // Each group's routes share one limit; CORS stays outside it so a browser can read a 429.
    let limited =
        |group: Group| middleware::from_fn_with_state((state.clone(), group), rate_limit::limit);
    let mut router = Router::new();
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
                get(authorize::authorize).layer(limited(Group::Authorization)),
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
    router
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
        .route("/health/ready", get(health::ready))
        .fallback(http_error::not_found)
        // Outermost last: the log sees the final status, error shapes see what the limits produced.
        .layer(RequestBodyLimitLayer::new(settings.http.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.http.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http_error::shape_errors,
        ))
        .layer(middleware::from_fn(log_and_harden))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
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

/// Logs one line per request and adds headers every response carries.
///
/// # Security
/// Only method and path are logged: query strings and bodies can carry codes, tokens and secrets.
async fn log_and_harden(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match response.extensions().get::<InternalCause>() {
        Some(InternalCause(cause)) => {
            tracing::error!(%method, %path, status, elapsed_ms, %cause, "request failed")
        }
        None => {
            tracing::info!(target: "latchkey::access", %method, %path, status, elapsed_ms, "request")
        }
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
