//! `ClientAddress` as an extractor: the TCP peer, read through the configured trusted proxies.
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::client_address::ClientAddress;
use crate::state::AppState;

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(address_of(&parts.extensions, &parts.headers, state))
    }
}

/// The client address of a request, from its extensions (the TCP peer) and headers.
pub(crate) fn address_of(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    state: &AppState,
) -> ClientAddress {
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
