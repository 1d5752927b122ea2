//! The Rust side of `glue.js`: deadlines on fetches and body reads, and the streamed answer's
//! transcoder, which JavaScript calls once per upstream chunk and frees when the stream ends.

use super::task::awaited;
use crate::error::ProxyError;
use crate::transcode::Transcoder;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::ReadableStream;

#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = fetchWithin)]
    fn fetch_within(request: &web_sys::Request, ms: f64) -> Promise;
    #[wasm_bindgen(js_name = exchangeWithin)]
    fn exchange_within(
        url: &str,
        lines: &str,
        body: &Uint8Array,
        names: &str,
        first_byte_ms: f64,
        idle_ms: f64,
        limit: f64,
        error_limit: f64,
        stream: bool,
    ) -> Promise;
    /// What `exchangeWithin` resolves to.
    type JsExchanged;
    #[wasm_bindgen(method, getter)]
    fn response(this: &JsExchanged) -> web_sys::Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &JsExchanged) -> u16;
    #[wasm_bindgen(method, getter)]
    fn headers(this: &JsExchanged) -> String;
    #[wasm_bindgen(method, getter)]
    fn bytes(this: &JsExchanged) -> Option<Uint8Array>;
    #[wasm_bindgen(method, getter)]
    fn error(this: &JsExchanged) -> JsValue;
    #[wasm_bindgen(js_name = readWithin)]
    fn read_within(owner: &JsValue, limit: f64, idle_ms: f64, length: f64) -> Promise;
    #[wasm_bindgen(js_name = drain)]
    fn drain_body(owner: &JsValue) -> Promise;
    pub fn sleep(ms: f64) -> Promise;
    #[wasm_bindgen(js_name = requestLines)]
    fn request_lines(request: &web_sys::Request) -> String;
    #[wasm_bindgen(catch, js_name = respond)]
    fn respond_with(body: &JsValue, status: u16, lines: &str) -> Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(js_name = readerOf)]
    fn reader_of(stream: &ReadableStream) -> JsValue;
    #[wasm_bindgen(js_name = readChunk)]
    fn read_chunk(reader: &JsValue, idle_ms: f64) -> Promise;
    #[wasm_bindgen(js_name = release)]
    fn release_reader(reader: &JsValue);
    #[wasm_bindgen(js_name = transcoded)]
    fn transcoded_stream(
        reader: &JsValue,
        transcoder: StreamTranscoder,
        idle_ms: f64,
        first: &[u8],
        on_end: &js_sys::Function,
        client_signal: Option<&web_sys::AbortSignal>,
    ) -> ReadableStream;
}

/// Sends a POST of `init` to `url`; None when its response headers took longer than `ms`. The
/// request and the response are the runtime's own, never converted into `worker` ones (which
/// would read their `cf` objects, and more, through a call into JavaScript each).
pub async fn fetch(url: &str, init: &worker::RequestInit, ms: u64) -> Result<Option<web_sys::Response>, String> {
    let request = web_sys::Request::new_with_str_and_init(url, &init.into()).map_err(|e| error_text(&e))?;
    let answer = awaited(fetch_within(&request, ms as f64)).await.map_err(|e| error_text(&e))?;
    Ok((!answer.is_null()).then(|| answer.unchecked_into::<web_sys::Response>()))
}

/// The deadlines and sizes an upstream attempt's exchange is read within.
pub struct Bounds {
    pub first_byte_ms: u64,
    pub idle_ms: u64,
    /// The most of a successful whole answer that is read.
    pub limit: usize,
    /// The most of an error answer that is read.
    pub error_limit: usize,
}

/// An upstream attempt's response, the headers asked for, and its body when it was read whole.
pub struct Exchanged {
    pub response: web_sys::Response,
    pub status: u16,
    pub headers: HeaderList,
    /// None for a redirect and for the success of a stream, whose body is left to read.
    pub body: Option<Result<Uint8Array, ReadFailure>>,
}

/// Sends a POST of `body` to `url` with the headers of `lines` (see `header_lines`) and, in the
/// same call into JavaScript, reads its whole body unless it is a redirect or `stream` succeeded
/// (see `exchangeWithin`); None when its response headers took longer than `bounds.first_byte_ms`.
/// Of the answer's headers, those of `names` (one per line) are read. The response is the
/// runtime's own.
pub async fn exchange(
    url: &str,
    lines: &str,
    body: &[u8],
    names: &str,
    bounds: &Bounds,
    stream: bool,
) -> Result<Option<Exchanged>, String> {
    let exchanged = awaited(exchange_within(
        url,
        lines,
        &Uint8Array::from(body),
        names,
        bounds.first_byte_ms as f64,
        bounds.idle_ms as f64,
        bounds.limit as f64,
        bounds.error_limit as f64,
        stream,
    ))
    .await
    .map_err(|e| error_text(&e))?;
    if exchanged.is_null() {
        return Ok(None);
    }
    let exchanged = exchanged.unchecked_into::<JsExchanged>();
    let body = match exchanged.bytes() {
        Some(bytes) => Some(Ok(bytes)),
        None => Some(exchanged.error()).filter(|error| !error.is_null()).map(|error| Err(read_failure(&error))),
    };
    Ok(Some(Exchanged {
        response: exchanged.response(),
        status: exchanged.status(),
        headers: HeaderList::parse(exchanged.headers(), 0),
        body,
    }))
}

