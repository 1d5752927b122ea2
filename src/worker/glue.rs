//! The Rust side of `glue.js`: deadlines on fetches and body reads, and the streamed answer's
//! transcoder, which JavaScript calls once per upstream chunk and frees when the stream ends.

use crate::error::ProxyError;
use crate::transcode::Transcoder;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::ReadableStream;

#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = fetchWithin)]
    async fn fetch_within(request: &web_sys::Request, ms: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = readWithin)]
    async fn read_within(
        stream: Option<ReadableStream>,
        limit: f64,
        idle_ms: f64,
        length: f64,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = drain)]
    async fn drain_stream(stream: Option<ReadableStream>) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = responseOf)]
    fn response_of(bytes: &Uint8Array, status: u16) -> web_sys::Response;
    #[wasm_bindgen(js_name = readerOf)]
    fn reader_of(stream: &ReadableStream) -> JsValue;
    #[wasm_bindgen(catch, js_name = readChunk)]
    async fn read_chunk(reader: &JsValue, idle_ms: f64) -> Result<JsValue, JsValue>;
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
/// request is the runtime's own, never converted into a `worker::Request` (which would read its
/// `cf` object and copy its path).
pub async fn fetch(url: &str, init: &worker::RequestInit, ms: u64) -> Result<Option<worker::Response>, String> {
    let request = web_sys::Request::new_with_str_and_init(url, &init.into()).map_err(|e| error_text(&e))?;
    let answer = fetch_within(&request, ms as f64).await.map_err(|e| error_text(&e))?;
    Ok((!answer.is_null()).then(|| worker::Response::from(answer.unchecked_into::<web_sys::Response>())))
}

/// Why a body could not be read whole.
pub enum ReadFailure {
    /// No chunk came for the idle deadline.
    TimedOut,
    Failed(String),
}

/// A body's bytes: at most `limit` of them unless it holds more, in which case a few more than
/// `limit` come back and the rest is never read. `length` is what its `Content-Length` says.
pub async fn read(
    stream: Option<ReadableStream>,
    limit: usize,
    idle_ms: u64,
    length: Option<usize>,
) -> Result<Vec<u8>, ReadFailure> {
    read_bytes(stream, limit, idle_ms, length).await.map(|bytes| bytes.to_vec())
}

/// `read`, its bytes left in JavaScript: for an answer handed on as it came.
pub async fn read_bytes(
    stream: Option<ReadableStream>,
    limit: usize,
    idle_ms: u64,
    length: Option<usize>,
) -> Result<Uint8Array, ReadFailure> {
    let length = length.map_or(-1.0, |length| length as f64);
    match read_within(stream, limit as f64, idle_ms as f64, length).await {
        Ok(bytes) => Ok(bytes.unchecked_into::<Uint8Array>()),
        Err(error) if error_name(&error) == "TimeoutError" => Err(ReadFailure::TimedOut),
        Err(error) => Err(ReadFailure::Failed(error_text(&error))),
    }
}

/// A response of `bytes` with `status`.
pub fn response(bytes: &Uint8Array, status: u16) -> worker::Response {
    worker::Response::from(response_of(bytes, status))
}

/// Reads a body to its end without keeping it.
pub async fn drain(stream: Option<ReadableStream>) {
    let _ = drain_stream(stream).await;
}

/// An upstream body read chunk by chunk.
pub struct Body(JsValue);

impl Body {
    pub fn new(stream: &ReadableStream) -> Self {
        Self(reader_of(stream))
    }

    /// The next chunk, or None at the end of the body.
    pub async fn chunk(&self, idle_ms: u64) -> Result<Option<Vec<u8>>, ReadFailure> {
        match read_chunk(&self.0, idle_ms as f64).await {
            Ok(chunk) if chunk.is_null() => Ok(None),
            Ok(chunk) => Ok(Some(chunk.unchecked_into::<Uint8Array>().to_vec())),
            Err(error) if error_name(&error) == "TimeoutError" => Err(ReadFailure::TimedOut),
            Err(error) => Err(ReadFailure::Failed(error_text(&error))),
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
        let ended = js_sys::Promise::new(&mut |resolve, _reject| on_end = Some(resolve));
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
pub struct StreamEnd(js_sys::Promise);

impl StreamEnd {
    pub async fn summary(self) -> StreamSummary {
        let summary = wasm_bindgen_futures::JsFuture::from(self.0).await.ok().and_then(|value| value.as_string());
        summary.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
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
