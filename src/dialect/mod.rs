//! The API dialects clients and backends speak. Each has its own folder with its wire types, its
//! mapping to and from the IR, and its stream decoder and encoder.

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

use crate::error::ProxyError;
use crate::sse;

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
    /// Whether a stream event marks the end of an answer, well or with an error.
    pub fn ends_stream(self, event: &sse::Event) -> bool {
        match self {
            Self::Anthropic => matches!(event.event.as_str(), "message_stop" | "error"),
            Self::OpenAiResponses => {
                let kind = serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()
                    .and_then(|data| data.get("type").and_then(|t| t.as_str()).map(str::to_string));
                matches!(
                    kind.as_deref(),
                    Some("response.completed" | "response.incomplete" | "response.failed" | "error")
                )
            }
            // Gemini's last chunk is the one with a finish reason.
            Self::Gemini => event.data.contains("\"finishReason\"") || event.data.starts_with("{\"error\""),
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