/// Headers as one string for `glue.js` (`headersOf` reads it): every name and every value followed
/// by a line feed. A value is trimmed of the whitespace the runtime would trim; a header whose name
/// or value still holds a line break or a NUL, which no header may hold and which would shift every
/// pair after it, is refused with its name.
pub fn header_lines<'a, I>(headers: I) -> Result<String, &'a str>
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    let breaks_line = |text: &str| text.bytes().any(|byte| matches!(byte, b'\n' | b'\r' | 0));
    let size = headers.clone().into_iter().map(|(name, value)| name.len() + value.len() + 2).sum();
    let mut lines = String::with_capacity(size);
    for (name, value) in headers {
        let value = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if breaks_line(name) || breaks_line(value) {
            return Err(name);
        }
        lines.extend([name, "\n", value, "\n"]);
    }
    Ok(lines)
}

/// The method, the URL and the headers of `request`, read from the runtime in one call.
pub fn request_parts(request: &web_sys::Request) -> (String, String, HeaderList) {
    let lines = request_lines(request);
    let method_end = lines.find('\n').unwrap_or(lines.len());
    let url_start = (method_end + 1).min(lines.len());
    let url_end = lines[url_start..].find('\n').map_or(lines.len(), |at| url_start + at);
    let method = lines[..method_end].to_string();
    let url = lines[url_start..url_end].to_string();
    let start = (url_end + 1).min(lines.len());
    (method, url, HeaderList::parse(lines, start))
}

/// Headers as the runtime gave them, in one string (see `headerLines`) with where each name and
/// value lies in it: one allocation for the text, one for the index, however many headers.
pub struct HeaderList {
    text: String,
    /// Where each header's name begins, its value begins and its value ends.
    index: Vec<(usize, usize, usize)>,
}

impl HeaderList {
    /// The headers of `text` from `start` on, as `headerLines` writes them.
    fn parse(text: String, start: usize) -> Self {
        let mut index = Vec::new();
        let mut at = start;
        while let Some(name_end) = text[at..].find('\n').map(|end| at + end) {
            let Some(value_end) = text[name_end + 1..].find('\n').map(|end| name_end + 1 + end) else {
                break;
            };
            index.push((at, name_end + 1, value_end));
            at = value_end + 1;
        }
        Self { text, index }
    }

    /// The value of the header `name` (any case).
    pub fn get(&self, name: &str) -> Option<String> {
        self.index
            .iter()
            .find(|&&(start, value_start, _)| {
                let have = &self.text[start..value_start - 1];
                have.len() == name.len() && have.eq_ignore_ascii_case(name)
            })
            .map(|&(_, value_start, value_end)| self.text[value_start..value_end].to_string())
    }
}

/// Why a body could not be read whole.
pub enum ReadFailure {
    /// No chunk came for the idle deadline.
    TimedOut,
    Failed(String),
}

/// The bytes of the body of `owner` (a `web_sys::Request` or `web_sys::Response`): at most `limit`
/// of them unless it holds more, in which case a few more than `limit` come back and the rest is
/// never read. `length` is what its `Content-Length` says.
pub async fn read(owner: &JsValue, limit: usize, idle_ms: u64, length: Option<usize>) -> Result<Vec<u8>, ReadFailure> {
    let length = length.map_or(-1.0, |length| length as f64);
    match awaited(read_within(owner, limit as f64, idle_ms as f64, length)).await {
        Ok(bytes) => Ok(bytes.unchecked_into::<Uint8Array>().to_vec()),
        Err(error) => Err(read_failure(&error)),
    }
}

/// Why a read of `readWithin` or `readChunk` failed, from the error it rejected with.
fn read_failure(error: &JsValue) -> ReadFailure {
    match error_name(error).as_str() {
        "TimeoutError" => ReadFailure::TimedOut,
        _ => ReadFailure::Failed(error_text(error)),
    }
}

