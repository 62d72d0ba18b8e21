//! Streamable HTTP.

use super::{Hints, Inbox, Transport};
use crate::error::ClientError;
use crate::oauth::OAuth;
use async_trait::async_trait;
use ferry_protocol::headers::encode_value;
use ferry_protocol::{Message, Notification, Request, Response};
use futures::StreamExt;
use std::sync::{Arc, Mutex};

pub(crate) struct HttpTransport {
    http: reqwest::Client,
    url: String,
    session: Mutex<Option<String>>,
    inbox: Inbox,
    /// Sign-in to a server that is an OAuth protected resource.
    oauth: Option<Arc<OAuth>>,
}

impl HttpTransport {
    /// `headers` go with every request.
    pub fn new(
        url: String,
        headers: Vec<(String, String)>,
        oauth: Option<Arc<OAuth>>,
        inbox: Inbox,
    ) -> Result<Self, ClientError> {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            let bad = |e: &dyn std::fmt::Display| ClientError::Transport(format!("header '{name}': {e}"));
            let n = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(&e))?;
            let v = reqwest::header::HeaderValue::from_str(&value).map_err(|e| bad(&e))?;
            defaults.insert(n, v);
        }
        let http = reqwest::Client::builder()
            .default_headers(defaults)
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Self { http, url, session: Mutex::new(None), inbox, oauth })
    }

    fn session(&self) -> Option<String> {
        self.session.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn post(&self, body: &Message, method: &str, hints: &Hints) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(token) = self.oauth.as_ref().and_then(|o| o.access_token()) {
            req = req.bearer_auth(token);
        }
        if let Some(s) = self.session() {
            req = req.header("mcp-session-id", s);
        }
        if let Some(v) = &hints.protocol_version {
            req = req.header("mcp-protocol-version", v);
        }
        if hints.method_header {
            req = req.header("mcp-method", method);
            if let Some(n) = &hints.name {
                req = req.header("mcp-name", encode_value(n));
            }
            for (name, value) in &hints.params {
                req = req.header(name.as_str(), value.as_str());
            }
        }
        req.body(body.to_value().to_string())
    }

    async fn send_only(&self, msg: Message, method: &str, hints: Hints) -> Result<(), ClientError> {
        let resp = self.send(method, || self.post(&msg, method, &hints)).await?;
        refused(&resp)?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp.status(), method));
        }
        Ok(())
    }

    /// Send the request `build` makes; with OAuth, renew the token first if it expired,
    /// and on a `401` sign in (or refresh), on a `403` for lack of scope sign in for more,
    /// and send it once more.
    async fn send(
        &self,
        method: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let Some(oauth) = &self.oauth else {
            return build().send().await.map_err(|e| self.unreachable(method, &e));
        };
        oauth.before_request().await;
        let used = oauth.access_token();
        let resp = build().send().await.map_err(|e| self.unreachable(method, &e))?;
        let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match resp.status() {
            reqwest::StatusCode::UNAUTHORIZED => oauth.unauthorized(challenge, used.as_deref()).await?,
            reqwest::StatusCode::FORBIDDEN if oauth.forbidden(challenge, used.as_deref()).await? => {}
            _ => return Ok(resp),
        }
        build().send().await.map_err(|e| self.unreachable(method, &e))
    }

    /// A request that got no answer, with its cause ("Connection refused", not only "error sending request").
    fn unreachable(&self, method: &str, e: &reqwest::Error) -> ClientError {
        let cause = root_cause(e);
        if e.is_connect() {
            ClientError::Transport(format!("{method}: cannot connect to {}: {cause}", self.url))
        } else if e.is_timeout() {
            ClientError::Transport(format!("{method}: {}: timed out ({cause})", self.url))
        } else {
            ClientError::Transport(format!("{method}: {}: {cause}", self.url))
        }
    }

    /// A refusal by HTTP status; a 404 most often means a wrong path.
    fn status_error(&self, status: reqwest::StatusCode, method: &str) -> ClientError {
        let hint = if status == reqwest::StatusCode::NOT_FOUND {
            " (no MCP endpoint at this path: check the URL's path; a Ferry server's is /mcp)"
        } else {
            ""
        };
        ClientError::Transport(format!("HTTP {status} for {method} from {}{hint}", self.url))
    }
}

