//! Over stdio, `initialize` is answered before later lines are read, so a client
//! that pipelines the handshake and its first calls is always served.

mod support;

use ferry_server::{Server, ToolDef};
use serde_json::json;
use support::Peer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_initialize_and_call_are_served_in_order() {
    for _ in 0..200 {
        let server = Server::builder("s", "1").tool(ToolDef::new("hi").handler(|| async { "hi" })).build().unwrap();
        let mut p = Peer::connect(server);
        let init = p
            .send("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
            .await;
        let call = p.send("tools/call", json!({"name": "hi"})).await;
        let (mut init_ok, mut call_ok) = (false, false);
        while !(init_ok && call_ok) {
            let m = p.recv().await;
            if m["id"] == json!(init) {
                init_ok = m["result"]["protocolVersion"] == "2025-11-25";
                assert!(init_ok, "{m}");
            } else if m["id"] == json!(call) {
                assert_eq!(m["result"]["content"][0]["text"], "hi", "{m}");
                call_ok = true;
            }
        }
    }
}
