//! The client's request as the shell reads it: the runtime's own request, with its method, URL and
//! headers read from it once. A `worker::Request` would read its `cf` object and more, each through
//! a call into JavaScript, and every header lookup would be one more; here a lookup is a search.

use super::glue::{self, HeaderList};
use wasm_bindgen::JsValue;
use worker::Method;

pub struct Incoming {
    raw: web_sys::Request,
    pub method: Method,
    pub url: String,
    headers: HeaderList,
}

impl Incoming {
    pub fn read(raw: web_sys::Request) -> Self {
        let (method, url, headers) = glue::request_parts(&raw);
        Self { raw, method: Method::from(method), url, headers }
    }

    /// The URL's path, without its query.
    pub fn path(&self) -> &str {
        // A request's URL is absolute: after the scheme's `//` and the host comes the path.
        let after_scheme = self.url.find("://").map_or(0, |at| at + 3);
        let rest = &self.url[after_scheme..];
        let path = rest.find('/').map_or("/", |at| &rest[at..]);
        path.split(['?', '#']).next().unwrap_or("/")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name)
    }

    /// The body's owner, for `glue::read` and `glue::drain`.
    pub fn body_owner(&self) -> &JsValue {
        &self.raw
    }

    /// Aborted when the client leaves (the `enable_request_signal` compatibility flag).
    pub fn signal(&self) -> web_sys::AbortSignal {
        self.raw.signal()
    }
}
