//! What is read of a client's request body before it is routed, in one pass over it: the model,
//! whether it streams, and the top-level fields its dialect's answer must remember (see
//! `codec::Codec::context_fields`). The pass checks the whole body is JSON and skips everything
//! else without keeping it; agents send bodies of a hundred kilobytes and more on every turn, so
//! each pass over them counts.

use crate::json_object;
use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// What one pass over a request body found.
#[derive(Debug, Default)]
pub struct Peek<'a> {
    pub model: Option<Cow<'a, str>>,
    pub stream: Option<bool>,
    pub fields: RequestFields<'a>,
}

/// Top-level fields of a request body, kept as raw JSON to be read when needed. When the body
/// names one twice, the last is kept, as most JSON parsers (and so most upstreams) read it.
#[derive(Debug, Default)]
pub struct RequestFields<'a>(Vec<(&'static str, &'a RawValue)>);

impl<'a> RequestFields<'a> {
    /// Field `name` read as a `T`; None when the body has no such field or it is not a `T`.
    pub fn read<T: Deserialize<'a>>(&self, name: &str) -> Option<T> {
        let (_, raw) = self.0.iter().find(|(kept, _)| *kept == name)?;
        json_object::parse(raw).ok()
    }

    fn keep(&mut self, name: &'static str, raw: &'a RawValue) {
        match self.0.iter_mut().find(|(kept, _)| *kept == name) {
            Some(slot) => slot.1 = raw,
            None => self.0.push((name, raw)),
        }
    }
}

impl<'a> Peek<'a> {
    /// The model, the stream flag and the fields of `wanted` of the JSON object `body`. A body that
    /// is not one JSON object, or names its model or its stream flag twice (the proxy would route
    /// on one and the upstream might read the other), is an error.
    pub fn of(body: &'a [u8], wanted: &'static [&'static str]) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let peek = PeekSeed(wanted).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(peek)
    }
}

/// The model of a body whose first field is `"model"`, read without going on: agents name it
/// first. None when the body begins otherwise (another field first, the name written with an
/// escape, a model that is not a string); nothing after the model is looked at, so nothing says the
/// body is JSON: what it is read with must check that.
pub fn leading_model(body: &[u8]) -> Option<Cow<'_, str>> {
    let mut rest = body;
    for token in [&b"{"[..], b"\"model\"", b":"] {
        let space = rest.iter().take_while(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')).count();
        rest = rest[space..].strip_prefix(token)?;
    }
    let mut deserializer = serde_json::Deserializer::from_slice(rest);
    Text::deserialize(&mut deserializer).ok().map(|Text(model)| model)
}

/// A string borrowed from the body when it holds no escape.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

struct PeekSeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for PeekSeed {
    type Value = Peek<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Peek<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PeekSeed {
    type Value = Peek<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peek<'de>, A::Error> {
        let mut peek = Peek::default();
        // Whether each was seen, a null included.
        let (mut model_seen, mut stream_seen) = (false, false);
        while let Some(Text(key)) = map.next_key::<Text>()? {
            match key.as_ref() {
                "model" => {
                    if std::mem::replace(&mut model_seen, true) {
                        return Err(A::Error::duplicate_field("model"));
                    }
                    peek.model = map.next_value::<Option<Text>>()?.map(|Text(model)| model);
                }
                "stream" => {
                    if std::mem::replace(&mut stream_seen, true) {
                        return Err(A::Error::duplicate_field("stream"));
                    }
                    peek.stream = map.next_value()?;
                }
                name => match self.0.iter().find(|wanted| **wanted == name) {
                    Some(wanted) => peek.fields.keep(wanted, map.next_value()?),
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(peek)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_model_the_stream_flag_and_the_wanted_fields_in_one_pass() {
        let body = br#"{"messages":[{"role":"user","content":"hi \"there\""}],"model":"gpt-4o","stream":true,
            "stream_options":{"include_usage":true},"tools":[{"a":1}],"temperature":0.5}"#;
        let peek = Peek::of(body, &["stream_options"]).unwrap();
        assert_eq!(peek.model.as_deref(), Some("gpt-4o"));
        assert!(matches!(peek.model, Some(Cow::Borrowed(_))), "a model with no escape is borrowed");
        assert_eq!(peek.stream, Some(true));
        assert_eq!(
            peek.fields.read::<serde_json::Value>("stream_options"),
            Some(serde_json::json!({"include_usage": true}))
        );
        assert_eq!(peek.fields.read::<serde_json::Value>("tools"), None, "only the wanted fields are kept");
    }

    #[test]
    fn reads_escaped_keys_and_values_as_their_text() {
        let peek = Peek::of(br#"{"mod\u0065l":"claude-\u0033","stream":null}"#, &[]).unwrap();
        assert_eq!(peek.model.as_deref(), Some("claude-3"));
        assert_eq!(peek.stream, None);
    }

    #[test]
    fn a_model_or_stream_flag_named_twice_is_refused() {
        for body in [
            r#"{"model":"cheap","messages":[],"model":"dear"}"#,
            r#"{"model":null,"model":"dear"}"#,
            r#"{"stream":false,"stream":true}"#,
        ] {
            let error = Peek::of(body.as_bytes(), &[]).unwrap_err().to_string();
            assert!(error.contains("duplicate field"), "{body}: {error}");
        }
    }

    #[test]
    fn a_wanted_field_named_twice_is_read_as_its_last() {
        let peek = Peek::of(br#"{"tools":[1],"tools":[2]}"#, &["tools"]).unwrap();
        assert_eq!(peek.fields.read::<Vec<u8>>("tools"), Some(vec![2]));
        assert_eq!(peek.fields.read::<String>("tools"), None, "a field of another type reads as none");
    }

    #[test]
    fn anything_but_one_json_object_is_refused() {
        for body in [
            &b"[]"[..],
            b"\"model\"",
            b"{\"model\":\"a\"} {}",
            b"{\"model\":\"a\"",
            b"{\"model\":7}",
            b"{\"stream\":\"yes\"}",
            b"",
        ] {
            assert!(Peek::of(body, &["tools"]).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let error = Peek::of(b"[1]", &[]).unwrap_err().to_string();
        assert!(error.contains("expected a JSON object"), "{error}");
    }

    #[test]
    fn a_leading_model_is_read_alone_and_anything_else_is_left_to_the_whole_pass() {
        assert_eq!(leading_model(br#" {"model" : "claude-x", "messages": [tru"#).as_deref(), Some("claude-x"));
        assert_eq!(leading_model(b"{\n\t\"model\":\"a\\u0062\"}").as_deref(), Some("ab"));
        for body in [
            &br#"{"messages":[],"model":"a"}"#[..],
            br#"{"mod\u0065l":"a"}"#,
            br#"{"model":null}"#,
            br#"{"model":7}"#,
            br#"{"model":"a"#,
            br#"["model","a"]"#,
            br#"{"models":"a"}"#,
            b"",
            b"{",
        ] {
            assert_eq!(leading_model(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn skipped_fields_are_still_checked_to_be_json() {
        // A field that is skipped must still be well-formed: the body goes on as it came.
        assert!(Peek::of(br#"{"model":"a","messages":[{"x":tru}]}"#, &[]).is_err());
        assert!(Peek::of(br#"{"model":"a","tools":[1,]}"#, &["tools"]).is_err());
    }
}
