//! Reading JSON objects whose kind is one of their fields (`{"type": "response.created", …}`)
//! into an enum with a variant per kind, without buffering the object.
//!
//! serde's `#[serde(tag = "type")]` reads the whole object into a buffer first (the tag may come
//! last), then each variant from that buffer: an allocation per field of every event, and a second
//! reader of every type the variants hold, built for the buffer. Here the object is skimmed for
//! its tag (nothing is allocated but an escaped tag), then read once more as the variant the tag
//! names, by the reader every other JSON goes through. The enum derives serde's default,
//! externally tagged representation, which this presents it with; the tag field itself is left
//! out of what the variant reads, as serde's own tagging does, so no `extra` field collects it.

use serde::de::{
    self, value::CowStrDeserializer, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess,
    IgnoredAny, IntoDeserializer, MapAccess, VariantAccess, Visitor,
};
use serde_json::de::SliceRead;
use std::borrow::Cow;
use std::fmt;

mod write;
pub use write::TagFirst;

/// `json` read as `T`, the variant named by its `tag` field. A kind `T` has no variant for is
/// read as its `#[serde(other)]` variant when it has one.
pub fn from_slice<T: DeserializeOwned>(json: &[u8], tag: &'static str) -> serde_json::Result<T> {
    from_slice_with(json, tag, |tagged| T::deserialize(tagged))
}

/// `json` read by `read`, a derived externally tagged `deserialize` (an enum's own, under
/// `#[serde(remote = "Self")]`, when its `Deserialize` is written by hand around this).
pub fn from_slice_with<'de, T>(
    json: &'de [u8],
    tag: &'static str,
    read: impl FnOnce(Tagged<'_, 'de>) -> serde_json::Result<T>,
) -> serde_json::Result<T> {
    let kind = {
        let mut skim = serde_json::Deserializer::from_slice(json);
        let kind = skim.deserialize_map(TagValue(tag))?;
        skim.end()?;
        kind.ok_or_else(|| de::Error::missing_field(tag))?.into_owned()
    };
    whole(json, |reader| read(Tagged { kind, tag, reader }))
}

