//! The one interface every dialect implements (`src/dialect/<name>/`): where clients call it, how
//! its requests, answers, streams and errors map to and from the IR, and how its streams end. The
//! orchestrator and the shell know dialects only through it; `dialect::Dialect` names them.

use crate::config::Backend;
use crate::error::ProxyError;
use crate::ir;
pub use crate::peek::RequestFields;
use crate::sse;
use crate::system_prompt::Rewriter;
use serde_json::Value;

#[cfg(test)]
pub mod test_support;

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An answer (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, Gemini's
    /// `:generateContent` and `:streamGenerateContent`).
    Generate,
    /// The prompt's token count (`/v1/messages/count_tokens`, Gemini's `:countTokens`).
    CountTokens,
}

/// A `POST` a dialect serves, read from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: Operation,
    /// The model named in the URL (Gemini and Vertex paths), which the body then does not name.
    pub model: Option<String>,
    /// Whether the URL asks for a stream (Gemini and Vertex paths).
    pub stream: Option<bool>,
    /// How the client's stream is framed.
    pub framing: Framing,
}

impl Call {
    pub fn of(operation: Operation) -> Self {
        Self { operation, model: None, stream: None, framing: Framing::Sse }
    }
}

/// How a stream's events are framed on the wire. Decoders and encoders see server-sent events
/// whatever the framing: the transcoder turns the others into SSE and back (see
/// `transcode::framing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Server-sent events.
    #[default]
    Sse,
    /// AWS event-stream messages of type `chunk`, each holding one event's JSON base64-encoded
    /// in `bytes` (Bedrock's `InvokeModelWithResponseStream`). As SSE, the event is named by its
    /// JSON's `type`.
    EventStreamChunks,
    /// AWS event-stream messages whose `:event-type` names the event and whose payload is its
    /// JSON (Bedrock's `ConverseStream`). As SSE, the event is named by its `:event-type`.
    EventStreamEvents,
}

impl Framing {
    /// The content type of a stream so framed.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Sse => "text/event-stream; charset=utf-8",
            Self::EventStreamChunks | Self::EventStreamEvents => "application/vnd.amazon.eventstream",
        }
    }
}

/// How strongly a request that reached no endpoint of a dialect still belongs to it, for the
/// shape of a model list or an error: by its path, by a header only its clients send, or for want
/// of any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Claim {
    Fallback,
    Header,
    Path,
}

/// What translating for one client needs of its request beyond the IR.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientContext {
    /// Unix seconds, for ids and `created` stamps.
    pub now: u64,
    /// A Chat client asked for the usage chunk at the end of its stream.
    pub include_usage: bool,
    /// A Responses client's `namespace` tools, whose calls are given back under their namespace.
    pub namespaces: Vec<String>,
}

impl ClientContext {
    /// The context of a request whose answer remembers nothing of it but the time.
    pub fn at(now: u64) -> Self {
        Self { now, ..Self::default() }
    }
}

/// How far a stream event takes the answer towards its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndMark {
    /// The answer is whole, but events may follow (a Chat usage chunk, `[DONE]`).
    Complete,
    /// Nothing follows: the client's stream can be closed.
    Last,
}

/// Turns a backend dialect's stream events into IR events.
pub trait StreamDecoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<ir::StreamEvent>) -> Result<(), ProxyError>;
    /// Whether the stream's end marker has come.
    fn is_done(&self) -> bool;
    /// The upstream closed the stream: fails unless the answer was complete.
    fn end(&mut self, _out: &mut Vec<ir::StreamEvent>) -> Result<(), ProxyError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(truncated())
        }
    }
}

/// Writes IR events as a client dialect's stream.
pub trait StreamEncoder {
    fn event(&mut self, event: ir::StreamEvent, out: &mut Vec<u8>);
    /// Ends the stream with an error the client's SDK raises.
    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>);
}

/// A dialect, as the rest of the proxy knows it.
pub trait Codec: Sync {
    /// The dialect's name in usage records: `openai-chat`, `anthropic`, ….
    fn name(&self) -> &'static str;

    // --- Where its clients call it -----------------------------------------------------------

    /// The endpoint a `POST` to `path` calls, if it is one of this dialect's.
    fn endpoint(&self, path: &str) -> Option<Call>;
    /// Whether a request that reached no endpoint (a model list, an error) is this dialect's.
    fn claim(&self, path: &str, header: &dyn Fn(&str) -> Option<String>) -> Option<Claim>;
    /// Whether `path` lists models in this dialect's shape when it is claimed (`GET /v1/models`).
    fn lists_models(&self, path: &str) -> bool;

    // --- As the client's dialect -------------------------------------------------------------

