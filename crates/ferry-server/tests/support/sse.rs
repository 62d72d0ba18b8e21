//! Reading SSE streams in tests: events with their id, retry and data.
#![allow(dead_code)]

use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// One SSE event's fields.
#[derive(Debug, Default, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub retry: Option<String>,
    pub data: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("null")).unwrap_or(Value::Null)
    }
}

/// Parse complete events out of `buf`, leaving a partial one in place.
pub fn parse_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut ev = SseEvent::default();
        let mut any = false;
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_string();
            match field {
                "id" => ev.id = Some(value),
                "retry" => ev.retry = Some(value),
                "data" => ev.data = Some(ev.data.take().map_or(value.clone(), |d| format!("{d}\n{value}"))),
                _ => continue, // comments (keep-alives), event type
            }
            any = true;
        }
        if any {
            out.push(ev);
        }
    }
    out
}

/// Read events until `n` have arrived or the stream ends; with `None`, until it ends.
pub async fn read_events(resp: reqwest::Response, n: Option<usize>) -> (Vec<SseEvent>, bool) {
    let mut body = resp.bytes_stream();
    let (mut buf, mut events) = (String::new(), Vec::new());
    loop {
        if n.is_some_and(|n| events.len() >= n) {
            return (events, false);
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next()).await.expect("SSE stream stalled");
        match chunk {
            Some(Ok(bytes)) => {
                buf.push_str(&String::from_utf8_lossy(&bytes));
                events.extend(parse_events(&mut buf));
            }
            Some(Err(e)) => panic!("stream error: {e}"),
            None => return (events, true),
        }
    }
}
