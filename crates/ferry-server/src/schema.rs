//! JSON Schemas of handler arguments and outputs.

use schemars::JsonSchema;
use serde_json::{json, Value};

/// Draft 2020-12 schemas without a generated `$schema` key: clients do not need
/// it, so it appears only when the type declares it itself, e.g. with
/// `#[schemars(extend("$schema" = "https://json-schema.org/draft/2020-12/schema"))]`.
fn generator() -> schemars::SchemaGenerator {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.meta_schema = None;
    settings.into_generator()
}

/// The JSON Schema (draft 2020-12) of `T`, as MCP wants it for a tool's input:
/// always an object schema. Keywords come from `T`'s schemars attributes
/// (`$schema`, `$defs` names, `additionalProperties: false` from
/// `#[serde(deny_unknown_fields)]`, ...).
pub fn input_schema<T: JsonSchema>() -> Value {
    let schema = generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        if obj.get("type").and_then(Value::as_str) != Some("object") {
            // MCP needs an object schema. A schema that allows anything (`serde_json::Value`)
            // takes any arguments; a unit or null type means "no arguments".
            if !obj.contains_key("type") && obj.keys().all(|k| k.starts_with('$') || k == "title" || k == "description")
            {
                return json!({"type": "object", "properties": {}, "additionalProperties": true});
            }
            return json!({"type": "object", "properties": {}});
        }
        obj.entry("properties").or_insert_with(|| json!({}));
    }
    v
}

/// The schema of `T` for `outputSchema` (`None` when `T` is not an object).
pub fn output_schema<T: JsonSchema>() -> Option<Value> {
    let schema = generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    let obj = v.as_object_mut()?;
    (obj.get("type").and_then(Value::as_str) == Some("object")).then_some(v)
}
