//! `resources/subscribe`: a subscribed session hears `notifications/resources/updated`
//! when a handler or the application says the resource changed; others do not.

mod support;

use support::{modern_meta, Peer};

use ferry_server::{Context, ResourceDef, Server, ToolDef};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn server() -> Server {
    let counter = Arc::new(AtomicU64::new(0));
    let read = counter.clone();
    Server::builder("updates", "1")
        .resource(ResourceDef::new("mem://counter", "counter").handler(move || {
            let read = read.clone();
            async move { read.load(Ordering::SeqCst).to_string() }
        }))
        .resource(ResourceDef::new("mem://other", "other").handler(|| async { String::from("other") }))
        .tool(ToolDef::new("bump").handler(move |cx: Context| {
            let counter = counter.clone();
            async move {
                let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
                cx.notify_resource_updated("mem://counter").await.map_err(ferry_server::ToolError::from)?;
                Ok::<_, ferry_server::ToolError>(now.to_string())
            }
        }))
        .build()
        .unwrap()
}

/// Messages up to (not including) the answer to a `ping`: what the server queued for this session before it.
async fn queued(p: &mut Peer) -> Vec<Value> {
    let id = p.send("ping", json!({})).await;
    let mut seen = Vec::new();
    loop {
        let v = p.recv().await;
        if v["id"] == json!(id) {
            return seen;
        }
        seen.push(v);
    }
}

async fn next_update(p: &mut Peer) -> Value {
    loop {
        let v = p.recv().await;
        if v["method"] == "notifications/resources/updated" {
            return v;
        }
    }
}

#[tokio::test]
async fn subscribers_hear_of_updates_others_do_not() {
    let server = server();
    let mut watcher = Peer::session(server.clone()).await;
    let mut bystander = Peer::session(server.clone()).await;
    let mut other = Peer::session(server.clone()).await;
    assert_eq!(watcher.request("resources/subscribe", json!({"uri": "mem://counter"})).await["result"], json!({}));
    assert_eq!(other.request("resources/subscribe", json!({"uri": "mem://other"})).await["result"], json!({}));

    // A tool called by someone else changes the resource.
    let r = bystander.call("bump", json!({})).await;
    assert_eq!(r["result"]["content"][0]["text"], "1", "{r}");
    let n = next_update(&mut watcher).await;
    assert_eq!(n["params"], json!({"uri": "mem://counter"}));
    let r = watcher.request("resources/read", json!({"uri": "mem://counter"})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "1", "{r}");
    // Delivery to every session happens in one step, so by now nothing is on its way to the others.
    for p in [&mut bystander, &mut other] {
        let q = queued(p).await;
        assert!(q.iter().all(|m| m["method"] != "notifications/resources/updated"), "{q:?}");
    }

    // The application says so too; after unsubscribing, nothing comes.
    server.notify_resource_updated("mem://counter").await.unwrap();
    assert_eq!(next_update(&mut watcher).await["params"]["uri"], "mem://counter");
    watcher.request("resources/unsubscribe", json!({"uri": "mem://counter"})).await;
    bystander.call("bump", json!({})).await;
    server.notify_resource_updated("mem://other").await.unwrap();
    assert_eq!(next_update(&mut other).await["params"]["uri"], "mem://other");
    let q = queued(&mut watcher).await;
    assert!(q.iter().all(|m| m["method"] != "notifications/resources/updated"), "{q:?}");
}

#[tokio::test]
async fn subscribing_to_an_unknown_resource_is_an_error() {
    let mut p = Peer::session(server()).await;
    let r = p.request("resources/subscribe", json!({"uri": "mem://nothing"})).await;
    assert_eq!(r["error"]["code"], -32002, "{r}");
    let r = p.request("resources/subscribe", json!({})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[tokio::test]
async fn stateless_clients_hear_of_updates_on_a_listen_stream() {
    let server = server();
    let mut p = Peer::connect(server.clone());
    let filter = json!({"resourceSubscriptions": ["mem://counter", "mem://nothing"]});
    let id = p.send("subscriptions/listen", json!({"notifications": filter, "_meta": modern_meta(json!({}))})).await;
    let ack = p.recv().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    // Only what exists is honoured.
    assert_eq!(ack["params"]["notifications"], json!({"resourceSubscriptions": ["mem://counter"]}), "{ack}");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], id, "{ack}");
    server.notify_resource_updated("mem://other").await.unwrap(); // not listened to
    server.notify_resource_updated("mem://counter").await.unwrap();
    let n = p.recv().await;
    assert_eq!(n["method"], "notifications/resources/updated", "{n}");
    assert_eq!(n["params"]["uri"], "mem://counter", "{n}");
    assert_eq!(n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], id, "{n}");
}

#[tokio::test]
async fn a_malformed_listen_filter_is_invalid_params() {
    let mut p = Peer::connect(server());
    for filter in [json!({"resourceSubscriptions": "mem://counter"}), json!({"resourceSubscriptions": [1]}), json!([])]
    {
        let r =
            p.request("subscriptions/listen", json!({"notifications": filter, "_meta": modern_meta(json!({}))})).await;
        assert_eq!(r["error"]["code"], -32602, "{filter}: {r}");
    }
}
