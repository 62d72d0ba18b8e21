//! Resources and resource templates.

use super::complete::Completers;
use super::{erase, erase_blocking, BlockingHandler, Common, Handler, IntoResourceResult};
use crate::error::BuildError;
use ferry_protocol::types::{ReadResourceResult, Resource, ResourceTemplate};
use ferry_protocol::TaskSupport;
use serde_json::{Map, Value};

fn convert<T: IntoResourceResult>(out: T) -> Result<ReadResourceResult, crate::ToolError> {
    // The URI is filled in by the dispatcher for contents that left it empty.
    out.into_resource_result("")
}

macro_rules! resource_builder_methods {
    () => {
        /// Set the description.
        pub fn description(mut self, d: impl Into<String>) -> Self {
            self.description = Some(d.into());
            self
        }
        /// Set the display title.
        pub fn title(mut self, t: impl Into<String>) -> Self {
            self.title = Some(t.into());
            self
        }
        /// Set the MIME type.
        pub fn mime_type(mut self, m: impl Into<String>) -> Self {
            self.mime_type = Some(m.into());
            self
        }
        /// Whether `resources/read` may, must or must not run as a task.
        pub fn task_support(mut self, s: TaskSupport) -> Self {
            self.common.task_support = Some(s);
            self
        }
        /// OAuth scopes a caller's token needs to use this (checked before a call or task;
        /// see [`crate::auth`]). Without a protected resource on the server, not checked.
        pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
            self.common.scopes = scopes.into_iter().map(Into::into).collect();
            self
        }
        /// Use an async function as the handler. A template's variables are its `Args`.
        pub fn handler<H, T>(mut self, h: H) -> Self
        where
            H: Handler<T>,
            H::Output: IntoResourceResult,
        {
            self.common.set(erase(h, convert::<H::Output>));
            self
        }
        /// Use a sync function as the handler (run on the blocking pool).
        pub fn blocking_handler<H, T>(mut self, h: H) -> Self
        where
            H: BlockingHandler<T>,
            H::Output: IntoResourceResult,
        {
            self.common.set(erase_blocking(h, convert::<H::Output>));
            self
        }
    };
}

/// A resource at a fixed URI.
///
/// ```
/// use ferry_server::ResourceDef;
/// let r = ResourceDef::new("ferry://motd", "motd").mime_type("text/plain")
///     .handler(|| async { "Welcome aboard".to_string() });
/// ```
#[derive(Clone)]
pub struct ResourceDef {
    pub(crate) uri: String,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) mime_type: Option<String>,
    pub(crate) common: Common<ReadResourceResult>,
}

impl ResourceDef {
    /// A resource at `uri` called `name`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
            common: Common::default(),
        }
    }
    resource_builder_methods!();

    pub(crate) fn listing(&self) -> Resource {
        Resource {
            uri: self.uri.clone(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            mime_type: self.mime_type.clone(),
        }
    }
}

/// Resources matching a URI template such as `ferry://greeting/{name}`; the
/// variables are the handler's `Args`.
///
/// ```
/// use ferry_server::{Args, ResourceTemplateDef};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Who { name: String }
/// let t = ResourceTemplateDef::new("ferry://greeting/{name}", "greeting")
///     .handler(|Args(w): Args<Who>| async move { format!("Hello, {}!", w.name) });
/// ```
#[derive(Clone)]
pub struct ResourceTemplateDef {
    pub(crate) template: String,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) mime_type: Option<String>,
    pub(crate) common: Common<ReadResourceResult>,
    pub(crate) completers: Completers,
}

impl ResourceTemplateDef {
    /// Resources matching `uri_template`, called `name`.
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            template: uri_template.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
            common: Common::default(),
            completers: Vec::new(),
        }
    }
    resource_builder_methods!();
    completion_methods!("template variable");

    pub(crate) fn listing(&self) -> ResourceTemplate {
        ResourceTemplate {
            uri_template: self.template.clone(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            mime_type: self.mime_type.clone(),
        }
    }
}

/// A parsed URI template (RFC 6570 simple `{var}` and reserved `{+var}` expansions).
#[derive(Debug, Clone)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Var { name: String, reserved: bool },
}

impl UriTemplate {
    pub fn parse(t: &str) -> Result<Self, BuildError> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| BuildError::BadTemplate(t.to_string()))? + open;
            let expr = &rest[open + 1..close];
            let (reserved, name) = match expr.strip_prefix('+') {
                Some(n) => (true, n),
                None => (false, expr),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(BuildError::BadTemplate(t.to_string()));
            }
            if matches!(parts.last(), Some(Part::Var { .. })) {
                return Err(BuildError::BadTemplate(t.to_string())); // two adjacent variables are ambiguous
            }
            parts.push(Part::Var { name: name.to_string(), reserved });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The names of its variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Match a URI; returns the variables.
    pub fn matches(&self, uri: &str) -> Option<Map<String, Value>> {
        let mut vars = Map::new();
        let mut rest = uri;
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Var { name, reserved } => {
                    let end = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || (!reserved && value.contains('/')) {
                        return None;
                    }
                    vars.insert(name.clone(), Value::String(percent_decode(value)));
                    rest = &rest[end..];
                }
            }
            i += 1;
        }
        rest.is_empty().then_some(vars)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matching() {
        let t = UriTemplate::parse("ferry://greeting/{name}").unwrap();
        assert_eq!(t.matches("ferry://greeting/Ada").unwrap()["name"], "Ada");
        assert_eq!(t.matches("ferry://greeting/A%20B").unwrap()["name"], "A B");
        assert!(t.matches("ferry://greeting/").is_none());
        assert!(t.matches("ferry://greeting/a/b").is_none());
        assert!(t.matches("ferry://other/Ada").is_none());
        let r = UriTemplate::parse("file:///{+path}").unwrap();
        assert_eq!(r.matches("file:///a/b.txt").unwrap()["path"], "a/b.txt");
        let two = UriTemplate::parse("x://{a}-{b}").unwrap();
        let v = two.matches("x://1-2").unwrap();
        assert_eq!((v["a"].as_str(), v["b"].as_str()), (Some("1"), Some("2")));
        assert!(UriTemplate::parse("x://{a}{b}").is_err());
        assert!(UriTemplate::parse("x://{a").is_err());
    }
}
