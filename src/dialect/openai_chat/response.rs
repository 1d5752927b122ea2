//! Chat Completions responses (whole, not streamed) to and from the IR.

use super::types::*;
use crate::error::ProxyError;
use crate::ir::{self, Part, StopReason, ToolCall, Usage};

pub fn stop_reason_to_ir(reason: &str) -> StopReason {
    match reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

pub fn stop_reason_from_ir(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal | StopReason::ContentFilter => "content_filter",
    }
}

pub fn usage_to_ir(usage: &ChatUsage) -> Usage {
    let reasoning_tokens = usage.completion_tokens_details.as_ref().map_or(0, |d| d.reasoning_tokens);
    // OpenAI counts reasoning inside `completion_tokens`; xAI counts it beside them, which its
    // total tells (prompt + completion + reasoning). Either way the output is all the model wrote.
    let beside = usage.prompt_tokens.saturating_add(usage.completion_tokens).saturating_add(reasoning_tokens);
    let output_tokens = match reasoning_tokens > 0 && usage.total_tokens == beside {
        true => usage.completion_tokens.saturating_add(reasoning_tokens),
        false => usage.completion_tokens,
    };
    Usage {
        input_tokens: usage.prompt_tokens,
        output_tokens,
        cache_read_tokens: usage.prompt_tokens_details.as_ref().map_or(0, |d| d.cached_tokens),
        cache_write_tokens: 0,
        reasoning_tokens,
    }
}

pub fn usage_from_ir(usage: &Usage) -> ChatUsage {
    ChatUsage {
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: usage.input_tokens.saturating_add(usage.output_tokens),
        prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: usage.cache_read_tokens }),
        completion_tokens_details: Some(CompletionTokensDetails { reasoning_tokens: usage.reasoning_tokens }),
    }
}

pub fn to_ir(completion: ChatCompletion) -> Result<ir::Response, ProxyError> {
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProxyError::bad_gateway("the upstream answered with no choices"))?;
    let message = choice.message;
    let mut content = Vec::new();
    if let Some(text) = message.reasoning_content.or(message.reasoning).filter(|t| !t.is_empty()) {
        content.push(Part::Thinking { text, signature: None });
    }
    let stop_reason = choice.finish_reason.as_deref().map(stop_reason_to_ir);
    match message.content {
        Some(Content::Text(text)) if !text.is_empty() => content.push(Part::Text(text)),
        Some(Content::Parts(parts)) => content.extend(parts.into_iter().filter_map(|p| p.text.map(Part::Text))),
        _ => {}
    }
    if let Some(refusal) = message.refusal.filter(|t| !t.is_empty()) {
        content.push(Part::Refusal(refusal));
    }
    content.extend(message.tool_calls.into_iter().map(|call| {
        Part::ToolCall(ToolCall { id: call.id, name: call.function.name, arguments: call.function.arguments })
    }));
    Ok(ir::Response {
        id: completion.id,
        model: completion.model,
        content,
        stop_reason,
        stop_sequence: None,
        usage: completion.usage.as_ref().map(usage_to_ir).unwrap_or_default(),
    })
}

/// `created` is the Unix time to stamp on the completion.
pub fn from_ir(response: ir::Response, created: u64) -> ChatCompletion {
    let mut text = String::new();
    let mut refusal = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for part in response.content {
        match part {
            Part::Text(t) => text.push_str(&t),
            Part::Refusal(t) => refusal.push_str(&t),
            Part::Thinking { text, .. } => reasoning.push_str(&text),
            Part::ToolCall(call) => tool_calls.push(ChatToolCall {
                id: call.id,
                kind: "function".into(),
                function: FunctionCall { name: call.name, arguments: call.arguments },
            }),
            Part::RedactedThinking { .. } | Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => {}
        }
    }
    let message = ChatMessage {
        role: "assistant".into(),
        content: (!text.is_empty() || (tool_calls.is_empty() && refusal.is_empty())).then_some(Content::Text(text)),
        tool_calls,
        tool_call_id: None,
        refusal: (!refusal.is_empty()).then_some(refusal),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        reasoning: None,
        extra: Default::default(),
    };
    ChatCompletion {
        id: response.id,
        object: "chat.completion".into(),
        created,
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(
                stop_reason_from_ir(response.stop_reason.as_ref().unwrap_or(&StopReason::EndTurn)).into(),
            ),
            extra: Default::default(),
        }],
        usage: Some(usage_from_ir(&response.usage)),
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_counted_beside_the_completion_is_output_too() {
        let details = |reasoning_tokens| Some(CompletionTokensDetails { reasoning_tokens });
        // xAI's grok-3-mini (fixtures/wire/xai-tool-call.vercel.json): 291 + 26 + 189 = 506.
        let xai = ChatUsage {
            prompt_tokens: 291,
            completion_tokens: 26,
            total_tokens: 506,
            completion_tokens_details: details(189),
            ..ChatUsage::default()
        };
        assert_eq!((usage_to_ir(&xai).output_tokens, usage_to_ir(&xai).reasoning_tokens), (215, 189));
        // DeepSeek and OpenAI count it inside: 18 + 345 = 363, 315 of them reasoning.
        let inside = ChatUsage {
            prompt_tokens: 18,
            completion_tokens: 345,
            total_tokens: 363,
            completion_tokens_details: details(315),
            ..ChatUsage::default()
        };
        assert_eq!(usage_to_ir(&inside).output_tokens, 345);
        let without_total = ChatUsage { total_tokens: 0, ..xai };
        assert_eq!(usage_to_ir(&without_total).output_tokens, 26, "no total, no proof: as reported");
    }

    #[test]
    fn token_counts_past_u64_saturate() {
        let usage = Usage { input_tokens: u64::MAX, output_tokens: 1, ..Usage::default() };
        assert_eq!(usage_from_ir(&usage).total_tokens, u64::MAX);
    }
}
