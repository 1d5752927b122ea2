//! Anthropic Messages responses (whole, not streamed) to and from the IR.

use super::types::*;
use crate::error::ProxyError;
use crate::ir::{self, Part, Provider, Signature, StopReason, ToolCall, Usage};
use serde_json::Map;

pub fn stop_reason_to_ir(reason: &str) -> StopReason {
    match reason {
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        "pause_turn" => StopReason::PauseTurn,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        _ => StopReason::EndTurn,
    }
}

pub fn stop_reason_from_ir(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal | StopReason::ContentFilter => "refusal",
        StopReason::PauseTurn => "pause_turn",
        StopReason::ContextWindowExceeded => "model_context_window_exceeded",
    }
}

/// Anthropic counts cached prompt tokens apart from `input_tokens`; the IR counts them inside.
/// Counts are the upstream's, so sums saturate rather than overflow.
pub fn usage_to_ir(usage: &AnthropicUsage) -> Usage {
    let cache_read = usage.cache_read_input_tokens.unwrap_or(0);
    let cache_write = usage.cache_creation_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: usage.input_tokens.unwrap_or(0).saturating_add(cache_read).saturating_add(cache_write),
        output_tokens: usage.output_tokens,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: 0,
    }
}

pub fn usage_from_ir(usage: &Usage) -> AnthropicUsage {
    AnthropicUsage {
        input_tokens: Some(
            usage.input_tokens.saturating_sub(usage.cache_read_tokens.saturating_add(usage.cache_write_tokens)),
        ),
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: Some(usage.cache_write_tokens),
        cache_read_input_tokens: Some(usage.cache_read_tokens),
    }
}

pub fn to_ir(response: MessagesResponse) -> Result<ir::Response, ProxyError> {
    let content = response
        .content
        .into_iter()
        .filter_map(|block| match block {
            Block::Text { text, .. } => Some(Part::Text(text)),
            Block::ToolUse { id, name, input, .. } => {
                Some(Part::ToolCall(ToolCall { id, name, arguments: input.to_string() }))
            }
            Block::Thinking { thinking, signature } => Some(Part::Thinking {
                text: thinking,
                signature: (!signature.is_empty()).then(|| Signature::native(Provider::Anthropic, signature)),
            }),
            Block::RedactedThinking { data } => {
                Some(Part::RedactedThinking { data: Signature::native(Provider::Anthropic, data) })
            }
            // Server-tool blocks (web search and the like) have no counterpart in other dialects.
            Block::Image { .. } | Block::Document { .. } | Block::ToolResult { .. } | Block::Other(_) => None,
        })
        .collect();
    Ok(ir::Response {
        id: response.id,
        model: response.model,
        content,
        stop_reason: response.stop_reason.as_deref().map(stop_reason_to_ir),
        stop_sequence: response.stop_sequence,
        usage: usage_to_ir(&response.usage),
    })
}

/// The stop reason an Anthropic client is told: a model that ended its turn with a refusal (a Chat
/// or Responses refusal) stopped for `refusal`, as Anthropic's own models report it.
pub fn stop_reason_for(reason: Option<&StopReason>, refused: bool) -> &'static str {
    match reason.unwrap_or(&StopReason::EndTurn) {
        StopReason::EndTurn if refused => "refusal",
        reason => stop_reason_from_ir(reason),
    }
}

pub fn from_ir(response: ir::Response) -> MessagesResponse {
    let stop_reason =
        stop_reason_for(response.stop_reason.as_ref(), response.content.iter().any(|p| matches!(p, Part::Refusal(_))));
    let content = response
        .content
        .into_iter()
        .filter_map(|part| match part {
            Part::Text(text) | Part::Refusal(text) => Some(Block::Text { text, extra: Map::new() }),
            Part::ToolCall(call) => {
                Some(Block::ToolUse { input: call.arguments_object(), id: call.id, name: call.name, extra: Map::new() })
            }
            Part::Thinking { text, signature } => Some(Block::Thinking {
                thinking: text,
                signature: signature.map(|s| s.for_client(Some(Provider::Anthropic))).unwrap_or_default(),
            }),
            Part::RedactedThinking { data } => {
                Some(Block::RedactedThinking { data: data.for_client(Some(Provider::Anthropic)) })
            }
            Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => None,
        })
        .collect();
    MessagesResponse {
        id: response.id,
        kind: "message".into(),
        role: "assistant".into(),
        model: response.model,
        content,
        stop_reason: Some(stop_reason.into()),
        stop_sequence: response.stop_sequence,
        usage: usage_from_ir(&response.usage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_past_u64_saturate() {
        let huge = AnthropicUsage {
            input_tokens: Some(u64::MAX),
            output_tokens: 1,
            cache_creation_input_tokens: Some(u64::MAX),
            cache_read_input_tokens: Some(1),
        };
        assert_eq!(usage_to_ir(&huge).input_tokens, u64::MAX);
        let usage = Usage { input_tokens: 5, cache_read_tokens: u64::MAX, cache_write_tokens: 1, ..Usage::default() };
        assert_eq!(usage_from_ir(&usage).input_tokens, Some(0));
    }
}
