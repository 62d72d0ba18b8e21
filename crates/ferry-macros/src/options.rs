//! The options inside `#[tool(...)]`, `#[prompt(...)]` and `#[resource(...)]`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Ident, LitBool, LitInt, LitStr, Path};

/// Which component a macro declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Prompt,
    Resource,
}

impl Kind {
    /// The attribute's name, for messages.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Tool => "#[tool]",
            Kind::Prompt => "#[prompt]",
            Kind::Resource => "#[resource]",
        }
    }

    /// The options this attribute accepts.
    fn accepted(self) -> &'static [&'static str] {
        match self {
            Kind::Tool => &[
                "name",
                "title",
                "description",
                "task",
                "timeout_ms",
                "retries",
                "concurrency",
                "poll_interval_ms",
                "read_only",
                "destructive",
                "idempotent",
                "open_world",
                "scopes",
                "crate",
            ],
            Kind::Prompt => &["name", "title", "description", "task", "scopes", "crate"],
            Kind::Resource => {
                &["uri", "template", "name", "title", "description", "mime_type", "task", "scopes", "crate"]
            }
        }
    }
}

/// Parsed options. String options keep their literal (for spans in later errors).
#[derive(Default)]
pub(crate) struct Options {
    pub name: Option<LitStr>,
    pub title: Option<LitStr>,
    pub description: Option<LitStr>,
    /// The `TaskSupport` variant: `Forbidden`, `Optional` or `Required`.
    pub task: Option<Ident>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    /// OAuth scopes a caller needs (`scopes = ["reports:read"]`).
    pub scopes: Vec<LitStr>,
    /// At most this many runs at once (`ToolDef::concurrency`).
    pub concurrency: Option<usize>,
    /// A fixed poll interval for its tasks (`ToolDef::poll_interval(PollInterval::Fixed(..))`).
    pub poll_interval_ms: Option<u64>,
    /// Tool annotation hints in the order given, e.g. `("readOnlyHint", true)`.
    pub hints: Vec<(&'static str, bool)>,
    pub uri: Option<LitStr>,
    pub template: Option<LitStr>,
    pub mime_type: Option<LitStr>,
    /// `crate = "path"`: where the server framework is, when automatic discovery cannot tell.
    pub krate: Option<Path>,
}

/// Parse the attribute's arguments for `kind`.
pub(crate) fn parse(kind: Kind, attr: TokenStream) -> syn::Result<Options> {
    let mut opts = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_else(|| {
            let path = &meta.path;
            quote!(#path).to_string().replace(' ', "")
        });
        if !kind.accepted().contains(&key.as_str()) {
            return Err(meta.error(format!(
                "unknown {} option `{key}`; expected one of: {}",
                kind.attr(),
                kind.accepted().join(", ")
            )));
        }
        if seen.contains(&key) {
            return Err(meta.error(format!("duplicate {} option `{key}`", kind.attr())));
        }
        seen.push(key.clone());
        match key.as_str() {
            "name" => opts.name = Some(non_empty(&meta, &key)?),
            "title" => opts.title = Some(string(&meta, &key)?),
            "description" => opts.description = Some(string(&meta, &key)?),
            "uri" => opts.uri = Some(non_empty(&meta, &key)?),
            "template" => opts.template = Some(non_empty(&meta, &key)?),
            "mime_type" => opts.mime_type = Some(non_empty(&meta, &key)?),
            "task" => opts.task = Some(task(&meta)?),
            "crate" => {
                let lit = non_empty(&meta, &key)?;
                let path = lit
                    .parse::<Path>()
                    .map_err(|_| syn::Error::new(lit.span(), "`crate` takes a path: `crate = \"ferrymcp::server\"`"))?;
                opts.krate = Some(path);
            }
            "timeout_ms" => {
                let n: u64 = integer(&meta, &key)?;
                if n == 0 {
                    return Err(meta.error("`timeout_ms` must be greater than 0"));
                }
                opts.timeout_ms = Some(n);
            }
            "retries" => opts.retries = Some(integer(&meta, &key)?),
            "scopes" => {
                let list: syn::ExprArray = meta.value()?.parse()?;
                for e in list.elems {
                    match e {
                        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) if !s.value().is_empty() => {
                            opts.scopes.push(s)
                        }
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "`scopes` takes non-empty strings: [\"a\", \"b\"]",
                            ))
                        }
                    }
                }
            }
            "concurrency" => {
                let n: usize = integer(&meta, &key)?;
                if n == 0 {
                    return Err(meta.error("`concurrency` must be greater than 0"));
                }
                opts.concurrency = Some(n);
            }
            "poll_interval_ms" => opts.poll_interval_ms = Some(integer(&meta, &key)?),
            "read_only" => opts.hints.push(("readOnlyHint", flag(&meta)?)),
            "destructive" => opts.hints.push(("destructiveHint", flag(&meta)?)),
            "idempotent" => opts.hints.push(("idempotentHint", flag(&meta)?)),
            "open_world" => opts.hints.push(("openWorldHint", flag(&meta)?)),
            _ => return Err(meta.error(format!("unhandled {} option `{key}`", kind.attr()))),
        }
        Ok(())
    });
    parser.parse2(attr)?;
    if kind == Kind::Resource {
        match (&opts.uri, &opts.template) {
            (Some(_), Some(t)) => {
                return Err(syn::Error::new(
                    t.span(),
                    "#[resource] takes either `uri = \"...\"` (a static resource) or `template = \"...\"` \
                     (a resource template), not both",
                ))
            }
            (None, None) => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    "#[resource] needs `uri = \"...\"` (a static resource) or `template = \"...\"` \
                     (a resource template)",
                ))
            }
            _ => {}
        }
    }
    Ok(opts)
}

