//! A JSON object body edited field by field: its top-level fields read as the JSON text they came
//! in, a few of them read further, replaced or removed, and the object written again (its fields
//! in the order of their names). Every other field's value is written as the client wrote it, its
//! escapes, numbers and members' order too, however large, and is never read.

use crate::error::ProxyError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A JSON object body's fields, unparsed.
pub type Fields = BTreeMap<String, Box<RawValue>>;

/// A JSON object body with `edit` made to its fields.
pub fn edit(body: &[u8], edit: impl FnOnce(&mut Fields) -> Result<(), ProxyError>) -> Result<Vec<u8>, ProxyError> {
    let mut fields = read(body)?;
    edit(&mut fields)?;
    write(&fields)
}

/// The fields of a JSON object body.
pub fn read(body: &[u8]) -> Result<Fields, ProxyError> {
    serde_json::from_slice(body).map_err(|e| ProxyError::invalid(format!("the request body is not a JSON object: {e}")))
}

/// The JSON object body of `fields`.
pub fn write(fields: &Fields) -> Result<Vec<u8>, ProxyError> {
    serde_json::to_vec(fields).map_err(|e| ProxyError::internal(format!("could not write JSON: {e}")))
}

/// An unparsed value read as a `T`; a value of the wrong shape is the client's error.
pub fn parse<'de, T: Deserialize<'de>>(raw: &'de RawValue) -> Result<T, ProxyError> {
    read_as(raw, |e| format!("the request does not match the API: {e}"))
}

/// A field read as a `T`, or None when the body has none.
pub fn field<T: DeserializeOwned>(fields: &Fields, name: &str) -> Result<Option<T>, ProxyError> {
    fields.get(name).map(|raw| read_as(raw, |e| format!("`{name}` does not match the API: {e}"))).transpose()
}

/// An unparsed value read as a `T`; a value of the wrong shape is the client's error, which
/// `told` words.
fn read_as<'de, T: Deserialize<'de>>(
    raw: &'de RawValue,
    told: impl FnOnce(serde_json::Error) -> String,
) -> Result<T, ProxyError> {
    serde_json::from_slice(raw.get().as_bytes()).map_err(|e| ProxyError::invalid(told(e)))
}

/// A value as unparsed JSON again.
pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, ProxyError> {
    serde_json::value::to_raw_value(value).map_err(|e| ProxyError::internal(format!("could not write JSON: {e}")))
}
