//! The expansion shared by `#[tool]`, `#[prompt]` and `#[resource]`.

use crate::options::{self, Kind, Options};
use crate::params::{self, Param, Role};
use crate::template;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Expr, ExprLit, FnArg, Ident, Item, ItemFn, Lit, LitStr, Meta};

/// Expand an attribute. On error the function is still emitted (without the
/// parameter attributes) next to the error, so the error is the only one shown.
pub(crate) fn run(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut f = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            let e = syn::Error::new_spanned(other, format!("{} goes on a function (`fn` or `async fn`)", kind.attr()));
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    match expand(kind, attr, &mut f) {
        Ok(generated) => quote!(#f #generated),
        Err(e) => {
            strip_param_attrs(&mut f);
            let e = e.to_compile_error();
            quote!(#f #e)
        }
    }
}

/// Remove `#[arg]` and `#[inject]` from the parameters (the compiler knows neither).
fn strip_param_attrs(f: &mut ItemFn) {
    for input in f.sig.inputs.iter_mut() {
        if let FnArg::Typed(pt) = input {
            pt.attrs.retain(|a| !a.path().is_ident("arg") && !a.path().is_ident("inject"));
        }
    }
}

fn check_signature(kind: Kind, f: &ItemFn) -> syn::Result<()> {
    let sig = &f.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{} functions cannot be generic: a handler needs concrete types", kind.attr()),
        ));
    }
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new_spanned(u, format!("{} functions cannot be `unsafe`", kind.attr())));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(v, format!("{} functions cannot be variadic", kind.attr())));
    }
    Ok(())
}

