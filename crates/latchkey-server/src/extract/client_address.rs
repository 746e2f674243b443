//! `ClientAddress` as an extractor: the TCP peer, read through the configured trusted proxies.
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::Extensions;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::services::client_address::ClientAddress;
use crate::state::AppState;

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(address(state, &parts.extensions, &parts.headers))
    }
}

/// The address of a whole request, for middleware.
pub(crate) fn of_request(state: &AppState, request: &Request) -> ClientAddress {
    address(state, request.extensions(), request.headers())
}

/// The address the rate-limit middleware already read (`edge::limit`), or the peer read through the
/// trusted proxies now.
fn address(state: &AppState, extensions: &Extensions, headers: &HeaderMap) -> ClientAddress {
    if let Some(address) = extensions.get::<ClientAddress>() {
        return *address;
    }
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        // Only a server built without connect info (never `serve`) lacks it.
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    state
        .settings()
        .http
        .trusted_proxies
        .client_address(peer, headers)
}