    /// A client's request, read into the IR; errors name the field at fault.
    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError>;
    /// A client's request body with its system prompt rewritten in the dialect's own shape (its
    /// instructions found where the dialect keeps them), every other field as it came: what is
    /// then passed through or translated.
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError>;
    /// The top-level fields of a client's request that `client_context` reads: kept by the one
    /// pass over the body that also finds its model (see `peek`).
    fn context_fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// What of the client's request its answer must remember (see `ClientContext`), from the
    /// fields of `context_fields` its body has.
    fn client_context(&self, _fields: &RequestFields, now: u64) -> ClientContext {
        ClientContext::at(now)
    }
    /// A client's request read into the IR at once, with what its answer must remember of it: in
    /// place of the peek's pass and `client_context`, for a request that every target translates.
    /// Only a dialect whose typed request checks what the peek checks (a model and a stream flag,
    /// each named once and of its type) can stand in, reading its `context_fields` here too; None
    /// for any other, whose requests the peek reads first.
    fn request_to_ir_in_context(
        &self,
        _body: &[u8],
        _now: u64,
    ) -> Option<Result<(ir::Request, ClientContext), ProxyError>> {
        None
    }
    /// A whole answer for the client.
    fn response_from_ir(&self, response: ir::Response, client: &ClientContext) -> Result<Vec<u8>, ProxyError>;
    /// The stream writer for the client.
    fn encoder(&self, client: &ClientContext) -> Box<dyn StreamEncoder>;
    /// An error as this dialect's error body.
    fn error_body(&self, error: &ProxyError) -> Value;
    /// An error as the stream event its SDKs raise on, outside a translated stream.
    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>);
    /// The model list (`(id, owner)` pairs) in this dialect's shape, or None when its clients
    /// list models through another dialect's endpoint or none of the proxy's.
    fn models_list(&self, _models: &[(&str, &str)]) -> Option<Value> {
        None
    }
    /// A token count answer, or None when the dialect has no count endpoint.
    fn token_count(&self, _tokens: u64) -> Option<Value> {
        None
    }
    /// An answer id for answers the proxy makes itself.
    fn answer_id(&self, now: u64) -> String;

    // --- As the backend's dialect ------------------------------------------------------------

    /// The IR as this dialect's request body, with the fields it had no place for.
    fn request_from_ir(&self, request: ir::Request, backend: &Backend) -> Result<(Vec<u8>, Vec<String>), ProxyError>;
    /// A whole upstream answer, read into the IR.
    fn response_to_ir(&self, body: &[u8]) -> Result<ir::Response, ProxyError>;
    /// The stream reader for the upstream.
    fn decoder(&self) -> Box<dyn StreamDecoder>;
    /// What a stream event says of the stream's end, for streams passed through unread.
    fn end_mark(&self, event: &sse::Event) -> Option<EndMark>;

    // --- Metering a stream passed through --------------------------------------------------

    /// A same-dialect streamed request's body, changed so that its stream reports usage, when it
    /// would not without being asked (Chat's `stream_options.include_usage`); None when it will,
    /// or when `backend` refuses being asked (then the usage is what the stream says, or an
    /// estimate).
    fn with_usage_reported(&self, _body: &[u8], _backend: &Backend) -> Result<Option<Vec<u8>>, ProxyError> {
        Ok(None)
    }
    /// Whether a stream event only reports the usage `with_usage_reported` asked for, which the
    /// client did not.
    fn is_unasked_usage(&self, _event: &sse::Event) -> bool {
        false
    }
}

/// A client body that does not match the dialect's API.
pub fn invalid_request(e: serde_json::Error) -> ProxyError {
    ProxyError::invalid(format!("the request does not match the API: {e}"))
}

/// A client body read as its dialect's typed request `T`, then into the IR by `to_ir`, with what
/// `context` takes of it for the answer: `Codec::request_to_ir_in_context` of the dialects whose
/// typed request can stand in for the peek.
pub fn read_in_context<T: serde::de::DeserializeOwned>(
    body: &[u8],
    context: impl FnOnce(&T) -> ClientContext,
    to_ir: impl FnOnce(T) -> Result<ir::Request, ProxyError>,
) -> Result<(ir::Request, ClientContext), ProxyError> {
    let request: T = serde_json::from_slice(body).map_err(invalid_request)?;
    let context = context(&request);
    Ok((to_ir(request)?, context))
}

/// An upstream answer that does not match the dialect's API.
pub fn unreadable_answer(e: serde_json::Error) -> ProxyError {
    ProxyError::bad_gateway(format!("the upstream answer is unreadable: {e}"))
}

/// A value written as JSON bytes; failing only for values no dialect type can hold.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ProxyError> {
    serde_json::to_vec(value).map_err(|e| ProxyError::internal(format!("could not write JSON: {e}")))
}

/// One stream event's JSON payload; unreadable JSON is the upstream's failure. Read as bytes, as
/// every JSON in the worker is, so that each type has one deserializer in the wasm module.
pub fn parse_event<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, ProxyError> {
    serde_json::from_slice(data.as_bytes()).map_err(unreadable_event)
}

/// A stream event's JSON that does not match the dialect's API.
pub fn unreadable_event(e: serde_json::Error) -> ProxyError {
    ProxyError::bad_gateway(format!("the upstream sent an unreadable stream event: {e}"))
}

/// The error for a stream that stopped before its end marker.
pub fn truncated() -> ProxyError {
    ProxyError::bad_gateway("the upstream stream ended before the answer was complete")
}