/// `key = "..."`.
fn string(meta: &ParseNestedMeta, key: &str) -> syn::Result<LitStr> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`{key}` needs a value: `{key} = \"...\"`")));
    }
    let value = meta.value()?;
    value
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes a string literal: `{key} = \"...\"`")))
}

/// `key = "..."` with a non-empty string.
fn non_empty(meta: &ParseNestedMeta, key: &str) -> syn::Result<LitStr> {
    let s = string(meta, key)?;
    if s.value().trim().is_empty() {
        return Err(syn::Error::new(s.span(), format!("`{key}` must not be empty")));
    }
    Ok(s)
}

/// `key = N`.
fn integer<N>(meta: &ParseNestedMeta, key: &str) -> syn::Result<N>
where
    N: std::str::FromStr,
    N::Err: std::fmt::Display,
{
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`{key}` needs a value: `{key} = 100`")));
    }
    let value = meta.value()?;
    let lit = value
        .parse::<LitInt>()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes a non-negative integer: `{key} = 100`")))?;
    lit.base10_parse::<N>().map_err(|e| syn::Error::new(lit.span(), format!("invalid `{key}`: {e}")))
}

/// `key` (true) or `key = true|false`.
fn flag(meta: &ParseNestedMeta) -> syn::Result<bool> {
    if !meta.input.peek(syn::Token![=]) {
        return Ok(true);
    }
    let value = meta.value()?;
    value
        .parse::<LitBool>()
        .map(|b| b.value)
        .map_err(|e| syn::Error::new(e.span(), "a hint is a flag (`read_only`) or a bool (`read_only = false`)"))
}

/// `task = "forbidden" | "optional" | "required"`: the `TaskSupport` variant.
fn task(meta: &ParseNestedMeta) -> syn::Result<Ident> {
    let lit = string(meta, "task")?;
    let variant = match lit.value().as_str() {
        "forbidden" => "Forbidden",
        "optional" => "Optional",
        "required" => "Required",
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!("invalid `task` value \"{other}\"; expected \"forbidden\", \"optional\" or \"required\""),
            ))
        }
    };
    Ok(Ident::new(variant, lit.span()))
}
