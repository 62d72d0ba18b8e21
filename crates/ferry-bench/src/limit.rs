//! `bench limit ADDR`: the machine's HTTP limit for `bench perf` (issue 11). A bare
//! hyper HTTP/1.1 server, keep-alive, `TCP_NODELAY` like Ferry's listener, that reads
//! each request body whole and answers one fixed JSON-RPC result, the one Ferry
//! gives for `tools/call add(2, 3)`. The same load client drives it as drives Ferry,
//! so Ferry's requests per second over the limit's is the share of the machine's
//! HTTP capacity that Ferry's own work leaves.

use crate::client::Error;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// What every request gets: the result of `add(2, 3)` as Ferry words it.
pub const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"5"}],"isError":false}}"#;

/// Serve until killed (a multi-threaded runtime sized to the CPUs it may use, as Ferry's).
pub fn serve(addr: SocketAddr) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    })
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    // Read the request as a server must before it can answer.
    let _body = request.into_body().collect().await?.to_bytes();
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{free_addr, wait_for, Client};
    use std::sync::Arc;

    #[test]
    fn the_bench_client_reads_the_fixed_answer_as_a_call_result() {
        let addr: SocketAddr = free_addr().unwrap().parse().unwrap();
        std::thread::spawn(move || serve(addr));
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = reqwest::Client::new();
            let url = Arc::new(format!("http://{addr}/mcp"));
            wait_for(&http, &url).await.unwrap();
            let mut client = Client::new(&http, &url);
            for _ in 0..3 {
                client.plain_call().await.unwrap(); // checks the text is "5"
            }
        });
    }
}
