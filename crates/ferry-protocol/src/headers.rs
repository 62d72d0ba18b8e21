//! Tool parameters mirrored into HTTP headers (SEP-2243, protocol 2026-07-28).
//!
//! A property of a tool's `inputSchema` may carry `"x-mcp-header": "Region"`:
//! over Streamable HTTP the client then sends the argument's value as the header
//! `Mcp-Param-Region`, so proxies and load balancers can route on it, and the
//! server checks that the header and the body agree. Values that are not plain
//! visible ASCII travel as `=?base64?{Base64 of the UTF-8}?=`; `Mcp-Name` uses the
//! same encoding. Both sides of that rule live here: [`header_params`] reads and
//! checks the annotations of a schema, [`encode_value`] and [`decode_value`] are
//! the value encoding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// The JSON type of a mirrored parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// A string, sent as is (or Base64-encoded).
    String,
    /// An integer within ±(2^53 − 1), sent in decimal.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// One parameter a tool mirrors into a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderParam {
    /// Property names from the argument object down to the parameter.
    pub path: Vec<String>,
    /// The `x-mcp-header` value: the header is `Mcp-Param-{name}`.
    pub name: String,
    /// The parameter's type.
    pub kind: HeaderKind,
}

impl HeaderParam {
    /// The full header name, `Mcp-Param-{name}`.
    pub fn header(&self) -> String {
        format!("Mcp-Param-{}", self.name)
    }

    /// The argument's value at this parameter's path (`None` when absent or null).
    pub fn value_in<'a>(&self, arguments: &'a Map<String, Value>) -> Option<&'a Value> {
        let (last, parents) = self.path.split_last()?;
        let mut at = arguments;
        for p in parents {
            at = at.get(p)?.as_object()?;
        }
        at.get(last).filter(|v| !v.is_null())
    }

    /// The header value for an argument value (`None`: not of this parameter's type,
    /// or an integer outside the safe range; the header is then left out).
    pub fn render(&self, value: &Value) -> Option<String> {
        let text = match (self.kind, value) {
            (HeaderKind::String, Value::String(s)) => s.clone(),
            (HeaderKind::Integer, Value::Number(n)) => {
                let i = n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?;
                if i.unsigned_abs() > MAX_SAFE_INTEGER {
                    return None;
                }
                i.to_string()
            }
            (HeaderKind::Boolean, Value::Bool(b)) => b.to_string(),
            _ => return None,
        };
        Some(encode_value(&text))
    }

    /// Whether a decoded header value stands for the argument value.
    /// Integers compare as numbers (`42.0` equals `42`).
    pub fn agrees(&self, header: &str, value: &Value) -> bool {
        match (self.kind, value) {
            (HeaderKind::String, Value::String(s)) => header == s,
            (HeaderKind::Integer, Value::Number(n)) => {
                header.parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(h, b)| h == b)
            }
            (HeaderKind::Boolean, Value::Bool(b)) => header == if *b { "true" } else { "false" },
            // A body value of the wrong type: the header must spell it exactly.
            (_, Value::String(s)) => header == s,
            (_, other) => header == other.to_string().as_str(),
        }
    }
}

/// 2^53 − 1: integers beyond it do not survive a trip through a double.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// A header value for `text`: as is when it is non-empty visible ASCII without
/// surrounding spaces and does not look encoded, else `=?base64?…?=`.
pub fn encode_value(text: &str) -> String {
    let looks_encoded = text.starts_with(PREFIX) && text.ends_with(SUFFIX);
    let padded = text.starts_with(' ') || text.ends_with(' ');
    let plain =
        !text.is_empty() && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) && !padded && !looks_encoded;
    if plain {
        text.to_string()
    } else {
        format!("{PREFIX}{}{SUFFIX}", STANDARD.encode(text))
    }
}

/// The text a header value stands for: Base64-decoded when it has the
/// `=?base64?…?=` form (canonical Base64 with padding, of UTF-8), else the value
/// itself, which must be visible ASCII, spaces and tabs.
pub fn decode_value(raw: &str) -> Result<String, String> {
    if let Some(inner) = raw.strip_prefix(PREFIX).and_then(|r| r.strip_suffix(SUFFIX)) {
        let bytes = STANDARD.decode(inner).map_err(|e| format!("invalid Base64 ({e})"))?;
        return String::from_utf8(bytes).map_err(|_| "Base64 of something that is not UTF-8".to_string());
    }
    if let Some(bad) = raw.bytes().find(|b| !(b.is_ascii_graphic() || *b == b' ' || *b == b'\t')) {
        return Err(format!("invalid character 0x{bad:02x}"));
    }
    Ok(raw.to_string())
}

/// Keywords whose value is a schema, or an array of schemas.
const SUBSCHEMA: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
];
/// Keywords whose value maps names to schemas (`properties` is handled apart).
const SCHEMA_MAPS: &[&str] = &["patternProperties", "$defs", "definitions", "dependentSchemas"];

/// The `x-mcp-header` parameters of an input schema, checked against the rules of
/// 2026-07-28: a non-empty HTTP token, unique ignoring case, on a `string`,
/// `integer` or `boolean` property reached from the root through `properties`
/// alone. The error says what is wrong where.
pub fn header_params(schema: &Value) -> Result<Vec<HeaderParam>, String> {
    let mut out = Vec::new();
    visit(schema, Some(&[]), &mut out)?;
    for (i, p) in out.iter().enumerate() {
        if let Some(q) = out[..i].iter().find(|q| q.name.eq_ignore_ascii_case(&p.name)) {
            return Err(format!(
                "x-mcp-header '{}' (on '{}') and '{}' (on '{}') differ only in case",
                q.name,
                q.path.join("."),
                p.name,
                p.path.join(".")
            ));
        }
    }
    Ok(out)
}

