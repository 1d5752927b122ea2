//! Parts of a request kept as the JSON text they came in: tools' schemas and descriptions.
//!
//! They are most of what agents send on every turn (of the 78 KB of a Claude Code request, 47 KB
//! are its tools' descriptions and 16 KB their schemas), and no translation looks inside them
//! (Gemini's OpenAPI `parameters` are made JSON Schema before they become one). Read into a
//! `serde_json::Value` or a `String` and written out again, each schema was taken apart into a tree
//! of sorted maps, and each description unescaped and escaped again: most of a translated agent
//! request's time, and the schema's properties reordered, which models that generate arguments in
//! schema order see. Kept as text, each is copied, in its order. The text is what the client sent,
//! checked only to be JSON of its kind: a number no `f64` holds, or nesting deeper than a tree is
//! read, reaches the upstream as it came, for the upstream to judge; so nothing here reads a
//! schema as a tree again.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// JSON text of the kind `Kind`, as it was read.
pub struct Raw<Kind>(Box<RawValue>, PhantomData<Kind>);

/// What JSON a `Raw` holds.
pub trait RawKind {
    /// What it is, for the error that reading anything else gives.
    const EXPECTED: &'static str;
    /// Whether `text`, which is JSON, is of this kind.
    fn holds(text: &str) -> bool;
}

/// Any JSON: a schema.
pub enum AnyJson {}

impl RawKind for AnyJson {
    const EXPECTED: &'static str = "JSON";
    fn holds(_: &str) -> bool {
        true
    }
}

/// A JSON string.
pub enum JsonString {}

impl RawKind for JsonString {
    const EXPECTED: &'static str = "a string";
    fn holds(text: &str) -> bool {
        text.starts_with('"')
    }
}

/// A tool's JSON Schema.
pub type Schema = Raw<AnyJson>;
/// A string as its JSON text, escapes and quotes included: a tool's description.
pub type RawString = Raw<JsonString>;

impl<Kind: RawKind> Raw<Kind> {
    fn checked<E: Error>(raw: Box<RawValue>) -> Result<Self, E> {
        if Kind::holds(raw.get()) {
            Ok(Self(raw, PhantomData))
        } else {
            Err(E::invalid_type(unexpected(raw.get()), &Kind::EXPECTED))
        }
    }

    /// Read as a tree first, where raw text cannot be read (from inside serde's buffer for an
    /// `untagged` enum): for `#[serde(deserialize_with = "Schema::from_tree")]`.
    pub fn from_tree<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::checked(raw_of(&Value::deserialize(deserializer)?))
    }

    /// Its JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

impl Schema {
    /// Any object: the schema of a tool that gives none, for dialects that require one.
    pub fn any_object() -> Self {
        Self::from_value(&serde_json::json!({"type": "object", "properties": {}}))
    }

    pub fn from_value(value: &Value) -> Self {
        Self(raw_of(value), PhantomData)
    }

    /// The schema as a tree, to look inside it in tests. (Not outside them: a schema that reads as
    /// raw text need not read as a tree, see above.)
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.text()).expect("a schema is JSON")
    }
}

impl RawString {
    /// An optional string read as `from_tree` reads one: `null` is none.
    pub fn maybe_from_tree<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(None),
            value => Self::checked(raw_of(&value)).map(Some),
        }
    }

    #[cfg(test)]
    pub fn of(text: &str) -> Self {
        Self(serde_json::value::to_raw_value(text).expect("a string writes as JSON"), PhantomData)
    }

    /// The string it holds, unescaped, to look at it in tests. (Not outside them: a string of
    /// escapes that read as raw text, a lone surrogate's, need not unescape.)
    #[cfg(test)]
    pub fn to_unescaped(&self) -> String {
        serde_json::from_str(self.text()).expect("a raw string is a JSON string")
    }
}

fn raw_of(value: &Value) -> Box<RawValue> {
    // A `Value` always writes as JSON, so this cannot fail.
    serde_json::value::to_raw_value(value).expect("a JSON value writes as JSON")
}

/// What JSON `text` is, for an error: its kind, never its text, which may be any size.
fn unexpected(text: &str) -> Unexpected<'static> {
    match text.as_bytes().first() {
        Some(b'{') => Unexpected::Map,
        Some(b'[') => Unexpected::Seq,
        Some(b'"') => Unexpected::Other("a string"),
        Some(b't' | b'f') => Unexpected::Other("a boolean"),
        Some(b'n') => Unexpected::Unit,
        _ => Unexpected::Other("a number"),
    }
}

impl<Kind> Clone for Raw<Kind> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<Kind> fmt::Debug for Raw<Kind> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Two are the same when their JSON text is.
impl<Kind> PartialEq for Raw<Kind> {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl<Kind> Serialize for Raw<Kind> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, Kind: RawKind> Deserialize<'de> for Raw<Kind> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::checked(Box::<RawValue>::deserialize(deserializer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Tool {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<RawString>,
        parameters: Schema,
    }

    #[test]
    fn a_tool_is_written_as_it_was_read_its_properties_in_their_order_its_escapes_as_they_came() {
        let text = r#"{"description":"Runs \"cmd\"\n\u00e9 \u2028 \/ ok","parameters":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},"required":["zeta"]}}"#;
        let tool: Tool = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&tool).unwrap(), text);
        assert_eq!(tool.parameters.to_value()["required"], serde_json::json!(["zeta"]));
        assert_eq!(tool.description.unwrap().to_unescaped(), "Runs \"cmd\"\n\u{e9} \u{2028} / ok");
    }

    #[test]
    fn a_description_is_a_string_or_nothing() {
        for (text, kind) in [
            (r#"{"description":7,"parameters":{}}"#, "a number"),
            (r#"{"description":{"secret":"sk-1"},"parameters":{}}"#, "map"),
            (r#"{"description":[true],"parameters":{}}"#, "sequence"),
        ] {
            let error = serde_json::from_str::<Tool>(text).err().expect("not a string").to_string();
            assert!(error.contains(&format!("invalid type: {kind}, expected a string")), "{error}");
            // The error names what the value is, not what it says.
            assert!(!error.contains("sk-1"), "{error}");
        }
        let tool: Tool = serde_json::from_str(r#"{"description":null,"parameters":{}}"#).unwrap();
        assert!(tool.description.is_none());
        // Bad JSON inside a string is bad JSON: it is not copied on.
        assert!(serde_json::from_str::<Tool>(r#"{"description":"\x","parameters":{}}"#).is_err());
        assert!(serde_json::from_str::<Tool>("{\"description\":\"a\u{1}b\",\"parameters\":{}}").is_err());
    }

    #[test]
    fn made_from_a_tree_or_a_string_each_reads_back_as_it() {
        let value = serde_json::json!({"type": "object", "properties": {"n": {"type": "number"}}});
        assert_eq!(Schema::from_value(&value).to_value(), value);
        assert_eq!(Schema::any_object().to_value(), serde_json::json!({"type": "object", "properties": {}}));
        let text = "tab\there \"quoted\" \u{7f}";
        assert_eq!(RawString::of(text).to_unescaped(), text);
        let tree: RawString = RawString::from_tree(&mut serde_json::Deserializer::from_str(r#""a\nb""#)).unwrap();
        assert_eq!(tree.to_unescaped(), "a\nb");
        assert!(RawString::from_tree(&mut serde_json::Deserializer::from_str("[1]")).is_err());
        let none = RawString::maybe_from_tree(&mut serde_json::Deserializer::from_str("null")).unwrap();
        assert!(none.is_none());
    }
}