/// `json` read by `read`, with nothing but white space after what it reads.
fn whole<'de, T>(
    json: &'de [u8],
    read: impl FnOnce(&mut serde_json::Deserializer<SliceRead<'de>>) -> serde_json::Result<T>,
) -> serde_json::Result<T> {
    let mut reader = serde_json::Deserializer::from_slice(json);
    let value = read(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// A tagged value inside a larger JSON: one of the enum's variants as `read` reads its JSON, or,
/// when it is none of them (a kind added later, or a known kind with fields it does not expect),
/// the value as `Other`. That is serde's `#[serde(untagged)]` fallback variant, without the
/// buffer.
pub fn deserialize_or_other<'de, D, T, Other>(
    deserializer: D,
    read: impl FnOnce(&[u8]) -> serde_json::Result<T>,
    other: impl FnOnce(Other) -> T,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    Other: DeserializeOwned,
{
    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    let json = raw.get().as_bytes();
    read(json).or_else(|_| serde_json::from_slice(json).map(other)).map_err(de::Error::custom)
}

/// The value of the field named `.0`, when there is one, skimming the rest.
struct TagValue(&'static str);

impl<'de> Visitor<'de> for TagValue {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "an object with a `{}` field", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.0 && kind.is_none() {
                kind = Some(map.next_value::<Cow<'de, str>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(kind)
    }
}

/// The object as an externally tagged enum: the variant named `kind`, its content the object.
pub struct Tagged<'r, 'de> {
    kind: String,
    tag: &'static str,
    reader: &'r mut serde_json::Deserializer<SliceRead<'de>>,
}

impl<'de> Deserializer<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'r, 'de> EnumAccess<'de> for Tagged<'r, 'de> {
    type Error = serde_json::Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> serde_json::Result<(S::Value, Self)> {
        let kind: CowStrDeserializer<'_, serde_json::Error> = Cow::Borrowed(self.kind.as_str()).into_deserializer();
        Ok((seed.deserialize(kind)?, self))
    }
}

impl<'de> VariantAccess<'de> for Tagged<'_, 'de> {
    type Error = serde_json::Error;

    /// A variant with no fields: the rest of the object is skimmed.
    fn unit_variant(self) -> serde_json::Result<()> {
        de::Deserializer::deserialize_ignored_any(&mut *self.reader, IgnoredAny).map(drop)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> serde_json::Result<S::Value> {
        seed.deserialize(WithoutTag { tag: self.tag, reader: &mut *self.reader })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> serde_json::Result<V::Value> {
        Err(de::Error::custom("a tagged object is not a tuple"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        WithoutTag { tag: self.tag, reader: &mut *self.reader }.deserialize_map(visitor)
    }
}

/// The object with its tag field left out.
struct WithoutTag<'r, 'de> {
    tag: &'static str,
    reader: &'r mut serde_json::Deserializer<SliceRead<'de>>,
}

impl<'de> Deserializer<'de> for WithoutTag<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        let tag = self.tag;
        self.reader.deserialize_map(SkippingTag { tag, visitor })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Hands `visitor` the object's fields but the tag.
struct SkippingTag<V> {
    tag: &'static str,
    visitor: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for SkippingTag<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(FieldsButTag { tag: self.tag, map })
    }
}

struct FieldsButTag<A> {
    tag: &'static str,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FieldsButTag<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<Cow<'de, str>>()? {
            if key != self.tag {
                return seed.deserialize(CowStrDeserializer::new(key)).map(Some);
            }
            self.map.next_value::<IgnoredAny>()?;
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// `Serialize` and `Deserialize` in serde's internally tagged form (the variant's name in the
/// `tag` field) for an enum that derives both under `#[serde(remote = "Self")]`: serde's
/// externally tagged form, as inherent functions, which `TagFirst` and `from_slice_with` turn
/// into the tagged one. Given `Other`, that `#[serde(skip)]` newtype variant holds, and is
/// written as, any object that is none of the others (`deserialize_or_other`).
macro_rules! internally_tagged {
    ($enum:ident, $tag:literal) => {
        impl $enum {
            /// The JSON `json` holds, read by its tag straight from the bytes: the `Deserialize`
            /// impl, which reads it inside larger JSON too, first copies it out.
            pub fn from_json(json: &[u8]) -> serde_json::Result<Self> {
                $crate::tagged::from_slice_with(json, $tag, |tagged| $enum::deserialize(tagged))
            }
        }
        impl serde::Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $enum::serialize(self, $crate::tagged::TagFirst { tag: $tag, serializer })
            }
        }
        impl<'de> serde::Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
                $enum::from_json(raw.get().as_bytes()).map_err(serde::de::Error::custom)
            }
        }
    };
    ($enum:ident, $tag:literal, $other:ident) => {
        impl serde::Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $enum::$other(object) => serde::Serialize::serialize(object, serializer),
                    tagged => $enum::serialize(tagged, $crate::tagged::TagFirst { tag: $tag, serializer }),
                }
            }
        }
        impl<'de> serde::Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::tagged::deserialize_or_other(
                    deserializer,
                    |json| $crate::tagged::from_slice_with(json, $tag, |tagged| $enum::deserialize(tagged)),
                    $enum::$other,
                )
            }
        }
    };
}
pub(crate) use internally_tagged;

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Map, Value};

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Event {
        Delta {
            index: usize,
            text: String,
        },
        Open(Map<String, Value>),
        Stop,
        #[serde(other)]
        Unknown,
    }

    fn read(json: &str) -> serde_json::Result<Event> {
        super::from_slice(json.as_bytes(), "type")
    }

    #[test]
    fn the_tag_names_the_variant_wherever_it_is_and_is_not_part_of_it() {
        let delta = Event::Delta { index: 2, text: "hi".into() };
        assert_eq!(read(r#"{"type":"delta","index":2,"text":"hi"}"#).unwrap(), delta);
        assert_eq!(read(r#"{"index":2,"text":"hi","type":"delta"}"#).unwrap(), delta);
        assert_eq!(read(r#"{"index":2,"type":"d\u0065lta","text":"hi"}"#).unwrap(), delta);
        let open = read(r#"{"a":1,"type":"open","b":[true]}"#).unwrap();
        assert_eq!(open, Event::Open(serde_json::from_slice(br#"{"a":1,"b":[true]}"#).unwrap()));
        assert_eq!(read(r#"{"type":"stop","extra":{"x":[1,2]}}"#).unwrap(), Event::Stop);
        assert_eq!(read(r#"{"type":"added_later","index":"x"}"#).unwrap(), Event::Unknown);
    }

    #[test]
    fn objects_that_are_not_a_variant_are_refused_with_what_is_wrong() {
        let cases = [
            (r#"{"index":2}"#, "missing field `type`"),
            (r#"{"type":3}"#, "invalid type: integer `3`, expected a string"),
            (r#"{"type":"delta","index":-1,"text":"hi"}"#, "invalid value: integer `-1`"),
            (r#"{"type":"delta","index":1}"#, "missing field `text`"),
            (r#"{"type":"delta","index":1,"text":"hi"} {}"#, "trailing characters"),
            (r#"{"type":"delta","index":1,"text":"hi""#, "EOF while parsing"),
            ("[]", "expected an object with a `type` field"),
            ("", "EOF while parsing"),
        ];
        for (json, expected) in cases {
            let error = read(json).expect_err(json).to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    /// An enum as the dialects' wire types declare one: tagged both ways, with a fallback.
    #[derive(Debug, PartialEq, Deserialize, serde::Serialize)]
    #[serde(remote = "Self", rename_all = "snake_case")]
    enum Block {
        Text {
            text: String,
            #[serde(flatten)]
            extra: Map<String, Value>,
        },
        Image {
            url: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            detail: Option<String>,
        },
        Break,
        #[serde(skip)]
        Other(Map<String, Value>),
    }
    super::internally_tagged!(Block, "type", Other);

    #[derive(Debug, PartialEq, Deserialize, serde::Serialize)]
    #[serde(remote = "Self")]
    enum Pair {
        Both(u8, u8),
    }
    super::internally_tagged!(Pair, "kind");

    fn object(json: &str) -> Map<String, Value> {
        serde_json::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn variants_are_written_with_their_tag_first_and_others_as_they_are() {
        let cases = [
            (
                Block::Text { text: "hi".into(), extra: object(r#"{"cache":{"ttl":1}}"#) },
                r#"{"type":"text","text":"hi","cache":{"ttl":1}}"#,
            ),
            (Block::Image { url: "u".into(), detail: None }, r#"{"type":"image","url":"u"}"#),
            (Block::Break, r#"{"type":"break"}"#),
            (Block::Other(object(r#"{"id":7,"type":"audio"}"#)), r#"{"id":7,"type":"audio"}"#),
        ];
        for (block, json) in cases {
            assert_eq!(serde_json::to_string(&block).unwrap(), json);
            let read: Vec<Block> = serde_json::from_slice(format!("[{json}]").as_bytes()).unwrap();
            assert_eq!(read, [block], "{json}");
        }
        let error = serde_json::to_string(&Pair::Both(1, 2)).unwrap_err().to_string();
        assert!(error.contains("only unit variants, and variants holding an object"), "{error}");
    }

    #[test]
    fn objects_that_are_no_variant_are_kept_whole_and_what_is_no_object_is_refused() {
        let kept = [r#"{"type":"video","url":"u"}"#, r#"{"url":"u","type":"image","detail":3}"#, r#"{"text":"hi"}"#];
        for json in kept {
            let read: Block = serde_json::from_slice(json.as_bytes()).unwrap();
            assert_eq!(read, Block::Other(object(json)), "{json}");
        }
        for json in ["[]", r#""text""#, "null"] {
            assert!(serde_json::from_slice::<Block>(json.as_bytes()).is_err(), "{json}");
        }
        let error = serde_json::from_slice::<Vec<Pair>>(br#"[{"kind":"Both"}]"#).unwrap_err().to_string();
        assert!(error.contains("a tagged object is not a tuple"), "{error}");
    }

    #[test]
    fn a_second_tag_field_is_left_out_of_the_variant_too() {
        let open = read(r#"{"type":"open","type":"stop","a":1}"#).unwrap();
        assert_eq!(open, Event::Open(serde_json::from_slice(br#"{"a":1}"#).unwrap()));
    }
}
