//! The benchmark's static-response ceiling: the smallest axum server, answering every GET with the same
//! bytes (Latchkey's metadata document), built with the same dependencies and profile. What Latchkey's
//! discovery endpoints reach, as a share of this, is what its own work costs.
//!
//! Usage: static_ceiling PORT FILE
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: static_ceiling PORT FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(file)?);
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse().unwrap_or(0))).await?;
    axum::serve(listener, app).await
}
