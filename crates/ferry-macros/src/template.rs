//! Compile-time check of resource URI templates (the forms the server matches:
//! RFC 6570 simple `{var}` and reserved `{+var}` expansions).

/// The variable names of `template`, or why it is not a template the server accepts.
pub(crate) fn variables(template: &str) -> Result<Vec<String>, String> {
    let mut vars = Vec::new();
    let mut rest = template;
    let mut last_was_var = false;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            last_was_var = false;
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| "a `{` is never closed".to_string())?;
        let expr = &after[..close];
        let name = expr.strip_prefix('+').unwrap_or(expr);
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!(
                "`{{{expr}}}` is not a supported expression: use `{{name}}` or `{{+name}}` \
                 (letters, digits and `_`)"
            ));
        }
        if last_was_var {
            return Err(format!("`{{{expr}}}` follows another variable directly, which is ambiguous"));
        }
        if vars.iter().any(|v| v == name) {
            return Err(format!("variable `{name}` appears twice"));
        }
        vars.push(name.to_string());
        last_was_var = true;
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("a `}` has no matching `{`".to_string());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::variables;

    #[test]
    fn accepted_templates() {
        assert_eq!(variables("ferry://greeting/{name}").unwrap(), vec!["name"]);
        assert_eq!(variables("file:///{dir}/{+path}").unwrap(), vec!["dir", "path"]);
        assert_eq!(variables("x://{a}-{b}").unwrap(), vec!["a", "b"]);
        assert!(variables("x://static").unwrap().is_empty());
    }

    #[test]
    fn rejected_templates() {
        assert!(variables("x://{a").unwrap_err().contains("never closed"));
        assert!(variables("x://{a}{b}").unwrap_err().contains("ambiguous"));
        assert!(variables("x://{}").unwrap_err().contains("not a supported"));
        assert!(variables("x://{?q}").unwrap_err().contains("not a supported"));
        assert!(variables("x://{a}/{a}").unwrap_err().contains("twice"));
        assert!(variables("x://a}").unwrap_err().contains("no matching"));
    }
}