/// The response of `body` (bytes, a stream or null) with `status` and the headers in `lines`
/// (see `respond`).
pub fn respond(body: &JsValue, status: u16, lines: &str) -> Result<web_sys::Response, ProxyError> {
    respond_with(body, status, lines)
        .map_err(|error| ProxyError::internal(format!("could not build the response: {}", error_text(&error))))
}

/// Reads the body of `owner` to its end without keeping it.
pub async fn drain(owner: &JsValue) {
    let _ = awaited(drain_body(owner)).await;
}

/// An upstream body read chunk by chunk.
pub struct Body(JsValue);

impl Body {
    pub fn new(stream: &ReadableStream) -> Self {
        Self(reader_of(stream))
    }

    /// The next chunk, or None at the end of the body.
    pub async fn chunk(&self, idle_ms: u64) -> Result<Option<Vec<u8>>, ReadFailure> {
        match awaited(read_chunk(&self.0, idle_ms as f64)).await {
            Ok(chunk) if chunk.is_null() => Ok(None),
            Ok(chunk) => Ok(Some(chunk.unchecked_into::<Uint8Array>().to_vec())),
            Err(error) => Err(read_failure(&error)),
        }
    }

    /// The rest of the body is not wanted.
    pub fn release(self) {
        release_reader(&self.0);
    }

    /// The rest of the body as the client's stream, translated as it is pulled, after `first`
    /// (see `glue.js`); and what the stream used, once it has ended, however it ended (`client`
    /// is aborted when the client leaves).
    pub fn transcoded(
        self,
        transcoder: Transcoder,
        idle_ms: u64,
        first: &[u8],
        client: Option<&web_sys::AbortSignal>,
    ) -> (ReadableStream, StreamEnd) {
        let transcoder = StreamTranscoder { transcoder, idle_seconds: idle_ms / 1000 };
        let mut on_end = None;
        let ended = Promise::new(&mut |resolve, _reject| on_end = Some(resolve));
        let on_end = on_end.expect("a Promise runs its executor at once");
        (transcoded_stream(&self.0, transcoder, idle_ms as f64, first, &on_end, client), StreamEnd(ended))
    }
}

/// What a stream used and how it ended, as its transcoder summed it up.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StreamSummary {
    pub usage: Option<crate::ir::Usage>,
    /// The usage is the stream's own report, not an estimate.
    pub reported: bool,
    pub error: Option<String>,
}

/// The end of a client's stream, to wait for.
pub struct StreamEnd(Promise);

impl StreamEnd {
    pub async fn summary(self) -> StreamSummary {
        let summary = awaited(self.0).await.ok().and_then(|value| value.as_string());
        summary.and_then(|text| serde_json::from_slice(text.as_bytes()).ok()).unwrap_or_default()
    }
}

fn error_name(error: &JsValue) -> String {
    js_sys::Reflect::get(error, &"name".into()).ok().and_then(|name| name.as_string()).unwrap_or_default()
}

fn error_text(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error.as_string().unwrap_or_else(|| "unknown error".to_string()),
    }
}

/// A stream's transcoder as JavaScript holds it.
#[wasm_bindgen]
pub struct StreamTranscoder {
    transcoder: Transcoder,
    idle_seconds: u64,
}

#[wasm_bindgen]
impl StreamTranscoder {
    /// Translates an upstream chunk; the bytes for the client.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.transcoder.push(chunk)
    }

    /// The upstream closed its end.
    pub fn end(&mut self) -> Vec<u8> {
        self.transcoder.end()
    }

    /// Reading the upstream failed.
    pub fn fail(&mut self, reason: &str) -> Vec<u8> {
        self.transcoder.fail(&ProxyError::bad_gateway(format!("reading the upstream failed: {reason}")))
    }

    /// The upstream sent nothing for the idle deadline.
    #[wasm_bindgen(js_name = timeOut)]
    pub fn time_out(&mut self) -> Vec<u8> {
        let message = format!("the upstream sent nothing for {} s (LLMPROXY_IDLE_TIMEOUT_SECONDS)", self.idle_seconds);
        self.transcoder.fail(&ProxyError::gateway_timeout(message))
    }

    /// Whether the stream's last event (or an error event) was written.
    #[wasm_bindgen(getter)]
    pub fn finished(&self) -> bool {
        self.transcoder.is_finished()
    }

    /// What the stream used and how it ended (`StreamSummary`, as JSON); `client_gone`: the
    /// client cancelled it.
    pub fn summary(&self, client_gone: bool) -> String {
        let counted = self.transcoder.usage();
        let error = match self.transcoder.failure() {
            None if client_gone && !self.transcoder.is_finished() => Some("client gone".to_string()),
            failure => failure,
        };
        serde_json::json!({
            "usage": counted.map(|c| c.usage),
            "reported": counted.is_some_and(|c| c.reported),
            "error": error,
        })
        .to_string()
    }
}