/// The generated items, or the errors. Strips the parameter attributes from `f`.
fn expand(kind: Kind, attr: TokenStream, f: &mut ItemFn) -> syn::Result<TokenStream> {
    // Parse everything first so that option and parameter errors are reported together.
    let opts = options::parse(kind, attr);
    let signature = check_signature(kind, f);
    let params = params::analyze(kind, &mut f.sig.inputs);
    let (opts, params) = match (opts, signature.and(params)) {
        (Ok(o), Ok(p)) => (o, p),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    if kind == Kind::Resource {
        check_resource_arguments(&opts, &params)?;
    }

    let root = framework_root(opts.krate.as_ref());
    let fn_ident = &f.sig.ident;
    let fn_name = fn_ident.unraw().to_string();
    let is_async = f.sig.asyncness.is_some();
    let name = opts.name.clone().unwrap_or_else(|| LitStr::new(&fn_name, fn_ident.span()));
    let users: Vec<&Param> = params.iter().filter(|p| matches!(p.role, Role::User { .. })).collect();

    let args_struct = format_ident!("__FerryArgs_{}", fn_name);
    let struct_def = (!users.is_empty()).then(|| args_struct_def(&root, &args_struct, &fn_name, &users));
    let output_span = match &f.sig.output {
        syn::ReturnType::Type(_, ty) => syn::spanned::Spanned::span(ty),
        syn::ReturnType::Default => fn_ident.span(),
    };
    let handler = handler_expr(&root, fn_ident, output_span, is_async, &params, &args_struct);

    let mut chain = TokenStream::new();
    if let Some(t) = &opts.title {
        chain.extend(quote!(.title(#t)));
    }
    match (&opts.description, description_from_docs(&f.attrs)) {
        (Some(d), _) => chain.extend(quote!(.description(#d))),
        (None, Some(d)) => chain.extend(quote!(.description(#d))),
        (None, None) => {}
    }
    if let Some(m) = &opts.mime_type {
        chain.extend(quote!(.mime_type(#m)));
    }
    if let Some(variant) = &opts.task {
        chain.extend(quote!(.task_support(#root::TaskSupport::#variant)));
    }
    if let Some(ms) = opts.timeout_ms {
        chain.extend(quote!(.timeout(::core::time::Duration::from_millis(#ms))));
    }
    if !opts.scopes.is_empty() {
        let scopes = &opts.scopes;
        chain.extend(quote!(.scopes([#(#scopes),*])));
    }
    if let Some(n) = opts.retries {
        chain.extend(quote!(.retries(#n)));
    }
    if let Some(n) = opts.concurrency {
        chain.extend(quote!(.concurrency(#n)));
    }
    if let Some(ms) = opts.poll_interval_ms {
        chain.extend(quote!(.poll_interval(#root::PollInterval::Fixed(#ms))));
    }
    if !opts.hints.is_empty() {
        let keys = opts.hints.iter().map(|(k, _)| *k);
        let values = opts.hints.iter().map(|(_, v)| *v);
        chain.extend(quote!(.annotations(#root::__private::serde_json::json!({ #(#keys: #values),* }))));
    }

    let (suffix, def_ty, constructor, what) = match kind {
        Kind::Tool => ("tool", quote!(#root::ToolDef), quote!(#root::ToolDef::new(#name)), "tool"),
        Kind::Prompt => ("prompt", quote!(#root::PromptDef), quote!(#root::PromptDef::new(#name)), "prompt"),
        Kind::Resource => match (&opts.uri, &opts.template) {
            (Some(uri), _) => {
                ("resource", quote!(#root::ResourceDef), quote!(#root::ResourceDef::new(#uri, #name)), "resource")
            }
            (None, Some(t)) => (
                "resource",
                quote!(#root::ResourceTemplateDef),
                quote!(#root::ResourceTemplateDef::new(#t, #name)),
                "resource template",
            ),
            (None, None) => {
                return Err(syn::Error::new(Span::call_site(), "#[resource] needs `uri` or `template`"));
            }
        },
    };
    // Completers go after the handler, on the finished definition.
    let mut completes = TokenStream::new();
    for u in &users {
        if let (Role::User { arg, .. }, Some(wire)) = (&u.role, u.wire_name()) {
            if let Some(path) = &arg.complete {
                let path: syn::Path = path.parse()?;
                completes.extend(quote!(.complete(#wire, #path)));
            }
        }
    }
    let builder_fn = format_ident!("{}_{}", fn_ident, suffix, span = fn_ident.span());
    let vis = &f.vis;
    let doc = format!(
        "The MCP {what} `{}` built from the function `{fn_name}` (generated by `{}`): \
         register it with the server builder.",
        name.value(),
        kind.attr()
    );
    // Name an injected type that is no extractor at its own span (clearer than an unmet `Handler` bound).
    let checks: Vec<TokenStream> = params
        .iter()
        .filter(|p| matches!(p.role, Role::Passed))
        .map(|p| {
            let ty = &p.ty;
            quote_spanned!(syn::spanned::Spanned::span(ty)=> __ferry_extractor::<#ty>();)
        })
        .collect();
    let extractor_checks = (!checks.is_empty()).then(|| {
        quote! {
            fn __ferry_extractor<T: #root::FromCall>() {}
            #(#checks)*
        }
    });
    // An async handler's future must be `Send` (it may run on any thread, or in a worker).
    // Checked here, spanned on the function, the compiler names the value held across an
    // `.await` that makes it not `Send`, instead of an unmet `Handler` bound.
    let send_check = is_async.then(|| {
        let holes = f.sig.inputs.iter().map(|_| quote!(::core::unreachable!()));
        let call = quote_spanned!(fn_ident.span()=> __ferry_future_is_send(#fn_ident(#(#holes),*)));
        quote! {
            #[allow(unreachable_code, unused_variables, clippy::diverging_sub_expression)]
            fn __ferry_send_check() {
                fn __ferry_future_is_send<F: ::core::future::Future + ::core::marker::Send>(_: F) {}
                #call;
            }
        }
    });
    Ok(quote! {
        #[doc = #doc]
        #vis fn #builder_fn() -> #def_ty {
            #struct_def
            #extractor_checks
            #send_check
            #constructor #chain .#handler #completes
        }
    })
}

/// The path of the server framework in the calling crate: `crate = "..."` when
/// given, else found in the caller's `Cargo.toml`: `ferry-server` (under any
/// name it was given) or the `ferrymcp` facade's `server` module. Without
/// either (or outside Cargo), `::ferry_server`.
fn framework_root(explicit: Option<&syn::Path>) -> TokenStream {
    use proc_macro_crate::{crate_name, FoundCrate};
    if let Some(path) = explicit {
        return quote!(#path);
    }
    let named = |name: &str| Ident::new(name, Span::call_site());
    match crate_name("ferry-server") {
        // `Itself` is ferry-server's own tests and doc tests, which see it under its name.
        Ok(FoundCrate::Itself) => quote!(::ferry_server),
        Ok(FoundCrate::Name(n)) => {
            let n = named(&n);
            quote!(::#n)
        }
        Err(_) => match crate_name("ferrymcp") {
            Ok(FoundCrate::Name(n)) => {
                let n = named(&n);
                quote!(::#n::server)
            }
            Ok(FoundCrate::Itself) => quote!(::ferrymcp::server),
            Err(_) => quote!(::ferry_server),
        },
    }
}

/// A static resource takes no arguments; a template's arguments are its variables.
fn check_resource_arguments(opts: &Options, params: &[Param]) -> syn::Result<()> {
    let users = params.iter().filter(|p| matches!(p.role, Role::User { .. }));
    if let Some(t) = &opts.template {
        let vars = template::variables(&t.value())
            .map_err(|m| syn::Error::new_spanned(t, format!("invalid URI template: {m}")))?;
        for p in users {
            if let Some(n) = p.wire_name() {
                if !vars.contains(&n) {
                    return Err(syn::Error::new_spanned(
                        &p.tokens,
                        format!(
                            "argument `{n}` is not a variable of the template \"{}\": add `{{{n}}}` or `{{+{n}}}` \
                             to it (template variables: {})",
                            t.value(),
                            if vars.is_empty() { "none".to_string() } else { vars.join(", ") }
                        ),
                    ));
                }
            }
        }
    } else if let Some(p) = users.into_iter().next() {
        return Err(syn::Error::new_spanned(
            &p.tokens,
            "a static resource (`uri = ...`) takes no arguments: use `template = \"scheme://.../{name}\"` \
             to take them from the URI",
        ));
    }
    Ok(())
}

/// `struct __FerryArgs_f { ... }` with one field per caller argument.
fn args_struct_def(root: &TokenStream, ident: &Ident, fn_name: &str, users: &[&Param]) -> TokenStream {
    let fields = users.iter().filter_map(|p| {
        let Role::User { ident, optional, arg } = &p.role else { return None };
        let ty = &p.ty;
        let mut attrs = TokenStream::new();
        match &arg.default {
            Some(Some(path)) => attrs.extend(quote!(#[serde(default = #path)])),
            Some(None) => attrs.extend(quote!(#[serde(default)])),
            None if *optional => attrs.extend(quote!(#[serde(default)])),
            None => {}
        }
        if let Some(r) = &arg.rename {
            attrs.extend(quote!(#[serde(rename = #r)]));
        }
        if let Some(d) = &arg.description {
            attrs.extend(quote!(#[schemars(description = #d)]));
        }
        Some(quote!(#attrs #ident: #ty,))
    });
    // The schema's title (and serde's messages) name the arguments after the function.
    let title = format!("{}Args", pascal_case(fn_name));
    // serde and schemars take their own path as a string.
    let private = root.to_string().replace(' ', "") + "::__private";
    let serde_path = format!("{private}::serde");
    let schemars_path = format!("{private}::schemars");
    quote! {
        #[derive(#root::__private::serde::Deserialize, #root::__private::schemars::JsonSchema)]
        #[serde(crate = #serde_path, rename = #title)]
        #[schemars(crate = #schemars_path)]
        #[allow(non_camel_case_types)]
        struct #ident {
            #(#fields)*
        }
    }
}

/// `handler(...)` / `blocking_handler(...)` with a closure calling the function.
fn handler_expr(
    root: &TokenStream,
    f: &Ident,
    output_span: Span,
    is_async: bool,
    params: &[Param],
    args_struct: &Ident,
) -> TokenStream {
    let has_users = params.iter().any(|p| matches!(p.role, Role::User { .. }));
    // Errors about the handler's bounds (return type, `Send`, extractors) point at the return type.
    let method_name = if is_async { "handler" } else { "blocking_handler" };
    let method = Ident::new(method_name, output_span);
    // A function whose parameters are all extractors is a handler itself.
    if !has_users {
        return quote!(#method(#f));
    }
    let args_var = quote!(__ferry_args);
    let mut closure_params = Vec::new();
    if has_users {
        closure_params.push(quote!(#root::Args(#args_var): #root::Args<#args_struct>));
    }
    let mut call_args = Vec::new();
    for (i, p) in params.iter().enumerate() {
        match &p.role {
            Role::User { ident, .. } => call_args.push(quote!(#args_var.#ident)),
            Role::Passed => {
                let var = format_ident!("__ferry_p{}", i);
                let ty = &p.ty;
                closure_params.push(quote!(#var: #ty));
                call_args.push(var.into_token_stream());
            }
        }
    }
    quote!(#method(|#(#closure_params),*| #f(#(#call_args),*)))
}

/// The doc comments, as one description: lines joined with `\n`, common
/// indentation removed, surrounding blank space trimmed. Docs that are not
/// string literals (`#[doc = include_str!(...)]`) are joined at run time.
fn description_from_docs(attrs: &[syn::Attribute]) -> Option<TokenStream> {
    let mut literals = Vec::new();
    let mut exprs = Vec::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        let Meta::NameValue(nv) = &a.meta else { continue };
        match &nv.value {
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => {
                literals.push(s.value());
                exprs.push(s.to_token_stream());
            }
            other => exprs.push(other.to_token_stream()),
        }
    }
    if exprs.is_empty() {
        return None;
    }
    if literals.len() == exprs.len() {
        let text = clean_doc(&literals);
        return (!text.is_empty()).then(|| quote!(#text));
    }
    Some(quote! {{
        let parts: &[&str] = &[#(#exprs),*];
        let lines: ::std::vec::Vec<&str> = parts.iter().flat_map(|p| p.split('\n')).map(str::trim_end).collect();
        let leading = |l: &str| l.chars().take_while(|c| c.is_whitespace()).count();
        let indent = lines.iter().filter(|l| !l.is_empty()).map(|l| leading(l)).min().unwrap_or(0);
        lines
            .iter()
            .map(|l| l.char_indices().nth(indent).map_or("", |(i, _)| &l[i..]))
            .collect::<::std::vec::Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }})
}

/// See [`description_from_docs`].
pub(crate) fn clean_doc(parts: &[String]) -> String {
    let lines: Vec<&str> = parts.iter().flat_map(|p| p.split('\n')).map(str::trim_end).collect();
    let leading = |l: &str| l.chars().take_while(|c| c.is_whitespace()).count();
    let indent = lines.iter().filter(|l| !l.is_empty()).map(|l| leading(l)).min().unwrap_or(0);
    lines
        .iter()
        .map(|l| l.char_indices().nth(indent).map_or("", |(i, _)| &l[i..]))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// `must_task` → `MustTask`.
fn pascal_case(s: &str) -> String {
    s.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|first| first.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_err(kind: Kind, attr: TokenStream, item: TokenStream) -> String {
        let mut f: ItemFn = syn::parse2(item).expect("a function");
        match expand(kind, attr, &mut f) {
            Ok(ts) => panic!("expected an error, got {ts}"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join(" | "),
        }
    }

    fn expand_ok(kind: Kind, attr: TokenStream, item: TokenStream) -> String {
        let mut f: ItemFn = syn::parse2(item).expect("a function");
        match expand(kind, attr, &mut f) {
            Ok(ts) => format!("{} {}", f.to_token_stream(), ts),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    #[test]
    fn docs_become_the_description() {
        let parts = vec![" Add two integers.".to_string(), "".to_string(), "   Indented.  ".to_string()];
        assert_eq!(clean_doc(&parts), "Add two integers.\n\n  Indented.");
        assert_eq!(clean_doc(&["\n   Block\n   doc\n".to_string()]), "Block\ndoc");
        assert_eq!(clean_doc(&[" \u{3000}wide".to_string(), "   narrow".to_string()]), "wide\n narrow");
        assert_eq!(pascal_case("must_task"), "MustTask");
        assert_eq!(pascal_case("add"), "Add");
    }

    #[test]
    fn unknown_and_bad_options_are_errors() {
        let f = quote!(
            async fn f() {}
        );
        let e = expand_err(Kind::Tool, quote!(nmae = "x"), f.clone());
        assert!(e.contains("unknown #[tool] option `nmae`") && e.contains("expected one of: name"), "{e}");
        let e = expand_err(Kind::Tool, quote!(task = "sometimes"), f.clone());
        assert!(e.contains("invalid `task` value \"sometimes\""), "{e}");
        let e = expand_err(Kind::Tool, quote!(timeout_ms = "100"), f.clone());
        assert!(e.contains("`timeout_ms` takes a non-negative integer"), "{e}");
        let e = expand_err(Kind::Tool, quote!(timeout_ms = 0), f.clone());
        assert!(e.contains("greater than 0"), "{e}");
        let e = expand_err(Kind::Tool, quote!(retries = -1), f.clone());
        assert!(e.contains("retries"), "{e}");
        let e = expand_err(Kind::Tool, quote!(name = "a", name = "b"), f.clone());
        assert!(e.contains("duplicate #[tool] option `name`"), "{e}");
        let e = expand_err(Kind::Tool, quote!(name), f.clone());
        assert!(e.contains("`name` needs a value"), "{e}");
        let e = expand_err(Kind::Tool, quote!(read_only = 1), f.clone());
        assert!(e.contains("a hint is a flag"), "{e}");
        let e = expand_err(Kind::Prompt, quote!(timeout_ms = 5), f.clone());
        assert!(e.contains("unknown #[prompt] option `timeout_ms`"), "{e}");
        let e = expand_err(Kind::Resource, quote!(name = "x"), f.clone());
        assert!(e.contains("needs `uri"), "{e}");
        let e = expand_err(Kind::Resource, quote!(uri = "a://b", template = "a://{c}"), f.clone());
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn signature_errors() {
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(&self, a: i64) {}
            ),
        );
        assert!(e.contains("#[tool] works on free functions"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f((a, b): (i64, i64)) {}
            ),
        );
        assert!(e.contains("must be plain names"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f<T>(a: T) {}
            ),
        );
        assert!(e.contains("cannot be generic"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(a: &str) {}
            ),
        );
        assert!(e.contains("owned type"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(a: i64, b: Args<X>) {}
            ),
        );
        assert!(e.contains("cannot mix plain arguments"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(a: Args<X>, b: Args<Y>) {}
            ),
        );
        assert!(e.contains("only one `Args<T>`"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(#[arg(describe = "x")] a: i64) {}
            ),
        );
        assert!(e.contains("unknown #[arg] option `describe`"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(
                    #[arg] cx: Context,
                    #[inject]
                    #[arg]
                    b: i64,
                ) {
                }
            ),
        );
        assert!(e.contains("not both"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(#[inject(x)] cx: Ctx) {}
            ),
        );
        assert!(e.contains("takes no options"), "{e}");
        let e = expand_err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(a: i64, #[arg(rename = "a")] b: i64) {}
            ),
        );
        assert!(e.contains("two arguments are called `a`"), "{e}");
        // Option and signature errors are reported together.
        let e = expand_err(
            Kind::Prompt,
            quote!(bogus),
            quote!(
                fn f(&self) {}
            ),
        );
        assert!(e.contains("bogus") && e.contains("#[prompt] works on free functions"), "{e}");
    }

    #[test]
    fn resource_arguments_must_be_template_variables() {
        let e = expand_err(
            Kind::Resource,
            quote!(template = "x://{a}"),
            quote!(
                async fn f(a: String, b: String) {}
            ),
        );
        assert!(e.contains("argument `b` is not a variable of the template \"x://{a}\""), "{e}");
        let e = expand_err(
            Kind::Resource,
            quote!(template = "x://{a}"),
            quote!(
                async fn f(#[arg(rename = "z")] a: String) {}
            ),
        );
        assert!(e.contains("argument `z`"), "{e}");
        let e = expand_err(
            Kind::Resource,
            quote!(uri = "x://a"),
            quote!(
                async fn f(a: String) {}
            ),
        );
        assert!(e.contains("static resource"), "{e}");
        let e = expand_err(
            Kind::Resource,
            quote!(template = "x://{a"),
            quote!(
                async fn f() {}
            ),
        );
        assert!(e.contains("invalid URI template"), "{e}");
        let ok = expand_ok(
            Kind::Resource,
            quote!(template = "x://{a}/{+rest}"),
            quote!(
                async fn f(a: String, rest: String, cx: Context) {}
            ),
        );
        assert!(ok.contains("ResourceTemplateDef :: new"), "{ok}");
    }

    #[test]
    fn expansion_strips_parameter_attributes_and_keeps_the_function() {
        let out = expand_ok(
            Kind::Tool,
            quote!(
                task = "required",
                timeout_ms = 250,
                retries = 2,
                poll_interval_ms = 500,
                read_only,
                open_world = false
            ),
            quote!(
                /// Doc.
                pub fn f(#[arg(description = "A.")] a: i64, #[inject] p: Progress, b: Option<String>) -> i64 {
                    a
                }
            ),
        );
        assert!(out.contains("pub fn f (a : i64 , p : Progress , b : Option < String >)"), "{out}");
        // The framework's path is whatever the crate's manifest names (here the facade, a dev-dependency).
        assert!(out.contains("pub fn f_tool () -> :: ferrymcp :: server :: ToolDef"), "{out}");
        assert!(out.contains("blocking_handler"), "{out}");
        assert!(out.contains(". description (\"Doc.\")"), "{out}");
        assert!(out.contains("TaskSupport :: Required"), "{out}");
        assert!(out.contains("from_millis (250u64)"), "{out}");
        assert!(out.contains(". retries (2u32)"), "{out}");
        assert!(out.contains("PollInterval :: Fixed (500u64)"), "{out}");
        assert!(out.contains("\"readOnlyHint\" : true , \"openWorldHint\" : false"), "{out}");
        assert!(out.contains("# [schemars (description = \"A.\")] a : i64"), "{out}");
        assert!(out.contains("# [serde (default)] b : Option < String >"), "{out}");
        assert!(out.contains("f (__ferry_args . a , __ferry_p1 , __ferry_args . b)"), "{out}");
    }

    #[test]
    fn crate_option_names_the_framework_everywhere() {
        let out = expand_ok(
            Kind::Tool,
            quote!(crate = "my_sdk::ferry", task = "optional", read_only),
            quote!(
                async fn f(a: i64, cx: Context) -> i64 {
                    a
                }
            ),
        );
        assert!(!out.contains("ferry_server"), "{out}");
        assert!(out.contains("fn f_tool () -> my_sdk :: ferry :: ToolDef"), "{out}");
        assert!(out.contains("my_sdk :: ferry :: TaskSupport :: Optional"), "{out}");
        assert!(out.contains("my_sdk :: ferry :: __private :: serde_json :: json !"), "{out}");
        assert!(out.contains("serde (crate = \"my_sdk::ferry::__private::serde\""), "{out}");
        assert!(out.contains("schemars (crate = \"my_sdk::ferry::__private::schemars\")"), "{out}");
        assert!(out.contains("my_sdk :: ferry :: Args < __FerryArgs_f >"), "{out}");

        let e = expand_err(
            Kind::Prompt,
            quote!(crate = "not a path"),
            quote!(
                async fn f() {}
            ),
        );
        assert!(e.contains("`crate` takes a path"), "{e}");
        let e = expand_err(
            Kind::Prompt,
            quote!(crate = ""),
            quote!(
                async fn f() {}
            ),
        );
        assert!(e.contains("`crate` must not be empty"), "{e}");
    }
}
