//! How clients learn that a task ended (issue 15): the advertised poll interval
//! adapts to a tool's run times (counted in polls of a client that honours it, not
//! timed), a tool's fixed interval overrides it, and a listening client hears the
//! terminal status without polling at all, in both forms.

use crate::common::*;
use ferry_server::{PollInterval, ToolDef};
use serde_json::{json, Value};

/// No quick answers: every call here is to become a task, however quick (the advertised
/// intervals are those of task objects).
fn no_quick_answers(c: &mut ferry_server::ServerConfig) {
    c.quick_answer = std::time::Duration::ZERO;
}

/// A caller of either form.
enum Caller {
    A(Session),
    B(Modern),
}

impl Caller {
    async fn new(srv: &TestServer, form: &str) -> Caller {
        if form == "A" {
            Caller::A(srv.session().await)
        } else {
            Caller::B(srv.modern_tasks())
        }
    }

    /// The interval a task object advertises (`pollInterval` / `pollIntervalMs`).
    fn interval(&self, task: &Value) -> u64 {
        let key = if matches!(self, Caller::A(_)) { "pollInterval" } else { "pollIntervalMs" };
        task[key].as_u64().unwrap_or_else(|| panic!("no {key} in {task}"))
    }

    /// Start `name(args)` as a task; the created task object.
    async fn create(&self, name: &str, args: Value) -> Value {
        match self {
            Caller::A(s) => s.call_task(name, args).await,
            Caller::B(m) => {
                let t = m.call(name, args).await;
                assert_eq!(t["resultType"], "task", "{t}");
                t
            }
        }
    }

    async fn get(&self, id: &str) -> Value {
        match self {
            Caller::A(s) => s.get_task(id).await,
            Caller::B(m) => m.get_task(id).await,
        }
    }

    /// Run `name(args)` as a task, polling `tasks/get` at every advertised interval until
    /// it ends, as a client honouring the interval does. The intervals advertised, in order
    /// (the create result's first); their count less one is the number of polls.
    async fn poll_through(&self, name: &str, args: Value) -> Vec<u64> {
        let mut task = self.create(name, args).await;
        let id = task["taskId"].as_str().unwrap().to_string();
        let mut intervals = vec![self.interval(&task)];
        while task["status"] == "working" {
            tokio::time::sleep(std::time::Duration::from_millis(*intervals.last().unwrap())).await;
            task = self.get(&id).await;
            intervals.push(self.interval(&task));
        }
        assert_eq!(task["status"], "completed", "{task}");
        intervals
    }
}

async fn the_interval_adapts(form: &str) {
    let srv = TestServer::demo_with(no_quick_answers).await;
    let c = Caller::new(&srv, form).await;
    let run = json!({"ms": 200});
    // A tool with no history: poll soon (the minimum), then ever less often as the task ages.
    let first = c.poll_through("sleep", run.clone()).await;
    assert_eq!(first[0], 10, "a new tool starts at the minimum: {first:?}");
    assert!(first.windows(2).all(|w| w[0] <= w[1]), "never shorter as the task ages: {first:?}");
    assert!(first.last() > first.first(), "longer later in the task's life: {first:?}");
    // Learn it: a few more runs of about 200 ms.
    for _ in 0..2 {
        c.poll_through("sleep", run.clone()).await;
    }
    let learned = c.poll_through("sleep", run.clone()).await;
    assert!(learned[0] >= 40, "a fifth of the median run (>= 200 ms) from the start: {learned:?}");
    assert!(
        learned.len() < first.len(),
        "fewer polls once the tool's run time is known: {} then {}",
        first.len() - 1,
        learned.len() - 1
    );
    // Another tool keeps its own history.
    assert_eq!(c.interval(&c.create("add", json!({"a": 1, "b": 2})).await), 10);
}

#[tokio::test]
async fn the_advertised_interval_adapts_to_run_times_form_a() {
    the_interval_adapts("A").await;
}

#[tokio::test]
async fn the_advertised_interval_adapts_to_run_times_form_b() {
    the_interval_adapts("B").await;
}

#[tokio::test]
async fn a_fixed_interval_overrides_the_adaptive_one_per_tool_and_server_wide() {
    let nap = ToolDef::new("nap")
        .task_support(ferry_server::TaskSupport::Optional)
        .poll_interval(PollInterval::Fixed(400))
        .handler(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            "rested"
        });
    let srv = TestServer::start(demo::builder().configure(no_quick_answers).tool(nap)).await;
    for form in ["A", "B"] {
        let c = Caller::new(&srv, form).await;
        // A poll every 400 ms over a 100 ms run: exactly one poll.
        assert_eq!(c.poll_through("nap", json!({})).await, vec![400, 400], "form {form}");
        assert_eq!(c.interval(&c.create("add", json!({"a": 1, "b": 2})).await), 10, "others adapt");
    }
    let fixed = TestServer::demo_with(|c| {
        no_quick_answers(c);
        c.poll_interval = PollInterval::Fixed(700);
    })
    .await;
    let c = Caller::new(&fixed, "B").await;
    assert_eq!(c.poll_through("sleep", json!({"ms": 50})).await, vec![700, 700]);
}

#[tokio::test]
async fn a_listening_client_gets_the_terminal_status_without_polling_form_a() {
    let srv = TestServer::demo_with(no_quick_answers).await;
    let s = srv.session().await;
    let mut stream = s.stream().await;
    let t = s.call_task("sleep", json!({"ms": 100})).await;
    assert_eq!(t["status"], "working");
    let id = t["taskId"].clone();
    // No tasks/get: the session's stream says when it ends, and tasks/result has it at once.
    let n = stream
        .wait_for("the terminal status", |m| {
            m["method"] == "notifications/tasks/status"
                && m["params"]["taskId"] == id
                && m["params"]["status"] == "completed"
        })
        .await;
    assert!(n["params"]["pollInterval"].is_u64(), "{n}");
    let r = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(text(&r), "slept 100");
}

#[tokio::test]
async fn a_listening_client_gets_the_terminal_status_without_polling_form_b() {
    let srv = TestServer::demo_with(no_quick_answers).await;
    let m = srv.modern_tasks();
    let t = m.call("sleep", json!({"ms": 100})).await;
    assert_eq!(t["status"], "working");
    let id = t["taskId"].as_str().unwrap();
    // The listen stream ends by itself once its only task is terminal.
    let reply = m.send("subscriptions/listen", json!({"notifications": {"taskIds": [id]}})).await;
    assert!(reply.is_sse(), "{reply:?}");
    let notes: Vec<&Value> = reply.others().into_iter().filter(|n| n["method"] == "notifications/tasks").collect();
    let last = notes.last().unwrap_or_else(|| panic!("no task notifications: {reply:?}"));
    assert_eq!(last["params"]["taskId"], id);
    assert_eq!(last["params"]["status"], "completed", "{last}");
    assert_eq!(text(&last["params"]["result"]), "slept 100", "the result inlined: {last}");
    assert!(last["params"]["pollIntervalMs"].is_u64(), "{last}");
}
