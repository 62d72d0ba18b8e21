//! Shared by the server's integration tests: a newline-delimited JSON-RPC peer
//! talking to `Server::serve_io` over an in-memory pipe.
#![allow(dead_code)]

use ferry_server::Server;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};

/// The client end of a pipe to a server.
pub struct Peer {
    tx: WriteHalf<DuplexStream>,
    rx: Lines<BufReader<ReadHalf<DuplexStream>>>,
    next: i64,
}

/// `_meta` of a 2026-07-28 request with these client capabilities.
pub fn modern_meta(caps: Value) -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": caps})
}

impl Peer {
    /// Connect without a handshake (for 2026-07-28 requests).
    pub fn connect(server: Server) -> Peer {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (r, w) = tokio::io::split(theirs);
        tokio::spawn(async move { server.serve_io(r, w).await });
        let (r, w) = tokio::io::split(ours);
        Peer { tx: w, rx: BufReader::new(r).lines(), next: 1 }
    }

    /// Connect and open a 2025-11-25 session.
    pub async fn session(server: Server) -> Peer {
        let mut p = Peer::connect(server);
        let init = p
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
        p
    }

    /// Send a request; returns its id.
    pub async fn send(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next;
        self.next += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string() + "\n";
        self.tx.write_all(line.as_bytes()).await.expect("write");
        id
    }

    /// Send any JSON value as one line (a response to the server, or a malformed message).
    pub async fn send_raw(&mut self, message: &Value) {
        let line = message.to_string() + "\n";
        self.tx.write_all(line.as_bytes()).await.expect("write");
    }

    /// The next message from the server.
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.rx.next_line())
            .await
            .expect("a message within 10 s")
            .expect("read")
            .expect("the server is still there");
        serde_json::from_str(&line).expect("JSON")
    }

    /// Send a request and wait for its response (other messages are skipped).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        loop {
            let v = self.recv().await;
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// Send a request with a chosen id and wait for its response.
    pub async fn request_with_id(&mut self, id: i64, method: &str, params: Value) -> Value {
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string() + "\n";
        self.tx.write_all(line.as_bytes()).await.expect("write");
        loop {
            let v = self.recv().await;
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// `tools/call` with arguments.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }
}

/// A stateless (2026-07-28) `tools/call` POST to `url` with its routing headers, ready to send.
pub fn stateless_call(url: &str, tool: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
}

/// Serve `server` over Streamable HTTP on a free port; its MCP endpoint.
pub async fn serve_http(server: Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    url
}

/// POST one JSON-RPC message with these headers besides the content headers;
/// (HTTP status, the JSON answer or `null`).
pub async fn post_json(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
