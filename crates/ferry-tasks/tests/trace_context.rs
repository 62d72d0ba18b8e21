//! The trace context travels with the job: the worker's run of a job is a span whose
//! parent is the context stored in the job, through the installed propagator; jobs
//! stored without one still decode. (A binary of its own: the propagator is global.)

use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::ErrorObject;
use ferry_tasks::trace::{self, Propagator, TraceContext};
use ferry_tasks::{Backend, Executor, Job, MemoryBackend, Outcome, TaskRecord, TaskRuntime, Worker, WorkerConfig};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::span::Id;

/// A span given a parent: its id, its name and the parent.
type Parented = (Option<Id>, &'static str, TraceContext);

/// Remembers which span was given which parent.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<Parented>>>);

impl Propagator for Recording {
    fn context_of(&self, _span: &tracing::Span) -> Option<TraceContext> {
        None
    }
    fn set_parent(&self, span: &tracing::Span, parent: &TraceContext) {
        let name = span.metadata().map(|m| m.name()).unwrap_or("disabled");
        self.0.lock().unwrap().push((span.id(), name, parent.clone()));
    }
}

/// Which span the handler of a task ran in.
type Ran = Arc<Mutex<Vec<(String, Option<Id>)>>>;

/// Says which span the handler ran in.
struct Whoami(Ran);

#[async_trait]
impl Executor for Whoami {
    async fn execute(&self, job: Job, _rt: TaskRuntime) -> Result<Outcome, ErrorObject> {
        self.0.lock().unwrap().push((job.task_id.clone(), tracing::Span::current().id()));
        Ok(Outcome::result(&json!({}), false).unwrap())
    }
}

async fn submit(b: &MemoryBackend, trace: Option<TraceContext>) -> String {
    let rec = TaskRecord::new("owner", "tools/call", "add", now_ms());
    let id = rec.id.clone();
    let job = Job {
        task_id: id.clone(),
        kind: "tools/call".into(),
        name: "add".into(),
        arguments: json!({}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace,
    };
    b.submit(rec, job).await.unwrap();
    id
}

#[tokio::test]
async fn a_run_is_a_child_of_the_context_its_job_carries() {
    tracing_subscriber::fmt().with_writer(std::io::sink).with_max_level(tracing::Level::INFO).init();
    let recording = Recording::default();
    assert!(trace::install(recording.clone()));
    assert!(!trace::install(Recording::default()), "the first propagator stays");
    assert!(trace::enabled());

    let b = MemoryBackend::default();
    let ran: Ran = Arc::default();
    let config = WorkerConfig { claim_wait: Duration::from_millis(50), ..WorkerConfig::default() };
    let w = Worker::new(Arc::new(b.clone()), Arc::new(Whoami(ran.clone())), config).start();
    let parent = TraceContext {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        tracestate: Some("rojo=1".into()),
    };
    let traced = submit(&b, Some(parent.clone())).await;
    let untraced = submit(&b, None).await;
    for _ in 0..1000 {
        if ran.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.shutdown().await;
    let ran = ran.lock().unwrap().clone();
    let span_of = |id: &str| ran.iter().find(|(t, _)| t == id).and_then(|(_, s)| s.clone()).expect("ran in a span");
    let parents = recording.0.lock().unwrap().clone();
    assert_eq!(parents, vec![(Some(span_of(&traced)), "ferry.task", parent)], "only the traced job's span");
    assert_ne!(span_of(&untraced), span_of(&traced));
}

#[test]
fn jobs_stored_without_a_trace_context_decode() {
    let old = r#"{"task_id":"t1","kind":"tools/call","name":"add","arguments":{},"context":{},"attempt":1}"#;
    let job: Job = serde_json::from_str(old).expect("decodes");
    assert_eq!(job.trace, None);
    assert!(!serde_json::to_string(&job).unwrap().contains("trace"), "nothing added when there is none");
    let traced = Job { trace: TraceContext::from_untrusted("00-ab-cd-01", None), ..job };
    let back: Job = serde_json::from_str(&serde_json::to_string(&traced).unwrap()).unwrap();
    assert_eq!(back, traced);
}
