//! A tool's JSON Schema as the JSON text it came in.
//!
//! Tools' schemas are a large part of what agents send on every turn (16 of the 78 KB of a Claude
//! Code request), and no translation looks inside them (Gemini's OpenAPI `parameters` are made
//! JSON Schema before they become one). Read as a `serde_json::Value`, each was taken apart into a
//! tree of sorted maps and written out again from it: about half of a translated agent request's
//! time, and the properties reordered, which models that generate arguments in schema order see.
//! Kept as text, a schema is copied, in its order. The text is what the client sent, checked only
//! to be JSON: a number no `f64` holds, or nesting deeper than a tree is read, reaches the upstream
//! as it came, for the upstream to judge; so nothing here reads a schema as a tree again.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema(Box<RawValue>);

impl Schema {
    /// Any object: the schema of a tool that gives none, for dialects that require one.
    pub fn any_object() -> Self {
        Self::from_value(&serde_json::json!({"type": "object", "properties": {}}))
    }

    pub fn from_value(value: &Value) -> Self {
        // A `Value` always writes as JSON, so this cannot fail.
        Self(serde_json::value::to_raw_value(value).expect("a JSON value writes as JSON"))
    }

    /// A schema read as a tree first, where raw text cannot be read (from inside serde's buffer
    /// for an `untagged` enum): for `#[serde(deserialize_with = "Schema::from_tree")]`.
    pub fn from_tree<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|value| Self::from_value(&value))
    }

    /// The schema as a tree, to look inside it in tests. (Not outside them: a schema that reads as
    /// raw text need not read as a tree, see above.)
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(self.text().as_bytes()).expect("a schema is JSON")
    }

    /// Its JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

/// Two schemas are the same when their JSON text is.
impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_is_written_as_it_was_read_its_properties_in_their_order() {
        #[derive(Deserialize, Serialize)]
        struct Tool {
            parameters: Schema,
        }
        let text = r#"{"parameters":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}}"#;
        let tool: Tool = serde_json::from_slice(text.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&tool).unwrap(), text);
        assert_eq!(tool.parameters.to_value()["required"], serde_json::json!(["zeta"]));
    }

    #[test]
    fn a_schema_made_from_a_tree_reads_back_as_that_tree() {
        let value = serde_json::json!({"type": "object", "properties": {"n": {"type": "number"}}});
        assert_eq!(Schema::from_value(&value).to_value(), value);
        assert_eq!(Schema::any_object().to_value(), serde_json::json!({"type": "object", "properties": {}}));
    }
}
