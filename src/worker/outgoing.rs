//! The response for the client, kept in Rust until it goes: its status, headers and body become
//! the runtime's `Response` in one call into JavaScript (`respond` in `glue.js`), where a
//! `worker::Response` makes one call per header set and builds a `Headers` of its own.

use super::glue;
use crate::error::ProxyError;
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use web_sys::ReadableStream;

pub struct Outgoing {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// Bytes already in JavaScript (an answer handed on as it came).
    Js(Uint8Array),
    Stream(ReadableStream),
}

impl Outgoing {
    fn new(status: u16, content_type: Option<&str>, body: Body) -> Self {
        let headers = content_type.map(|value| ("content-type", value.to_string())).into_iter().collect();
        Self { status, headers, body }
    }

    pub fn empty(status: u16) -> Self {
        Self::new(status, None, Body::Empty)
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self::new(status, Some(content_type), Body::Bytes(body))
    }

    pub fn js_bytes(status: u16, content_type: &str, body: Uint8Array) -> Self {
        Self::new(status, Some(content_type), Body::Js(body))
    }

    pub fn stream(content_type: &str, body: ReadableStream) -> Self {
        Self::new(200, Some(content_type), Body::Stream(body))
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reply with the header `name` set to `value`, in place of any it had.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.headers.iter_mut().find(|(have, _)| have.eq_ignore_ascii_case(name)) {
            Some(header) => header.1 = value,
            None => self.headers.push((name, value)),
        }
        self
    }

    pub fn with_all<'a>(self, pairs: impl IntoIterator<Item = &'a (&'static str, String)>) -> Self {
        pairs.into_iter().fold(self, |reply, (name, value)| reply.with(name, value.as_str()))
    }

    /// A streamed body is cancelled: the reply will not be sent.
    pub fn cancel(self) {
        if let Body::Stream(stream) = self.body {
            let _ = stream.cancel();
        }
    }

    /// The runtime's response. A header value that no response may carry is an error.
    pub fn into_response(self) -> Result<web_sys::Response, ProxyError> {
        let lines = glue::header_lines(self.headers.iter().map(|(name, value)| (*name, value.as_str())))
            .map_err(|name| ProxyError::internal(format!("the header `{name}` has a value that is not allowed")))?;
        let body = match self.body {
            Body::Empty => JsValue::NULL,
            Body::Bytes(bytes) => Uint8Array::from(bytes.as_slice()).into(),
            Body::Js(bytes) => bytes.into(),
            Body::Stream(stream) => stream.into(),
        };
        glue::respond(&body, self.status, &lines)
    }
}
