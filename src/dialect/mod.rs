//! The API dialects clients and backends speak. Each has its own folder with its wire types, its
//! mapping to and from the IR, and its stream decoder and encoder.

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

use crate::error::ProxyError;
use crate::sse;

/// How far a stream event takes the answer towards its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndMark {
    /// The answer is whole, but events may follow (a Chat usage chunk, `[DONE]`).
    Complete,
    /// Nothing follows: the client's stream can be closed.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Gemini `generateContent`.
    Gemini,
}

impl Dialect {
    /// What a stream event says of the stream's end: the answer is whole (or failed) and, for
    /// `Last`, nothing is to follow.
    pub fn end_mark(self, event: &sse::Event) -> Option<EndMark> {
        let last = |is_last: bool| Some(if is_last { EndMark::Last } else { EndMark::Complete });
        match self {
            Self::Anthropic => matches!(event.event.as_str(), "message_stop" | "error").then_some(EndMark::Last),
            Self::OpenAiResponses => {
                let kind = serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()
                    .and_then(|data| data.get("type").and_then(|t| t.as_str()).map(str::to_string));
                match kind.as_deref() {
                    Some("response.completed" | "response.incomplete" | "response.failed") => last(true),
                    // OpenAI sends `response.failed` after an `error`.
                    Some("error") => last(false),
                    _ => None,
                }
            }
            // Gemini's last chunk is the one with a finish reason.
            Self::Gemini => (event.data.contains("\"finishReason\"") || event.data.starts_with("{\"error\""))
                .then_some(EndMark::Last),
            Self::OpenAiChat => {
                let data = &event.data;
                if data == "[DONE]" || data.starts_with("{\"error\"") {
                    last(true)
                } else if data.contains("\"finish_reason\":\"") || data.contains("\"finish_reason\": \"") {
                    // The usage chunk and `[DONE]` follow; some compatible servers send neither.
                    last(false)
                } else {
                    None
                }
            }
        }
    }

    /// Writes an error as the stream event the dialect's SDKs raise on.
    pub fn write_stream_error(self, error: &ProxyError, out: &mut Vec<u8>) {
        match self {
            Self::Anthropic => sse::write_event(out, Some("error"), &error.to_body(self)),
            // OpenAI and Gemini report a failure inside a stream as a chunk holding `error`.
            Self::OpenAiChat | Self::Gemini => sse::write_event(out, None, &error.to_body(self)),
            // Outside a translated stream the response's id is not known, so the failure is the
            // protocol's plain `error` event rather than `response.failed`.
            Self::OpenAiResponses => {
                let mut event = error.to_json(self)["error"].take();
                event["type"] = "error".into();
                sse::write_event(out, Some("error"), &event.to_string())
            }
        }
    }
}
