//! The local server's framework limit, for `FRAMEWORK_LIMIT=1 bench/load`: a minimal axum server
//! answering `GET /v1/products/{id}` with fixed bytes (a product's body as the real server
//! answered it, and the same content type), so that the real server's rate can be set against
//! what axum and hyper alone reach on the same machine.
//!
//! `cargo run --release -p orderly --example framework_limit -- ADDR BODY_FILE`

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(body_file)) = (args.next(), args.next()) else {
        return Err("usage: framework_limit ADDR BODY_FILE".into());
    };
    let body: &'static [u8] = Vec::leak(std::fs::read(&body_file)?);
    let app = Router::new().route(
        "/v1/products/{id}",
        get(move || async move { ([(CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