/// `reach`: the property path of a statically reachable property schema (empty for the root).
fn visit(node: &Value, reach: Option<&[String]>, out: &mut Vec<HeaderParam>) -> Result<(), String> {
    let Some(obj) = node.as_object() else { return Ok(()) };
    if let Some(name) = obj.get("x-mcp-header") {
        let path = match reach {
            Some(p) if !p.is_empty() => p.to_vec(),
            _ => {
                return Err(format!(
                    "x-mcp-header {name} is on a schema not reached from the root through `properties` alone"
                ))
            }
        };
        let at = path.join(".");
        let name = name.as_str().ok_or_else(|| format!("x-mcp-header on '{at}' must be a string"))?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!(
                "x-mcp-header '{name}' on '{at}' is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)"
            ));
        }
        let kind = kind_of(obj.get("type"))
            .ok_or_else(|| format!("x-mcp-header '{name}' on '{at}': only string, integer or boolean parameters"))?;
        out.push(HeaderParam { path, name: name.to_string(), kind });
    }
    for (key, child) in obj {
        match key.as_str() {
            "properties" => {
                for (name, schema) in child.as_object().into_iter().flatten() {
                    let path = reach.map(|p| [p, std::slice::from_ref(name)].concat());
                    visit(schema, path.as_deref(), out)?;
                }
            }
            k if SCHEMA_MAPS.contains(&k) => {
                for schema in child.as_object().into_iter().flat_map(|m| m.values()) {
                    visit(schema, None, out)?;
                }
            }
            k if SUBSCHEMA.contains(&k) => match child {
                Value::Array(items) => items.iter().try_for_each(|s| visit(s, None, out))?,
                schema => visit(schema, None, out)?,
            },
            _ => {}
        }
    }
    Ok(())
}

/// `"string"`, or `["string", "null"]` (an optional parameter), and so on.
fn kind_of(ty: Option<&Value>) -> Option<HeaderKind> {
    let one = |s: &str| match s {
        "string" => Some(HeaderKind::String),
        "integer" => Some(HeaderKind::Integer),
        "boolean" => Some(HeaderKind::Boolean),
        _ => None,
    };
    match ty? {
        Value::String(s) => one(s),
        Value::Array(types) => {
            let mut kinds = types.iter().filter(|t| t.as_str() != Some("null"));
            let only = kinds.next()?;
            if kinds.next().is_some() {
                return None;
            }
            one(only.as_str()?)
        }
        _ => None,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_annotations_on_reachable_primitives() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": ["integer", "null"], "x-mcp-header": "N"},
            "outer": {"type": "object", "properties": {"flag": {"type": "boolean", "x-mcp-header": "Flag"}}},
            "query": {"type": "string"}
        }});
        let got = header_params(&schema).unwrap();
        let names: Vec<_> = got.iter().map(|p| (p.path.join("."), p.name.as_str(), p.kind)).collect();
        assert_eq!(
            names,
            [
                ("n".into(), "N", HeaderKind::Integer),
                ("outer.flag".into(), "Flag", HeaderKind::Boolean),
                ("region".into(), "Region", HeaderKind::String)
            ]
        );
    }

    #[test]
    fn refuses_every_broken_annotation() {
        let bad = [
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "My Region"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "Région"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A:B"}}}),
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "object", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "array", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "a"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"$defs": {"d": {"type": "string", "x-mcp-header": "A"}}, "properties": {"a": {"$ref": "#/$defs/d"}}}),
            json!({"anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"type": "object", "x-mcp-header": "Root"}),
        ];
        for schema in bad {
            assert!(header_params(&schema).is_err(), "{schema}");
        }
        // A property *named* x-mcp-header is no annotation; nor is data under `default`.
        let fine = json!({"properties": {"x-mcp-header": {"type": "object", "default": {"x-mcp-header": 1}}}});
        assert_eq!(header_params(&fine).unwrap(), []);
    }

    #[test]
    fn values_round_trip_through_the_encoding() {
        for text in ["us-west1", "Hello, 世界", " padded ", "line1\nline2", "=?base64?literal?=", "", "a\tb"] {
            assert_eq!(decode_value(&encode_value(text)).unwrap(), text);
        }
        assert_eq!(encode_value("us-west1"), "us-west1");
        assert_eq!(encode_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        // Missing padding, characters outside the alphabet: refused. Half a wrapper: a literal.
        assert!(decode_value("=?base64?SGVsbG8?=").is_err());
        assert!(decode_value("=?base64?SGVs!!!bG8=?=").is_err());
        assert_eq!(decode_value("=?base64?SGVsbG8=").unwrap(), "=?base64?SGVsbG8=");
    }

    #[test]
    fn integers_agree_numerically() {
        let p = HeaderParam { path: vec!["n".into()], name: "N".into(), kind: HeaderKind::Integer };
        assert!(p.agrees("42.0", &json!(42)));
        assert!(!p.agrees("43", &json!(42)));
        assert_eq!(p.render(&json!(9_007_199_254_740_992_u64)), None);
        assert_eq!(p.render(&json!(-7)).as_deref(), Some("-7"));
    }
}
