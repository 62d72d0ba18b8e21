//! Sorting a function's parameters into caller arguments and injected values.

use crate::options::Kind;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, FnArg, Ident, LitStr, Pat, Path, Type};

/// Type names (last path segment) that are always injected.
const INJECTED: &[&str] = &["Context", "Progress", "State", "Dep", "TaskHandle", "Prepared"];

/// Options of `#[arg(...)]`.
#[derive(Default)]
pub(crate) struct ArgOptions {
    pub description: Option<LitStr>,
    /// `#[arg(default)]` (`None` inside) or `#[arg(default = "path")]`.
    pub default: Option<Option<LitStr>>,
    pub rename: Option<LitStr>,
    /// `#[arg(complete = "path")]`: the async completer of this argument (prompts, templates).
    pub complete: Option<LitStr>,
}

/// What a parameter is.
pub(crate) enum Role {
    /// A caller argument: a field of the generated arguments struct.
    User { ident: Ident, optional: bool, arg: ArgOptions },
    /// Extracted with `FromCall` (the same way as `Args<T>`), passed through as is.
    Passed,
}

/// One parameter of the function.
pub(crate) struct Param {
    pub role: Role,
    pub ty: Type,
    /// `pat: Type`, for error spans.
    pub tokens: TokenStream,
    /// Whether the type is `Args<...>`.
    pub is_args: bool,
}

impl Param {
    /// The name callers use for a user argument (after `rename`).
    pub fn wire_name(&self) -> Option<String> {
        match &self.role {
            Role::User { ident, arg, .. } => Some(match &arg.rename {
                Some(r) => r.value(),
                None => syn::ext::IdentExt::unraw(ident).to_string(),
            }),
            Role::Passed => None,
        }
    }
}

/// The last path segment of a type's name (`Option` for `std::option::Option<T>`).
pub(crate) fn last_segment(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| &s.ident),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn is(attr: &Attribute, name: &str) -> bool {
    attr.path().is_ident(name)
}

/// Classify every parameter, and strip `#[arg]` / `#[inject]` from the function.
/// Collects all errors instead of stopping at the first.
pub(crate) fn analyze(
    kind: Kind,
    inputs: &mut syn::punctuated::Punctuated<FnArg, syn::Token![,]>,
) -> syn::Result<Vec<Param>> {
    let mut params = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for input in inputs.iter_mut() {
        let pt = match input {
            FnArg::Receiver(r) => {
                push_err(syn::Error::new_spanned(
                    r,
                    format!("{} works on free functions: a method with `self` cannot be one", kind.attr()),
                ));
                continue;
            }
            FnArg::Typed(pt) => pt,
        };
        let (ours, others): (Vec<Attribute>, Vec<Attribute>) =
            pt.attrs.drain(..).partition(|a| is(a, "arg") || is(a, "inject"));
        pt.attrs = others;
        match classify(kind, &ours, &pt.pat, &pt.ty) {
            Ok(p) => params.push(p),
            Err(e) => push_err(e),
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    check_combination(kind, &params)?;
    Ok(params)
}

fn classify(kind: Kind, attrs: &[Attribute], pat: &Pat, ty: &Type) -> syn::Result<Param> {
    let tokens = quote!(#pat: #ty);
    let mut inject = None;
    let mut arg = None;
    for a in attrs {
        let slot = if is(a, "inject") { &mut inject } else { &mut arg };
        if slot.is_some() {
            return Err(syn::Error::new_spanned(a, "this attribute is given twice"));
        }
        *slot = Some(a);
    }
    if let (Some(_), Some(a)) = (inject, arg) {
        return Err(syn::Error::new_spanned(a, "a parameter is either `#[inject]`ed or an `#[arg]`, not both"));
    }
    if let Some(a) = inject {
        if !matches!(a.meta, syn::Meta::Path(_)) {
            return Err(syn::Error::new_spanned(a, "`#[inject]` takes no options"));
        }
    }
    let name = last_segment(ty).map(ToString::to_string);
    let is_args = name.as_deref() == Some("Args");
    if is_args {
        if let Some(a) = arg.or(inject) {
            return Err(syn::Error::new_spanned(
                a,
                "`Args<T>` takes the caller's arguments as they are: describe them on `T`'s fields instead",
            ));
        }
        return Ok(Param { role: Role::Passed, ty: ty.clone(), tokens: tokens.clone(), is_args });
    }
    // `#[arg]` makes a parameter an argument even when its type is named like an injected one.
    let injected = inject.is_some() || (arg.is_none() && name.as_deref().is_some_and(|n| INJECTED.contains(&n)));
    if injected {
        return Ok(Param { role: Role::Passed, ty: ty.clone(), tokens: tokens.clone(), is_args });
    }
    let ident = match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!(
                    "{} arguments must be plain names (`name: Type`): the name is the argument's name; \
                     destructure inside the function",
                    kind.attr()
                ),
            ))
        }
    };
    if let Type::Reference(r) = ty {
        return Err(syn::Error::new_spanned(
            r,
            "arguments are deserialized into owned values: use an owned type (e.g. `String` for `&str`)",
        ));
    }
    if let Type::ImplTrait(t) = ty {
        return Err(syn::Error::new_spanned(t, "arguments need a concrete type, not `impl Trait`"));
    }
    let arg = match arg {
        Some(a) => arg_options(a)?,
        None => ArgOptions::default(),
    };
    let optional = name.as_deref() == Some("Option");
    Ok(Param { role: Role::User { ident, optional, arg }, ty: ty.clone(), tokens, is_args })
}

