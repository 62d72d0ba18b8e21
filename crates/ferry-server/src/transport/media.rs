//! Media types of Streamable HTTP: what a `POST` may carry (`Content-Type`) and
//! what its answer may be (`Accept`).
//!
//! The spec is strict on both: a message is `application/json`, and a client
//! accepts `application/json` and/or `text/event-stream`. Parsing follows HTTP
//! (RFC 9110): names are case-insensitive, parameters follow `;`, a media range
//! may be a wildcard (`*/*`, `application/*`) and `q=0` means "not this one".

/// What an `Accept` header allows for the answer to a `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepts {
    /// A plain `application/json` answer (also by `application/*` or `*/*`).
    pub json: bool,
    /// An SSE stream. Only an explicit `text/event-stream` (or `text/*`) turns it on:
    /// a generic client sending `*/*` gets plain JSON, as it would expect.
    pub sse: bool,
}

impl Accepts {
    /// Without an `Accept` header anything is acceptable (HTTP): plain JSON then.
    pub const ANYTHING: Accepts = Accepts { json: true, sse: false };

    /// Read an `Accept` header.
    pub fn parse(header: &str) -> Accepts {
        let mut accepts = Accepts { json: false, sse: false };
        for (kind, sub) in ranges(header) {
            match (kind.as_str(), sub.as_str()) {
                ("application", "json") | ("application", "*") | ("*", "*") => accepts.json = true,
                ("text", "event-stream") | ("text", "*") => accepts.sse = true,
                _ => {}
            }
        }
        accepts
    }

    /// Whether an answer can be given at all.
    pub fn any(self) -> bool {
        self.json || self.sse
    }
}

/// Whether a `GET` may get an SSE stream (`text/event-stream`, `text/*` or `*/*`).
pub(crate) fn accepts_event_stream(header: &str) -> bool {
    ranges(header)
        .any(|(kind, sub)| matches!((kind.as_str(), sub.as_str()), ("text", "event-stream" | "*") | ("*", "*")))
}

/// The accepted media ranges of an `Accept` header (`q=0` ones left out), lower-cased.
fn ranges(header: &str) -> impl Iterator<Item = (String, String)> + '_ {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let (kind, sub) = parts.next()?.trim().split_once('/')?;
        let refused = parts.filter_map(|p| p.split_once('=')).any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        (!refused).then(|| (kind.trim().to_ascii_lowercase(), sub.trim().to_ascii_lowercase()))
    })
}

/// Why a `Content-Type` is refused (`None`: it is `application/json`, with at most a UTF-8 charset).
pub(crate) fn content_type_problem(header: Option<&str>) -> Option<String> {
    let Some(header) = header else {
        return Some("Unsupported Media Type: a Content-Type header of application/json is required".into());
    };
    let mut parts = header.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Some(format!("Unsupported Media Type: Content-Type must be application/json, not '{essence}'"));
    }
    for (name, value) in parts.filter_map(|p| p.split_once('=')) {
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Some(format!("Unsupported Media Type: JSON must be UTF-8 (charset={value} given)"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_application_json_with_an_optional_utf8_charset() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert_eq!(content_type_problem(Some(ok)), None, "{ok}");
        }
        for bad in ["application/jsonx", "application/json-seq", "text/json", "application/json; charset=latin1", ""] {
            assert!(content_type_problem(Some(bad)).is_some(), "{bad}");
        }
        assert!(content_type_problem(None).is_some());
    }

    #[test]
    fn accept_allows_json_and_or_sse() {
        let both = Accepts { json: true, sse: true };
        assert_eq!(Accepts::parse("application/json, text/event-stream"), both);
        assert_eq!(Accepts::parse("Text/Event-Stream;q=0.9 , APPLICATION/JSON"), both);
        assert_eq!(Accepts::parse("*/*"), Accepts { json: true, sse: false });
        assert_eq!(Accepts::parse("application/*"), Accepts { json: true, sse: false });
        assert_eq!(Accepts::parse("text/event-stream"), Accepts { json: false, sse: true });
        assert!(!Accepts::parse("text/html").any());
        assert!(!Accepts::parse("application/json;q=0").any());
        assert!(!Accepts::parse("").any());
        assert!(!Accepts::parse("application/jsonx, text/event-streams").any());
    }

    #[test]
    fn a_get_needs_an_event_stream() {
        assert!(accepts_event_stream("text/event-stream"));
        assert!(accepts_event_stream("*/*"));
        assert!(!accepts_event_stream("application/json"));
        assert!(!accepts_event_stream("text/event-stream; q=0"));
    }
}
