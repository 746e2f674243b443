//! A JSON document serialised once, with its strong ETag, answered as a public, cacheable response
//! (RFC 9110 §8.8.3, §13.1.2): the metadata document, the JWKS and the OpenAPI document.
use axum::body::Bytes;
use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A JSON document serialised once, with its strong ETag.
#[derive(Clone, Debug)]
pub struct CachedJson {
    /// The body.
    pub bytes: Bytes,
    /// `ETag` header value.
    pub etag: HeaderValue,
    /// `Cache-Control`, made on the first response (the max-age is configuration, the same for every
    /// response) instead of formatted for each.
    cache_control: std::sync::OnceLock<HeaderValue>,
}

impl CachedJson {
    /// Serialises `value` and derives its ETag from a SHA-256 of the bytes.
    pub fn new(value: &serde_json::Value) -> CachedJson {
        let bytes = Bytes::from(serde_json::to_vec(value).expect("JSON values serialise"));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]));
        CachedJson {
            cache_control: std::sync::OnceLock::new(),
            bytes,
            etag: HeaderValue::from_str(&etag).expect("base64url is a valid header value"),
        }
    }
}

/// Room for the headers a discovery response ends with: its own three, and what the edge adds (CORS,
/// the rate limit's three, `nosniff`), so none of them makes the map grow and rehash.
const RESPONSE_HEADERS: usize = 16;

impl CachedJson {
    /// A public, cacheable response: `304` when the client's `If-None-Match` already names this version.
    /// Built from the prepared values directly rather than through `IntoResponse` tuples, which set a
    /// `Content-Type` only to replace it and grow the header map insert by insert.
    pub fn respond(
        &self,
        request: &axum::http::HeaderMap,
        max_age: u64,
    ) -> axum::response::Response {
        use axum::body::Body;
        use axum::http::{HeaderMap, StatusCode, header};
        use axum::response::Response;

        let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
            tags.to_str().is_ok_and(|tags| {
                tags.split(',')
                    .any(|t| t.trim() == self.etag || t.trim() == "*")
            })
        });
        let cache_control = self
            .cache_control
            .get_or_init(|| {
                HeaderValue::from_str(&format!("public, max-age={max_age}"))
                    .expect("digits are valid")
            })
            .clone();
        // Cross-origin reads are the edge's business (the route table's CORS policy).
        let mut headers = HeaderMap::with_capacity(RESPONSE_HEADERS);
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, cache_control);
        let mut response = if fresh {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Response::new(Body::from(self.bytes.clone()))
        };
        *response.headers_mut() = headers;
        response
    }
}
