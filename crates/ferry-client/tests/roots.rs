//! The client offers roots only when given some (`ClientOptions::roots`): then it
//! declares the capability and answers `roots/list`, in a session and in stateless rounds.

mod support;

use ferry_client::{Client, ClientOptions, Mode};
use ferry_server::{Context, Server, ToolDef, ToolError};
use serde_json::json;

async fn serve() -> String {
    let server = Server::builder("roots", "1")
        .tool(ToolDef::new("where").handler(|cx: Context| async move {
            if !cx.client_supports("roots") {
                return Ok("no roots".to_string());
            }
            let roots = cx.list_roots().await?;
            Ok::<_, ToolError>(roots["roots"][0]["uri"].as_str().unwrap_or("?").to_string())
        }))
        .build()
        .unwrap();
    support::serve_ferry(server).await
}

#[tokio::test]
async fn roots_given_to_the_client_reach_the_server_in_both_eras() {
    let url = serve().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let options = ClientOptions::default().mode(mode).roots([("file:///srv/project", "project")]);
        let c = Client::connect_http(&url, options).await.unwrap();
        let r = c.call_tool("where", json!({})).await.unwrap();
        assert_eq!(r.content[0].as_text(), Some("file:///srv/project"), "{mode:?}");
        let c = Client::connect_http(&url, ClientOptions::default().mode(mode)).await.unwrap();
        let r = c.call_tool("where", json!({})).await.unwrap();
        assert_eq!(r.content[0].as_text(), Some("no roots"), "{mode:?}: no roots, no capability");
    }
}
