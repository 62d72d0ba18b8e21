//! The JSON types a JSON Schema lets a value have, as argument conversion reads them:
//! a prompt argument's wire string, or a command-line `key=value`, becomes the JSON
//! its parameter's schema asks for.

use serde_json::Value;

/// How deep `$ref`, `anyOf` and `oneOf` are followed before a schema counts as unreadable.
const MAX_DEPTH: usize = 8;

/// The JSON type of a value: `null`, `boolean`, `integer`, `number`, `string`, `array`, `object`.
pub fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `v` has the JSON type `t` (an integer is a `number` too).
pub fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "number" => v.is_number(),
        other => type_of(v) == other,
    }
}

/// The types `schema` allows (from `type`, `enum`, `const`, `anyOf`/`oneOf` branches and
/// same-document `$ref`s into `root`); `None` when it allows any, or cannot be read so.
pub fn allowed_types<'a>(schema: &'a Value, root: &'a Value) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    collect(schema, root, 0, &mut out).then_some(out)
}

fn collect<'a>(schema: &'a Value, root: &'a Value, depth: usize, out: &mut Vec<&'a str>) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return match target.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(found) => collect(found, root, depth + 1, out),
            None => false,
        };
    }
    match schema.get("type") {
        Some(Value::String(t)) => out.push(t),
        Some(Value::Array(ts)) => out.extend(ts.iter().filter_map(Value::as_str)),
        _ => {
            let branches = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array);
            if let Some(branches) = branches {
                return branches.iter().all(|b| collect(b, root, depth + 1, out));
            }
            match (schema.get("enum").and_then(Value::as_array), schema.get("const")) {
                (Some(values), _) => out.extend(values.iter().map(|v| -> &'a str { type_of(v) })),
                (None, Some(value)) => out.push(type_of(value)),
                (None, None) => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_come_from_type_enum_const_branches_and_refs() {
        let root = json!({"$defs": {"Color": {"enum": ["red", "blue"]}}});
        let cases = [
            (json!({"type": "integer"}), Some(vec!["integer"])),
            (json!({"type": ["number", "null"]}), Some(vec!["number", "null"])),
            (json!({"const": 3}), Some(vec!["integer"])),
            (json!({"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}]}), Some(vec!["string", "string", "null"])),
            (json!({"$ref": "#/$defs/Missing"}), None),
            (json!({}), None),
        ];
        for (schema, want) in cases {
            assert_eq!(allowed_types(&schema, &root), want, "{schema}");
        }
        assert!(has_type(&json!(2), "number") && !has_type(&json!(2.5), "integer"));
    }
}
