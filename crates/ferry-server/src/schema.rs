//! JSON Schemas of handler arguments and outputs.

use schemars::JsonSchema;
use serde_json::{json, Value};

/// The JSON Schema (draft 2020-12) of `T`, as MCP wants it for a tool's input:
/// always an object schema, without the `$schema` key clients do not need.
pub fn input_schema<T: JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
        if obj.get("type").and_then(Value::as_str) != Some("object") {
            // MCP needs an object schema; a unit or null type means "no arguments".
            return json!({"type": "object", "properties": {}});
        }
        obj.entry("properties").or_insert_with(|| json!({}));
    }
    v
}

/// The schema of `T` for `outputSchema` (`None` when `T` is not an object).
pub fn output_schema<T: JsonSchema>() -> Option<Value> {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    let obj = v.as_object_mut()?;
    obj.remove("$schema");
    (obj.get("type").and_then(Value::as_str) == Some("object")).then_some(v)
}
