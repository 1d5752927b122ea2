//! The API dialects clients and backends speak. Each has its own folder with its wire types, its
//! mapping to and from the IR, and its stream decoder and encoder.

pub mod anthropic;
pub mod openai_chat;

use crate::error::ProxyError;
use crate::sse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
}

impl Dialect {
    /// Whether a stream event marks the end of an answer, well or with an error.
    pub fn ends_stream(self, event: &sse::Event) -> bool {
        match self {
            Self::Anthropic => matches!(event.event.as_str(), "message_stop" | "error"),
            Self::OpenAiChat => {
                let data = &event.data;
                data == "[DONE]"
                    || data.contains("\"finish_reason\":\"")
                    || data.contains("\"finish_reason\": \"")
                    || data.starts_with("{\"error\"")
            }
        }
    }

    /// Writes an error as the stream event the dialect's SDKs raise on.
    pub fn write_stream_error(self, error: &ProxyError, out: &mut Vec<u8>) {
        match self {
            Self::Anthropic => sse::write_event(out, Some("error"), &error.to_body(self)),
            // OpenAI reports a failure inside a stream as a chunk holding `error`.
            Self::OpenAiChat => sse::write_event(out, None, &error.to_body(self)),
        }
    }
}
