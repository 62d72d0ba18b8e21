//! Records written by earlier versions (outcome stored as a JSON tree, then decoded into
//! one) still read, and what is written now has the same shape.

mod common;

use ferry_protocol::{ErrorCode, TaskStatus};
use ferry_tasks::{Backend, Outcome};
use serde_json::{json, Value};

/// A completed `add` task and a failed one, exactly as the previous version stored them.
const OLD_COMPLETED: &str = r#"{"id":"0old0completed0task0000000","owner":"session:s1","session":"s1","kind":"tools/call","name":"add","status":"completed","status_message":null,"created_at":1764600000000,"updated_at":1764600000003,"ttl_ms":4102444800000,"poll_interval_ms":10,"outcome":{"type":"result","value":{"content":[{"text":"5","type":"text"}],"isError":false,"structuredContent":{"sum":5}},"is_error":false},"input_requests":{},"input_responses":{},"progress":{"progress":1.0,"total":2.0,"message":"half"},"progress_token":"tok-1"}"#;
const OLD_FAILED: &str = r#"{"id":"0old0failed0task00000000000","owner":"anonymous","account":"ip:127.0.0.1","kind":"prompts/get","name":"greet","status":"failed","status_message":"boom","created_at":1764600000000,"updated_at":1764600000005,"ttl_ms":4102444800000,"poll_interval_ms":1000,"outcome":{"type":"error","error":{"code":-32603,"message":"boom","data":{"why":"test"}}},"input_requests":{},"input_responses":{},"progress":null,"progress_token":null,"argument_bytes":7}"#;

#[tokio::test]
async fn records_of_the_previous_version_read_and_are_written_the_same_way() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    let mut conn = redis::Client::open(common::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    for old in [OLD_COMPLETED, OLD_FAILED] {
        let id = serde_json::from_str::<Value>(old).unwrap()["id"].as_str().unwrap().to_string();
        let _: () = redis::cmd("SET").arg(format!("{prefix}:task:{id}")).arg(old).query_async(&mut conn).await.unwrap();
    }

    let done = b.0.get("0old0completed0task0000000").await.unwrap().expect("the old record reads");
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!((&*done.kind, &*done.name, done.session.as_deref()), ("tools/call", "add", Some("s1")));
    let value = json!({"content": [{"type": "text", "text": "5"}], "isError": false, "structuredContent": {"sum": 5}});
    assert_eq!(done.outcome.as_ref().and_then(Outcome::result_value), Some(value));
    assert!(matches!(done.outcome, Some(Outcome::Result { is_error: false, .. })));
    assert_eq!(
        done.progress.as_ref().map(|p| (p.progress, p.total, p.message.as_deref())),
        Some((1.0, Some(2.0), Some("half")))
    );
    assert_eq!(done.progress_token.as_deref(), Some(&json!("tok-1")));

    let failed = b.0.get("0old0failed0task00000000000").await.unwrap().expect("the old record reads");
    assert_eq!((failed.status, failed.account(), failed.argument_bytes), (TaskStatus::Failed, "ip:127.0.0.1", 7));
    match &failed.outcome {
        Some(Outcome::Error { error }) => {
            assert_eq!((error.code, error.message.as_str()), (ErrorCode::INTERNAL_ERROR, "boom"));
            assert_eq!(error.data, Some(json!({"why": "test"})));
        }
        other => panic!("expected the stored error, got {other:?}"),
    }

    // Written back now, each is the same JSON as before (key order aside).
    for (old, rec) in [(OLD_COMPLETED, &done), (OLD_FAILED, &failed)] {
        let old: Value = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_value(rec).unwrap(), old);
    }
}

/// A running task as the previous version laid it out in Redis (one partition, no cluster:
/// `P:task:{id}`, `P:owner:{owner}`, `P:jobs`, `P:live`, `P:seq`) is found, listed, claimed
/// and completed: an upgrade keeps the key layout byte for byte.
#[tokio::test]
async fn a_task_in_the_previous_key_layout_is_found_claimed_and_completed() {
    let b = common::backend().await;
    let p = b.0.config().prefix.clone();
    let (mut rec, job) = ferry_tasks::testkit::task("session:old");
    rec.id = "0old0running0task0000000000".into();
    let job = ferry_tasks::Job { task_id: rec.id.clone(), ..job };
    let mut conn = redis::Client::open(common::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::pipe()
        .cmd("SET")
        .arg(format!("{p}:task:{}", rec.id))
        .arg(serde_json::to_string(&rec).unwrap())
        .ignore()
        .cmd("ZADD")
        .arg(format!("{p}:owner:session:old"))
        .arg(1)
        .arg(&rec.id)
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:live"))
        .arg("n")
        .arg(1)
        .arg("n:session:old")
        .arg(1)
        .arg("o:session:old")
        .arg(1)
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:seq"))
        .arg(1)
        .ignore()
        .cmd("XADD")
        .arg(format!("{p}:jobs"))
        .arg("*")
        .arg("job")
        .arg(serde_json::to_string(&job).unwrap())
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(b.0.get(&rec.id).await.unwrap().map(|r| r.status), Some(TaskStatus::Working));
    let listed = b.0.list("session:old", None, 10).await.unwrap().tasks;
    assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [rec.id.as_str()]);
    let claimed = b.0.claim_batch("w", 10, std::time::Duration::from_secs(2)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.task_id.as_str()).collect::<Vec<_>>(), [rec.id.as_str()]);
    let done = b.0.complete(&rec.id, Outcome::result(&json!({"ok": true}), false).unwrap()).await.unwrap();
    assert_eq!(done.map(|r| r.status), Some(TaskStatus::Completed));
}
