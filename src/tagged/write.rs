//! Writing an externally tagged enum in the internally tagged form: `{"type": "text", …}`.

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStructVariant, Serializer};

/// The serializer an enum's derived, externally tagged `serialize` is given so that it writes its
/// variants as objects with the variant's name in the `tag` field, first: serde's
/// `#[serde(tag = …)]` form. A unit variant is `{tag: name}`; a struct variant, and the newtype
/// variant holding a map that serde makes of a struct variant with a flattened field, is the
/// object with `tag: name` in front of its fields.
pub struct TagFirst<S> {
    pub tag: &'static str,
    pub serializer: S,
}

/// The inside of a newtype variant: a map, to be written with the tag in front.
struct TagInside<S> {
    tag: &'static str,
    variant: &'static str,
    serializer: S,
}

/// An object whose tag has been written: its fields are written as they come.
pub struct Fields<M>(M);

fn tagged_object<S: Serializer>(
    serializer: S,
    tag: &'static str,
    variant: &'static str,
    fields: Option<usize>,
) -> Result<Fields<S::SerializeMap>, S::Error> {
    let mut object = serializer.serialize_map(fields.map(|fields| fields + 1))?;
    object.serialize_entry(tag, variant)?;
    Ok(Fields(object))
}

fn refused<T, E: ser::Error>() -> Result<T, E> {
    Err(E::custom("only unit variants, and variants holding an object, are written with a tag"))
}

impl<M: SerializeMap> SerializeStructVariant for Fields<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), M::Error> {
        self.0.serialize_entry(key, value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

impl<M: SerializeMap> SerializeMap for Fields<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
        self.0.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        self.0.serialize_value(value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

/// The `Serializer` methods of what is not an object: refused.
macro_rules! refuse_what_is_not_an_object {
    () => {
        fn serialize_bool(self, _: bool) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_i8(self, _: i8) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_i16(self, _: i16) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_i32(self, _: i32) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_i64(self, _: i64) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_u8(self, _: u8) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_u16(self, _: u16) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_u32(self, _: u32) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_u64(self, _: u64) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_f32(self, _: f32) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_f64(self, _: f64) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_char(self, _: char) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_str(self, _: &str) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_none(self) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_unit(self) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<S::Ok, S::Error> {
            refused()
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
            refused()
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
            refused()
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
            refused()
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, S::Error> {
            refused()
        }
    };
}

impl<S: Serializer> Serializer for TagFirst<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = Fields<S::SerializeMap>;

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<S::Ok, S::Error> {
        tagged_object(self.serializer, self.tag, variant, Some(0))?.0.end()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        fields: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        tagged_object(self.serializer, self.tag, variant, Some(fields))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(TagInside { tag: self.tag, variant, serializer: self.serializer })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        refused()
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, S::Error> {
        refused()
    }

    refuse_what_is_not_an_object!();
}

impl<S: Serializer> Serializer for TagInside<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Fields<S::SerializeMap>;
    type SerializeStruct = Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_map(self, fields: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        tagged_object(self.serializer, self.tag, self.variant, fields)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, S::Error> {
        refused()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<S::Ok, S::Error> {
        refused()
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        refused()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        refused()
    }

    refuse_what_is_not_an_object!();
}
