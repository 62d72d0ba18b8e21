//! Reading request bodies within bounds: a size limit, a time limit, and a
//! server-wide budget of body bytes in flight.
//!
//! A body takes its bytes from the budget chunk by chunk as they arrive (a client
//! that announces a large body but sends little holds little) and gives them back
//! when its caller drops the [`Held`] bytes, after parsing. When the budget is
//! spent, a chunk waits up to [`ConnectionLimits::body_budget_wait`] for room, then
//! the request is refused with `503` and `Retry-After: 1`: many large bodies at
//! once are slowed and then shed, instead of all being held (and parsed) together.
//! One client (auth subject, else address) may hold at most a quarter of the budget
//! (and at least one whole body): past its share it is refused at once, and the rest
//! of the budget stays for the others.

use super::listener::ConnectionLimits;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use ferry_protocol::{ErrorObject, Response};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

/// The budget of body bytes in flight, shared by the requests of a router.
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// Bytes held per client, within `share` each.
    clients: Arc<Mutex<HashMap<String, usize>>>,
    share: usize,
    size: usize,
    max_body: usize,
    wait: Duration,
    read_timeout: Duration,
}

/// Budget bytes held by a body; given back when dropped.
pub(crate) struct Held {
    _permit: Option<OwnedSemaphorePermit>,
    _share: Option<Share>,
}

/// One client's part of the budget, taken chunk by chunk; given back when dropped.
struct Share {
    clients: Arc<Mutex<HashMap<String, usize>>>,
    client: String,
    bytes: usize,
}

impl Share {
    /// Take `n` more bytes of the client's share, unless that would pass `max`.
    fn take(&mut self, n: usize, max: usize) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let held = clients.entry(self.client.clone()).or_default();
        if *held + n > max {
            return false;
        }
        *held += n;
        self.bytes += n;
        true
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = clients.get_mut(&self.client) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

impl BodyBudget {
    /// A budget per `limits`, for bodies of at most `max_body` bytes.
    pub fn new(limits: &ConnectionLimits, max_body: usize) -> Self {
        let size = limits.max_inflight_body_bytes.max(max_body).min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(size)),
            clients: Default::default(),
            share: (size / 4).max(max_body),
            size,
            max_body,
            wait: limits.body_budget_wait,
            read_timeout: limits.body_read_timeout,
        }
    }

    /// Read a whole body, or the response refusing it: `413` when it is (or says it
    /// will be) larger than `max_body`, `408` when it is not in within the read
    /// timeout, `503` when the budget has no room for it in time or `client` holds its
    /// whole share, `400` when the connection fails.
    pub async fn read(&self, body: Body, headers: &HeaderMap, client: &str) -> Result<(Bytes, Held), HttpResponse> {
        let max = self.max_body;
        let too_large = || {
            crate::metrics::refused(crate::metrics::Limit::BodySize);
            refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("Request body larger than {max} bytes (max_body_bytes)"))
        };
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let deadline = Instant::now() + self.read_timeout;
        let late = || {
            crate::metrics::refused(crate::metrics::Limit::BodyReadTimeout);
            refusal(
                StatusCode::REQUEST_TIMEOUT,
                format!("Request body not received within {:?} (body_read_timeout)", self.read_timeout),
            )
        };
        let mut stream = body.into_data_stream();
        let (mut chunks, mut total, mut held) = (Vec::<Bytes>::new(), 0usize, None::<OwnedSemaphorePermit>);
        let mut share = Share { clients: self.clients.clone(), client: client.to_string(), bytes: 0 };
        loop {
            let chunk = match timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(late()),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(refusal(StatusCode::BAD_REQUEST, format!("Cannot read the request body: {e}")))
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            total += chunk.len();
            if total > max {
                return Err(too_large());
            }
            if !share.take(chunk.len(), self.share) {
                return Err(self.over_share());
            }
            let n = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            let permit =
                match timeout_at(deadline.min(Instant::now() + self.wait), self.bytes.clone().acquire_many_owned(n))
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) | Err(_) if Instant::now() >= deadline => return Err(late()),
                    _ => return Err(self.busy()),
                };
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            chunks.push(chunk);
        }
        let bytes = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => Bytes::from(chunks.concat()),
        };
        Ok((bytes, Held { _permit: held, _share: Some(share) }))
    }

    fn over_share(&self) -> HttpResponse {
        crate::metrics::refused(crate::metrics::Limit::BodyShare);
        let mut r = limit_refusal(
            "owner",
            format!(
                "Your request bodies in flight already hold {} bytes, a client's share of the server's budget; \
                 retry when they are done",
                self.share
            ),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }

    fn busy(&self) -> HttpResponse {
        crate::metrics::refused(crate::metrics::Limit::BodyBudget);
        let mut r = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Server busy: request bodies in flight use the whole budget of {} bytes (max_inflight_body_bytes); \
                 retry later",
                self.size
            ),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }
}

/// A JSON-RPC error answer for a request whose body (hence id) was not read.
fn refusal(status: StatusCode, message: String) -> HttpResponse {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return limit_refusal("server", message);
    }
    answer(status, ErrorObject::invalid_request(message))
}

/// `503` with `-32029` and the limit's scope (`owner`: the client's share, `server`: the whole budget).
fn limit_refusal(scope: &str, message: String) -> HttpResponse {
    let error = ErrorObject::new(ferry_protocol::ErrorCode::LIMIT_EXCEEDED, message)
        .with_data(serde_json::json!({ "scope": scope }));
    answer(StatusCode::SERVICE_UNAVAILABLE, error)
}

fn answer(status: StatusCode, error: ErrorObject) -> HttpResponse {
    let body = serde_json::to_vec(&Response::err(None, error)).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