/// Parse `#[arg]`, `#[arg(description = "...", default, rename = "...", complete = "path")]`.
fn arg_options(attr: &Attribute) -> syn::Result<ArgOptions> {
    let mut o = ArgOptions::default();
    if let syn::Meta::Path(_) = attr.meta {
        return Ok(o);
    }
    attr.parse_nested_meta(|meta| {
        let key = path_name(&meta.path);
        let dup = || meta.error(format!("duplicate #[arg] option `{key}`"));
        let string = |key: &str| -> syn::Result<LitStr> {
            meta.value()?
                .parse::<LitStr>()
                .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes a string literal: `{key} = \"...\"`")))
        };
        match key.as_str() {
            "description" => {
                if o.description.is_some() {
                    return Err(dup());
                }
                o.description = Some(string("description")?);
            }
            "rename" => {
                if o.rename.is_some() {
                    return Err(dup());
                }
                let r = string("rename")?;
                if r.value().is_empty() {
                    return Err(syn::Error::new_spanned(r, "`rename` must not be empty"));
                }
                o.rename = Some(r);
            }
            "complete" => {
                if o.complete.is_some() {
                    return Err(dup());
                }
                o.complete = Some(string("complete")?);
            }
            "default" => {
                if o.default.is_some() {
                    return Err(dup());
                }
                o.default = Some(if meta.input.peek(syn::Token![=]) { Some(string("default")?) } else { None });
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown #[arg] option `{key}`; expected one of: description, default, rename, complete"
                )))
            }
        }
        Ok(())
    })?;
    Ok(o)
}

fn path_name(p: &Path) -> String {
    p.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::")
}

/// Rules across parameters: one source of arguments, and few enough handler parameters.
fn check_combination(kind: Kind, params: &[Param]) -> syn::Result<()> {
    let args: Vec<&Param> = params.iter().filter(|p| p.is_args).collect();
    if let Some(second) = args.get(1) {
        return Err(syn::Error::new_spanned(
            &second.tokens,
            "only one `Args<T>` parameter is allowed: put all arguments in `T`",
        ));
    }
    let users: Vec<&Param> = params.iter().filter(|p| matches!(p.role, Role::User { .. })).collect();
    if let (Some(a), Some(u)) = (args.first(), users.first()) {
        let mut e = syn::Error::new_spanned(
            &u.tokens,
            format!("{} cannot mix plain arguments with an `Args<T>` parameter: use one or the other", kind.attr()),
        );
        e.combine(syn::Error::new_spanned(&a.tokens, "the `Args<T>` parameter is here"));
        return Err(e);
    }
    let mut seen: Vec<String> = Vec::new();
    for u in &users {
        if let (Kind::Tool, Role::User { arg: ArgOptions { complete: Some(c), .. }, .. }) = (kind, &u.role) {
            return Err(syn::Error::new_spanned(
                c,
                "`complete` is for #[prompt] and #[resource(template = ...)] arguments: MCP completes no tool arguments",
            ));
        }
        if let Some(n) = u.wire_name() {
            if seen.contains(&n) {
                return Err(syn::Error::new_spanned(&u.tokens, format!("two arguments are called `{n}`")));
            }
            seen.push(n);
        }
    }
    let handler_params = params.len() - users.len() + usize::from(!users.is_empty());
    if handler_params > 8 {
        return Err(syn::Error::new(
            Span::call_site(),
            format!(
                "{} supports at most 8 handler parameters (all plain arguments together count as one); \
                 this function has {handler_params}",
                kind.attr()
            ),
        ));
    }
    Ok(())
}