/// The innermost cause of an error (for reqwest: the I/O or DNS error under "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A 401 is about credentials, whatever the body says.
fn refused(resp: &reqwest::Response) -> Result<(), ClientError> {
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(());
    }
    let scheme = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("none");
    Err(ClientError::Unauthorized(format!("the server refused the credentials (HTTP 401, WWW-Authenticate: {scheme})")))
}

/// One SSE event: its id, the reconnection delay it sets, and its data (empty for a
/// priming event, which only carries an id).
#[derive(Debug, Default, PartialEq)]
struct SseEvent {
    id: Option<String>,
    retry: Option<u64>,
    data: String,
}

/// Split an SSE body into events; returns complete events, keeps the rest.
fn take_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "data" => data.push(value),
                "id" => event.id = Some(value.to_string()),
                "retry" => event.retry = value.parse().ok(),
                _ => {} // comments (keep-alives), the event type
            }
        }
        if !data.is_empty() || event.id.is_some() {
            event.data = data.join("\n");
            out.push(event);
        }
    }
    out
}

/// How often a broken response stream is resumed in a row without receiving anything.
const MAX_RESUMES: u32 = 5;

/// Where a response stream was when it broke, and how to come back to it.
struct StreamPlace {
    last_id: Option<String>,
    retry: std::time::Duration,
    /// Resumptions since the last event.
    resumes: u32,
}

impl Default for StreamPlace {
    fn default() -> Self {
        Self { last_id: None, retry: std::time::Duration::from_secs(1), resumes: 0 }
    }
}

/// Read the SSE events of `resp`, keeping `place` up to date, and hand each message to
/// `take`, which says when to stop (with its value). `Err`: why the stream ended first.
async fn read_events<T>(
    resp: reqwest::Response,
    place: &mut StreamPlace,
    mut take: impl FnMut(Message) -> Option<T>,
) -> Result<T, String> {
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        for event in take_events(&mut buf) {
            if let Some(event_id) = event.id {
                place.last_id = Some(event_id);
                place.resumes = 0;
            }
            if let Some(ms) = event.retry {
                place.retry = std::time::Duration::from_millis(ms);
            }
            if event.data.is_empty() {
                continue; // a priming event
            }
            match Message::parse(event.data.as_bytes()) {
                Ok(m) => {
                    if let Some(done) = take(m) {
                        return Ok(done);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "unreadable SSE event"),
            }
        }
    }
    Err("the stream ended".to_string())
}

impl HttpTransport {
    /// Read an SSE response until the response to `id`: other messages go to the inbox.
    /// `Err` says why the stream ended without it; `place` tracks where it got to.
    async fn read_stream(
        &self,
        resp: reqwest::Response,
        id: &ferry_protocol::RequestId,
        place: &mut StreamPlace,
    ) -> Result<Response, String> {
        read_events(resp, place, |m| match m {
            Message::Response(r) if r.id.as_ref() == Some(id) => Some(r),
            other => {
                let _ = self.inbox.send(other);
                None
            }
        })
        .await
        .map_err(|_| "the stream ended before the response".to_string())
    }

    /// A `GET` of the session's stream; with `last_id`, the rest of a stream from there.
    fn get(&self, session: &str, last_id: Option<&str>, hints: &Hints) -> reqwest::RequestBuilder {
        let token = self.oauth.as_ref().and_then(|o| o.access_token());
        get_request(&self.http, &self.url, session, last_id, hints, token)
    }
}

fn get_request(
    http: &reqwest::Client,
    url: &str,
    session: &str,
    last_id: Option<&str>,
    hints: &Hints,
    token: Option<String>,
) -> reqwest::RequestBuilder {
    let mut req = http.get(url).header("accept", "text/event-stream").header("mcp-session-id", session);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(last) = last_id {
        req = req.header("last-event-id", last);
    }
    if let Some(v) = &hints.protocol_version {
        req = req.header("mcp-protocol-version", v);
    }
    req
}

