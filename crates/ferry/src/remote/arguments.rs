//! `key=value` arguments on the command line, read as the tool's `inputSchema` (or the
//! prompt's argument list) says: `message=123` is the text "123" for a string parameter
//! and the number 123 for an integer one. Unknown, duplicate and missing arguments are
//! refused before anything is sent.

use crate::UsageError;
use ferry_client::{Prompt, Tool};
use ferry_protocol::json_types::{allowed_types, has_type};
use serde_json::{Map, Value};

/// Split `key=value` pairs, refusing a pair without `=` or key, and a key given twice.
pub fn split_pairs(pairs: &[String]) -> Result<Vec<(&str, &str)>, UsageError> {
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| UsageError(format!("argument '{pair}' is not key=value")))?;
        if k.is_empty() {
            return Err(UsageError(format!("argument '{pair}' has no key")));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(UsageError(format!("argument '{k}' is given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Arguments without a schema to follow: values that parse as JSON are JSON, the rest text.
pub fn parse_arguments(pairs: &[String]) -> Result<Value, UsageError> {
    let args = split_pairs(pairs)?.into_iter().map(|(k, v)| (k.to_string(), json_or_text(v))).collect();
    Ok(Value::Object(args))
}

fn json_or_text(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// The arguments object for `tool`, each value read as its parameter's schema says.
pub fn tool_arguments(tool: &Tool, pairs: &[String]) -> Result<Value, UsageError> {
    let schema = &tool.input_schema;
    let properties = schema.get("properties").and_then(Value::as_object);
    let open = match schema.get("additionalProperties") {
        Some(Value::Bool(false)) => false,
        Some(_) => true,
        // Unset allows anything in JSON Schema, but a typo is likelier than a hidden parameter.
        None => properties.is_none() || schema.get("patternProperties").is_some(),
    };
    let names = || properties.map(|p| p.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let mut args = Map::new();
    for (key, raw) in split_pairs(pairs)? {
        let value = match properties.and_then(|p| p.get(key)) {
            Some(param) => coerce(raw, param, schema).map_err(|wanted| {
                UsageError(format!("argument {key}={raw}: tool '{}' wants {wanted} there", tool.name))
            })?,
            None if open => json_or_text(raw),
            None => {
                let takes = match names() {
                    n if n.is_empty() => "it takes no arguments".to_string(),
                    n => format!("its arguments: {n}"),
                };
                return Err(UsageError(format!("tool '{}' has no argument '{key}'; {takes}", tool.name)));
            }
        };
        args.insert(key.to_string(), value);
    }
    let missing: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|r| !args.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        return Err(UsageError(format!("tool '{}' needs {} (as key=value)", tool.name, missing.join(", "))));
    }
    Ok(Value::Object(args))
}

/// The arguments object for `prompt`: every value is text (prompt arguments are strings).
pub fn prompt_arguments(prompt: &Prompt, pairs: &[String]) -> Result<Value, UsageError> {
    let mut args = Map::new();
    for (key, raw) in split_pairs(pairs)? {
        if !prompt.arguments.iter().any(|a| a.name == key) {
            let names: Vec<&str> = prompt.arguments.iter().map(|a| a.name.as_str()).collect();
            let takes = if names.is_empty() { "it takes none".to_string() } else { names.join(", ") };
            return Err(UsageError(format!(
                "prompt '{}' has no argument '{key}'; its arguments: {takes}",
                prompt.name
            )));
        }
        args.insert(key.to_string(), Value::String(raw.to_string()));
    }
    let missing: Vec<&str> = prompt
        .arguments
        .iter()
        .filter(|a| a.required && !args.contains_key(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(UsageError(format!("prompt '{}' needs {} (as key=value)", prompt.name, missing.join(", "))));
    }
    Ok(Value::Object(args))
}

/// `raw` as a value of `param`'s type: JSON when it parses as one of the non-string types
/// the parameter takes, else text when it takes text. `Err`: what it takes.
fn coerce(raw: &str, param: &Value, root: &Value) -> Result<Value, String> {
    let Some(types) = allowed_types(param, root).filter(|t| !t.is_empty()) else {
        return Ok(json_or_text(raw)); // a schema these rules cannot read: as without one
    };
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        if types.iter().any(|t| *t != "string" && has_type(&v, t)) {
            return Ok(v);
        }
    }
    if types.contains(&"string") {
        return Ok(Value::String(raw.to_string()));
    }
    Err(article(&types.join(" or ")))
}

fn article(types: &str) -> String {
    let vowel = types.starts_with(['a', 'e', 'i', 'o', 'u']);
    match types {
        "null" => "null".to_string(),
        t if vowel => format!("an {t}"),
        t => format!("a {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(schema: Value) -> Tool {
        serde_json::from_value(json!({"name": "t", "inputSchema": schema})).unwrap()
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_follow_the_parameter_types() {
        let t = tool(json!({"type": "object", "properties": {
            "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": ["number", "null"]},
            "b": {"type": "boolean"}, "l": {"type": "array", "items": {"type": "string"}},
            "e": {"$ref": "#/$defs/Color"}, "o": {"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}]},
            "any": {}
        }, "$defs": {"Color": {"type": "string", "enum": ["red", "blue"]}}}));
        let got =
            tool_arguments(&t, &args(&["s=123", "i=7", "n=null", "b=true", "l=[\"x\"]", "e=red", "o=null", "any=[1]"]))
                .unwrap();
        assert_eq!(
            got,
            json!({"s": "123", "i": 7, "n": null, "b": true, "l": ["x"], "e": "red", "o": null, "any": [1]})
        );
        let e = tool_arguments(&t, &args(&["i=x"])).unwrap_err().0;
        assert_eq!(e, "argument i=x: tool 't' wants an integer there");
        let e = tool_arguments(&t, &args(&["i=1.5"])).unwrap_err().0;
        assert!(e.contains("an integer"), "{e}");
        assert_eq!(tool_arguments(&t, &args(&["n=2.5"])).unwrap(), json!({"n": 2.5}));
    }

    #[test]
    fn unknown_duplicate_and_missing_arguments_are_refused() {
        let t = tool(json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                            "required": ["a", "b"]}));
        assert_eq!(
            tool_arguments(&t, &args(&["a=1", "c=2"])).unwrap_err().0,
            "tool 't' has no argument 'c'; its arguments: a, b"
        );
        assert_eq!(tool_arguments(&t, &args(&["a=1", "a=2"])).unwrap_err().0, "argument 'a' is given twice");
        assert_eq!(tool_arguments(&t, &args(&["a=1"])).unwrap_err().0, "tool 't' needs b (as key=value)");
        assert_eq!(tool_arguments(&t, &args(&["5"])).unwrap_err().0, "argument '5' is not key=value");
        let open = tool(json!({"type": "object", "properties": {}, "additionalProperties": true}));
        assert_eq!(tool_arguments(&open, &args(&["x=1", "y=z"])).unwrap(), json!({"x": 1, "y": "z"}));
        let none = tool(json!({"type": "object"}));
        assert_eq!(tool_arguments(&none, &args(&["x=1"])).unwrap(), json!({"x": 1}));
        let closed = tool(json!({"type": "object", "properties": {}}));
        assert!(tool_arguments(&closed, &args(&["x=1"])).unwrap_err().0.contains("it takes no arguments"));
    }

    #[test]
    fn prompt_arguments_are_text_and_checked_against_the_list() {
        let p: Prompt = serde_json::from_value(json!({"name": "greet", "arguments": [
            {"name": "name", "required": true}, {"name": "style"}]}))
        .unwrap();
        assert_eq!(prompt_arguments(&p, &args(&["name=42"])).unwrap(), json!({"name": "42"}));
        assert!(prompt_arguments(&p, &args(&["style=x"])).unwrap_err().0.contains("needs name"));
        assert!(prompt_arguments(&p, &args(&["name=a", "nme=b"])).unwrap_err().0.contains("no argument 'nme'"));
    }
}
