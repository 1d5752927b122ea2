//! Reading the fields every dialect fills either with text or with a list (`"content": "hi"` or
//! `"content": [{"type": "text", …}]`, `"stop": "\n"` or `"stop": ["\n"]`).
//!
//! serde's `untagged` would buffer the whole value, then read the buffer again for each variant,
//! which builds a second reader of every type inside (the content blocks and all they hold): a
//! large share of the worker's code and a copy of every such field on each request. This reads
//! the value once, straight from the JSON. A dialect's enum takes it with
//! `#[serde(from = "TextOrList<Item>")]`; its `untagged` then only shapes how it is written.

use serde::de::{self, value::SeqAccessDeserializer, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

pub enum TextOrList<T> {
    Text(String),
    List(Vec<T>),
}

/// `From<TextOrList<Item>>` for a dialect's enum of the two, named by its variants:
/// `text_or_list!(MessageContent, Text, Blocks(Block))`.
macro_rules! text_or_list {
    ($enum:ident, $text:ident, $list:ident($item:ty)) => {
        impl From<$crate::dialect::text_or_list::TextOrList<$item>> for $enum {
            fn from(value: $crate::dialect::text_or_list::TextOrList<$item>) -> Self {
                match value {
                    $crate::dialect::text_or_list::TextOrList::Text(text) => Self::$text(text),
                    $crate::dialect::text_or_list::TextOrList::List(items) => Self::$list(items),
                }
            }
        }
    };
}
pub(crate) use text_or_list;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOrList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextOrListVisitor(PhantomData))
    }
}

struct TextOrListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrListVisitor<T> {
    type Value = TextOrList<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string or an array")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(TextOrList::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(TextOrList::Text(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(TextOrList::List)
    }
}

#[cfg(test)]
mod tests {
    use super::TextOrList;

    fn read(json: &str) -> Result<TextOrList<u8>, serde_json::Error> {
        serde_json::from_slice(json.as_bytes())
    }

    #[test]
    fn text_and_lists_are_read_and_anything_else_is_refused_by_name() {
        assert!(matches!(read(r#""hi \u00e9""#), Ok(TextOrList::Text(text)) if text == "hi é"));
        assert!(matches!(read("[1, 2]"), Ok(TextOrList::List(items)) if items == [1, 2]));
        assert!(matches!(read("[]"), Ok(TextOrList::List(items)) if items.is_empty()));
        for wrong in ["3", "{}", "null", "true"] {
            let error = read(wrong).err().expect(wrong).to_string();
            assert!(error.contains("expected a string or an array"), "{wrong}: {error}");
        }
        let error = read(r#"[1, "x"]"#).err().expect("a wrong item").to_string();
        assert!(error.contains("expected u8"), "{error}");
    }
}
