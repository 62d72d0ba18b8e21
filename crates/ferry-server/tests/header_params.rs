//! `x-mcp-header` (SEP-2243): tool arguments mirrored into `Mcp-Param-*` headers must
//! agree with the body on the 2026-07-28 wire, and broken annotations do not build.

mod support;

use ferry_server::{Args, BuildError, Server, ToolDef};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use support::{modern_meta, stateless_call};

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Query {
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Priority"))]
    priority: Option<i64>,
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Verbose"))]
    verbose: Option<bool>,
    query: String,
}

async fn serve() -> String {
    let server = Server::builder("headers", "1")
        .tool(
            ToolDef::new("run_query")
                .handler(|Args(q): Args<Query>| async move { format!("{} in {}", q.query, q.region) }),
        )
        .tool(ToolDef::new("héllo").handler(|| async { "hi" }))
        .build()
        .unwrap();
    support::serve_http(server).await
}

fn body(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": modern_meta(json!({}))}})
}

/// POST a call with extra headers; (HTTP status, JSON-RPC message).
async fn post(url: &str, tool: &str, arguments: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = stateless_call(url, tool, &body(tool, arguments)).header("accept", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn matching_headers_are_accepted_plain_or_base64() {
    let url = serve().await;
    let args = json!({"region": "us-west1", "priority": 3, "verbose": true, "query": "q"});
    let ok = [
        vec![("Mcp-Param-Region", "us-west1"), ("Mcp-Param-Priority", "3"), ("Mcp-Param-Verbose", "true")],
        // Base64, lower-case header names, an integer written as a float.
        vec![
            ("mcp-param-region", "=?base64?dXMtd2VzdDE=?="),
            ("MCP-PARAM-PRIORITY", "3.0"),
            ("mcp-param-verbose", "true"),
        ],
    ];
    for headers in ok {
        let (status, r) = post(&url, "run_query", args.clone(), &headers).await;
        assert_eq!(status, 200, "{headers:?}: {r}");
        assert_eq!(r["result"]["content"][0]["text"], "q in us-west1", "{r}");
    }
    // Absent and null arguments send no header; a value outside plain ASCII must be Base64.
    let (status, r) = post(
        &url,
        "run_query",
        json!({"region": " Zürich", "priority": null, "query": "q"}),
        &[("Mcp-Param-Region", "=?base64?IFrDvHJpY2g=?=")],
    )
    .await;
    assert_eq!(status, 200, "{r}");
}

#[tokio::test]
async fn a_missing_malformed_or_different_header_is_400_header_mismatch() {
    let url = serve().await;
    let args = json!({"region": "us-west1", "priority": 3, "query": "q"});
    let region = ("Mcp-Param-Region", "us-west1");
    let priority = ("Mcp-Param-Priority", "3");
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: [(&str, Value, Headers); 7] = [
        ("region missing", args.clone(), vec![priority]),
        ("other region", args.clone(), vec![("Mcp-Param-Region", "eu-west1"), priority]),
        ("other priority", args.clone(), vec![region, ("Mcp-Param-Priority", "4")]),
        ("padding missing", args.clone(), vec![("Mcp-Param-Region", "=?base64?dXMtd2VzdDE?="), priority]),
        ("not Base64", args.clone(), vec![("Mcp-Param-Region", "=?base64?dXMt!!!d2VzdDE=?="), priority]),
        ("header without a value in the body", json!({"region": "us-west1", "query": "q"}), vec![region, priority]),
        ("twice", args.clone(), vec![region, region, priority]),
    ];
    for (what, args, headers) in cases {
        let (status, r) = post(&url, "run_query", args, &headers).await;
        assert_eq!(status, 400, "{what}: {r}");
        assert_eq!(r["error"]["code"], -32020, "{what}: {r}");
        assert_eq!(r["id"], 7, "{what}: {r}");
    }
    // A header spelling the wrapper only half is a literal, and here not the body's value.
    let (status, _) = post(&url, "run_query", args, &[("Mcp-Param-Region", "=?base64?dXMtd2VzdDE="), priority]).await;
    assert_eq!(status, 400);
    // Headers nobody marked are not this server's business.
    let (status, r) = post(
        &url,
        "run_query",
        json!({"region": "r", "query": "q"}),
        &[("Mcp-Param-Region", "r"), ("Mcp-Param-Other", "x")],
    )
    .await;
    assert_eq!(status, 200, "{r}");
}

#[tokio::test]
async fn mcp_name_may_be_base64_and_is_compared_decoded() {
    let url = serve().await;
    let send = |name: &'static str| {
        let url = url.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", name)
                .body(body("héllo", json!({})).to_string())
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    assert_eq!(send("=?base64?aMOpbGxv?=").await, 200);
    assert_eq!(send("=?base64?aGVsbG8=?=").await, 400, "'hello' is not 'héllo'");
}

#[test]
fn broken_annotations_do_not_build() {
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Bad {
        #[schemars(extend("x-mcp-header" = "Score"))]
        score: f64,
    }
    let err = Server::builder("bad", "1").tool(ToolDef::new("t").handler(|Args(_): Args<Bad>| async { "" })).build();
    match err {
        Err(e @ BuildError::InvalidHeaderParam { .. }) => assert!(e.to_string().contains("Score"), "{e}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a number parameter cannot be mirrored"),
    }
}
