//! The admin API (`ferry_server::admin`): reads, filters, cancel, and who may do what.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use ferry_protocol::time_fmt::now_ms;
use ferry_server::admin::{self, AdminConfig};
use ferry_server::engine::{Backend, Job, MemoryBackend, TaskRecord};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

async fn submit(backend: &MemoryBackend, owner: &str, name: &str) -> String {
    let rec = TaskRecord::new(owner, "tools/call", name, now_ms());
    let job = Job {
        task_id: rec.id.clone(),
        kind: "tools/call".into(),
        name: name.into(),
        arguments: json!({"n": 1}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    let id = rec.id.clone();
    backend.submit(rec, job).await.unwrap();
    id
}

/// Send a request; returns the status, the `WWW-Authenticate` header and the JSON body.
async fn send(app: &axum::Router, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    (status, challenge, body)
}

fn app(backend: &MemoryBackend, token: Option<&str>, open_reads: bool) -> axum::Router {
    let config = AdminConfig { token: token.map(String::from), open_reads };
    admin::router(Arc::new(backend.clone()), config)
}

#[tokio::test]
async fn reads_list_filter_page_and_show_tasks_of_every_owner() {
    let backend = MemoryBackend::default();
    let a = submit(&backend, "alice", "resize").await;
    let b = submit(&backend, "bob", "resize").await;
    let c = submit(&backend, "bob", "email").await;
    let app = app(&backend, Some("t0ken"), false);

    let (status, _, stats) = send(&app, "GET", "/admin/api/status", Some("t0ken")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!((stats["queued"].as_u64(), stats["tasksByStatus"]["working"].as_u64()), (Some(3), Some(3)));

    let (_, _, all) = send(&app, "GET", "/admin/api/tasks?limit=2", Some("t0ken")).await;
    let ids: Vec<&str> = all["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    let cursor = all["nextCursor"].as_str().unwrap();
    let (_, _, rest) = send(&app, "GET", &format!("/admin/api/tasks?limit=2&cursor={cursor}"), Some("t0ken")).await;
    assert_eq!(rest["tasks"][0]["id"], c.as_str());
    assert!(rest["nextCursor"].is_null());

    let (_, _, bobs) = send(&app, "GET", "/admin/api/tasks?owner=bob&name=resize&status=working", Some("t0ken")).await;
    assert_eq!(bobs["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["tasks"][0]["id"], b.as_str());

    let (status, _, detail) = send(&app, "GET", &format!("/admin/api/tasks/{a}"), Some("t0ken")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((detail["record"]["owner"].clone(), detail["arguments"].clone()), (json!("alice"), json!({"n": 1})));
    let (status, _, missing) = send(&app, "GET", "/admin/api/tasks/nope", Some("t0ken")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"].as_str().unwrap().contains("nope"));

    for bad in ["status=sleeping", "limit=501", "limit=x", "minAgeMs=-1", "cursor=zzz", "colour=red"] {
        let (status, _, body) = send(&app, "GET", &format!("/admin/api/tasks?{bad}"), Some("t0ken")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn cancel_needs_the_token_and_says_when_the_task_had_ended() {
    let backend = MemoryBackend::default();
    let id = submit(&backend, "alice", "resize").await;
    let app = app(&backend, Some("t0ken"), true);
    let uri = format!("/admin/api/tasks/{id}/cancel");
    let (status, challenge, body) = send(&app, "POST", &uri, None).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")), "{body}");
    let (status, challenge, _) = send(&app, "POST", &uri, Some("wrong")).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")));
    assert_eq!(backend.get(&id).await.unwrap().unwrap().status.as_str(), "working", "nothing changed");

    let (status, _, record) = send(&app, "POST", &uri, Some("t0ken")).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "cancelled");
    let (status, _, again) = send(&app, "POST", &uri, Some("t0ken")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _, _) = send(&app, "POST", "/admin/api/tasks/nope/cancel", Some("t0ken")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Reads are open on this listener.
    assert_eq!(send(&app, "GET", "/admin/api/status", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_writes_are_refused_and_reads_only_open_where_allowed() {
    let backend = MemoryBackend::default();
    let id = submit(&backend, "alice", "resize").await;
    let open = app(&backend, None, true);
    assert_eq!(send(&open, "GET", "/admin/api/tasks", None).await.0, StatusCode::OK);
    let (status, _, body) = send(&open, "POST", &format!("/admin/api/tasks/{id}/cancel"), Some("anything")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("--admin-token"), "{body}");
    let closed = app(&backend, None, false);
    assert_eq!(send(&closed, "GET", "/admin/api/status", None).await.0, StatusCode::FORBIDDEN);
    let guarded = app(&backend, Some("t0ken"), false);
    let (status, challenge, _) = send(&guarded, "GET", "/admin/api/status", None).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer")));
    // Unknown routes are JSON 404s, after the credential check.
    let (status, _, body) = send(&guarded, "GET", "/admin/api/nothing", Some("t0ken")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(send(&guarded, "GET", "/admin/api/nothing", None).await.0, StatusCode::UNAUTHORIZED);
}