#[async_trait]
impl Transport for HttpTransport {
    async fn request(&self, req: Request, hints: Hints) -> Result<Response, ClientError> {
        let id = req.id.clone();
        let method = req.method.clone();
        let msg = Message::Request(req);
        let resp = self.send(&method, || self.post(&msg, &method, &hints)).await?;
        // A session is assigned by the answer to `initialize` alone: a server that sends a
        // session id on a refusal (the Python SDK 1.x does, on a session-less `server/discover`)
        // must not make it the client's session.
        let session = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok());
        if let Some(s) = session.filter(|_| method == "initialize" && resp.status().is_success()) {
            *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.to_string());
        }
        refused(&resp)?;
        let status = resp.status();
        let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !sse {
            let body = resp.bytes().await.map_err(|e| ClientError::Transport(e.to_string()))?;
            return match Message::parse(&body) {
                Ok(Message::Response(r)) => Ok(r),
                _ if !status.is_success() => Err(self.status_error(status, &method)),
                _ => Err(ClientError::Protocol(format!("{method}: not a JSON-RPC response"))),
            };
        }
        // SSE: messages for us, then our response. A stream that breaks before the
        // response is resumed (`GET` + `Last-Event-ID`) if the server gave its events ids.
        let mut place = StreamPlace::default();
        let mut current = Some(resp);
        let mut broke = String::new();
        loop {
            if let Some(resp) = current.take() {
                match self.read_stream(resp, &id, &mut place).await {
                    Ok(r) => return Ok(r),
                    Err(e) => broke = e,
                }
            }
            let (Some(last), Some(session)) = (&place.last_id, self.session()) else {
                return Err(ClientError::Transport(format!("{method}: {broke}")));
            };
            if place.resumes == MAX_RESUMES {
                return Err(ClientError::Transport(format!("{method}: {broke} (resumed {MAX_RESUMES} times)")));
            }
            place.resumes += 1;
            tokio::time::sleep(place.retry).await;
            match self.get(&session, Some(last), &hints).send().await {
                Ok(r) if r.status().is_success() => current = Some(r),
                Ok(r) => {
                    refused(&r)?;
                    let status = r.status();
                    return Err(ClientError::Transport(format!(
                        "{method}: {broke}; resuming it failed with HTTP {status}"
                    )));
                }
                Err(e) => broke = format!("resuming the stream failed: {e}"), // next try, if any
            }
        }
    }

    async fn notify(&self, n: Notification, hints: Hints) -> Result<(), ClientError> {
        let method = n.method.clone();
        self.send_only(Message::Notification(n), &method, hints).await
    }

    async fn respond(&self, resp: Response, hints: Hints) -> Result<(), ClientError> {
        self.send_only(Message::Response(resp), "response", hints).await
    }

    async fn listen(&self, hints: Hints) {
        let Some(session) = self.session() else { return };
        let (http, url, inbox) = (self.http.clone(), self.url.clone(), self.inbox.clone());
        let oauth = self.oauth.clone();
        // The standalone stream, for as long as the session lasts: when it breaks, come
        // back where it was (`Last-Event-ID`, when its events have ids) so that nothing
        // sent meanwhile is missed. A refusal (no such stream, session gone) ends it.
        tokio::spawn(async move {
            let mut place = StreamPlace::default();
            loop {
                let token = oauth.as_ref().and_then(|o| o.access_token());
                match get_request(&http, &url, &session, place.last_id.as_deref(), &hints, token).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let closed = read_events(resp, &mut place, |m| inbox.send(m).is_err().then_some(())).await;
                        if closed.is_ok() {
                            return; // the client is gone
                        }
                    }
                    Ok(_) => return,
                    Err(e) => tracing::debug!(error = %e, "the server's stream could not be reached"),
                }
                if place.resumes == MAX_RESUMES {
                    tracing::warn!("gave up on the server's stream after {MAX_RESUMES} attempts");
                    return;
                }
                place.resumes += 1;
                tokio::time::sleep(place.retry).await;
            }
        });
    }

    fn session_id(&self) -> Option<String> {
        self.session()
    }

    async fn close(&self) {
        if let Some(s) = self.session() {
            let mut req = self.http.delete(&self.url).header("mcp-session-id", s);
            if let Some(token) = self.oauth.as_ref().and_then(|o| o.access_token()) {
                req = req.bearer_auth(token);
            }
            let _ = req.send().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{take_events, SseEvent};

    #[test]
    fn splits_sse_events() {
        let mut buf = "event: message\ndata: {\"a\":1}\n\n: keep-alive\n\nid: 3-0\nretry: 500\ndata: \n\n\
                       id: 3-1\ndata: x\ndata: y\n\ndata: partial"
            .to_string();
        let data = |d: &str| SseEvent { data: d.to_string(), ..SseEvent::default() };
        assert_eq!(
            take_events(&mut buf),
            vec![
                data("{\"a\":1}"),
                SseEvent { id: Some("3-0".into()), retry: Some(500), data: String::new() },
                SseEvent { id: Some("3-1".into()), ..data("x\ny") },
            ]
        );
        assert_eq!(buf, "data: partial");
    }
}
