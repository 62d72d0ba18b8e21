//! `bench otlp-sink [ADDR]`: a stand-in OTLP/HTTP collector that accepts trace exports
//! (`POST /v1/traces`) and throws them away, so that a benchmark can measure Ferry
//! with trace export on without a real collector (this machine has none):
//!
//! ```text
//! bench otlp-sink 127.0.0.1:4318 &
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 bench --redis redis://127.0.0.1:6379   # export on
//! bench --redis redis://127.0.0.1:6379                                                     # export off
//! ```
//!
//! Every 5 s it prints the exports and bytes received so far (on stderr).

use crate::client::Error;
use axum::body::Bytes;
use axum::routing::post;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Exports and bytes received.
#[derive(Default)]
struct Received {
    exports: AtomicU64,
    bytes: AtomicU64,
}

/// Listen on `addr` (default 127.0.0.1:4318, the OTLP/HTTP port) until killed.
pub async fn run(addr: Option<String>) -> Result<(), Error> {
    let addr = addr.unwrap_or_else(|| "127.0.0.1:4318".into());
    let received = Arc::new(Received::default());
    let counts = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            counts.exports.fetch_add(1, Ordering::Relaxed);
            counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            // An empty ExportTraceServiceResponse is zero bytes of protobuf.
            ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("otlp-sink: OTEL_EXPORTER_OTLP_ENDPOINT=http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let (n, b) = (received.exports.load(Ordering::Relaxed), received.bytes.load(Ordering::Relaxed));
            eprintln!("otlp-sink: {n} exports, {b} bytes");
        }
    });
    axum::serve(listener, app).await?;
    Ok(())
}
