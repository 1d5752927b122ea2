//! Bedrock Converse answers (whole, not streamed) to and from the IR.

use super::request::cited_text;
use super::types::*;
use crate::error::ProxyError;
use crate::ir::{self, Part, Provider, Signature, StopReason, ToolCall, Usage};
use serde_json::{json, Value};

pub fn stop_reason_to_ir(reason: &str) -> StopReason {
    match reason {
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        "model_context_window_exceeded" => StopReason::ContextWindowExceeded,
        // `malformed_tool_use` and `malformed_model_output` too: the broken call or output is
        // not in the answer, so a client told ToolUse would look for a call that is not there.
        _ => StopReason::EndTurn,
    }
}

pub fn stop_reason_from_ir(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::PauseTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::Refusal | StopReason::ContentFilter => "content_filtered",
        StopReason::ContextWindowExceeded => "model_context_window_exceeded",
    }
}

/// Bedrock counts cached prompt tokens apart from `inputTokens`; the IR counts them inside.
/// Counts are the upstream's, so sums saturate rather than overflow.
pub fn usage_to_ir(usage: &TokenUsage) -> Usage {
    let cache_read = usage.cache_read_input_tokens.unwrap_or(0);
    let cache_write = usage.cache_write_input_tokens.unwrap_or(0);
    Usage {
        input_tokens: usage.input_tokens.saturating_add(cache_read).saturating_add(cache_write),
        output_tokens: usage.output_tokens,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: 0,
    }
}

pub fn usage_from_ir(usage: &Usage) -> TokenUsage {
    let cached = usage.cache_read_tokens.saturating_add(usage.cache_write_tokens);
    TokenUsage {
        input_tokens: usage.input_tokens.saturating_sub(cached),
        output_tokens: usage.output_tokens,
        total_tokens: usage.input_tokens.saturating_add(usage.output_tokens),
        cache_read_input_tokens: (usage.cache_read_tokens > 0).then_some(usage.cache_read_tokens),
        cache_write_input_tokens: (usage.cache_write_tokens > 0).then_some(usage.cache_write_tokens),
    }
}

/// The stop sequence Claude reports in `additionalModelResponseFields`, whole (`stop_sequence`)
/// or in a stream's `messageStop` (`delta.stop_sequence`).
pub fn stop_sequence_of(fields: Option<&Value>) -> Option<String> {
    let fields = fields?;
    let sequence = fields.get("stop_sequence").or_else(|| fields.get("delta")?.get("stop_sequence"))?;
    sequence.as_str().map(str::to_string)
}

pub fn tool_use_from_ir(call: ToolCall) -> ToolUse {
    ToolUse { input: call.arguments_object(), tool_use_id: ToolCall::word_id(call.id), name: call.name }
}

pub fn to_ir(response: ConverseResponse) -> Result<ir::Response, ProxyError> {
    let blocks = response.output.message.map(|message| message.content).unwrap_or_default();
    let content = blocks
        .into_iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(Part::Text(text)),
            ContentBlock::CitationsContent(citations) => Some(Part::Text(cited_text(citations))),
            ContentBlock::ToolUse(tool_use) => Some(Part::ToolCall(ToolCall {
                arguments: ToolCall::arguments_of(&tool_use.input),
                id: tool_use.tool_use_id,
                name: tool_use.name,
            })),
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => Some(Part::Thinking {
                text: reasoning.text,
                signature: reasoning.signature.map(|value| Signature::native(Provider::Bedrock, value)),
            }),
            ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(data)) => {
                Some(Part::RedactedThinking { data: Signature::native(Provider::Bedrock, data) })
            }
            // Images, documents and the results of Bedrock's own tools have no place in an answer.
            _ => None,
        })
        .filter(|part| !matches!(part, Part::Text(text) if text.is_empty()))
        .collect();
    Ok(ir::Response {
        id: String::new(),
        model: String::new(),
        content,
        stop_reason: Some(stop_reason_to_ir(&response.stop_reason)),
        stop_sequence: stop_sequence_of(response.additional_model_response_fields.as_ref()),
        usage: usage_to_ir(&response.usage),
    })
}

pub fn from_ir(response: ir::Response) -> ConverseResponse {
    let content = response
        .content
        .into_iter()
        .filter_map(|part| match part {
            Part::Text(text) | Part::Refusal(text) => Some(ContentBlock::Text(text)),
            Part::ToolCall(call) => Some(ContentBlock::ToolUse(tool_use_from_ir(call))),
            // Signatures and redacted content made elsewhere go sealed (see `Signature::for_client`).
            Part::Thinking { text, signature } => {
                Some(ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text,
                    signature: signature.map(|signature| signature.for_client(Some(Provider::Bedrock))),
                })))
            }
            Part::RedactedThinking { data } => Some(ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(
                data.for_client(Some(Provider::Bedrock)),
            ))),
            Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => None,
        })
        .collect();
    ConverseResponse {
        output: Output { message: Some(Message { role: "assistant".into(), content }) },
        stop_reason: stop_reason_from_ir(response.stop_reason.as_ref().unwrap_or(&StopReason::EndTurn)).into(),
        usage: usage_from_ir(&response.usage),
        // The proxy does not time the model apart from itself.
        metrics: Metrics::default(),
        additional_model_response_fields: response.stop_sequence.map(|sequence| json!({"stop_sequence": sequence})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> ConverseResponse {
        let path = format!("{}/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(std::fs::read_to_string(path).unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn recorded_answers_read_into_the_ir() {
        let text = to_ir(recorded("bedrock-text.vercel.json")).unwrap();
        assert!(
            matches!(&text.content[..], [Part::Text(t)] if t.ends_with("There are **3** \"r\"s in \"strawberry.\""))
        );
        assert_eq!(text.stop_reason, Some(StopReason::EndTurn));
        assert_eq!((text.usage.input_tokens, text.usage.output_tokens), (22, 57));

        let call = to_ir(recorded("bedrock-tool-call.vercel.json")).unwrap();
        let expected =
            ToolCall { id: "tool-use-id".into(), name: "bash".into(), arguments: r#"{"command":"ls -l"}"#.into() };
        assert_eq!(call.content, vec![Part::ToolCall(expected)]);
        assert_eq!(call.stop_reason, Some(StopReason::ToolUse));

        let reasoning = to_ir(recorded("bedrock-reasoning.vercel.json")).unwrap();
        let Part::Thinking { text, signature: Some(signature) } = &reasoning.content[0] else { panic!() };
        assert!(text.starts_with("Let me count the r's") && signature.value.starts_with("EvYBCkgICxAB"));
        assert_eq!(signature.provider, Provider::Bedrock);
        assert!(matches!(&reasoning.content[1], Part::Text(t) if t.starts_with("There are **3** r's")));

        let redacted = to_ir(recorded("bedrock-redacted-tool.vercel.json")).unwrap();
        assert!(matches!(&redacted.content[0], Part::RedactedThinking { data } if data.value.starts_with("cnNuX3")));
        let Part::ToolCall(call) = &redacted.content[1] else { panic!() };
        let arguments: Value = serde_json::from_slice(call.arguments.as_bytes()).unwrap();
        assert_eq!(arguments["groups"][1], json!({"name": "Team1", "parentGroupName": "Sales"}));
    }

    #[test]
    fn answers_written_for_converse_clients_read_back_the_same() {
        for name in ["bedrock-text.vercel.json", "bedrock-tool-call.vercel.json", "bedrock-reasoning.vercel.json"] {
            let ir = to_ir(recorded(name)).unwrap();
            let written = serde_json::to_string(&from_ir(ir.clone())).unwrap();
            assert_eq!(to_ir(serde_json::from_slice(written.as_bytes()).unwrap()).unwrap(), ir, "{name}");
        }
        let cited = json!({"output": {"message": {"role": "assistant", "content": [
            {"text": "A "}, {"citationsContent": {"citations": [{"title": "d"}], "content": [{"text": "cited"}]}},
            {"image": {"format": "png", "source": {"bytes": "AA=="}}}]}},
            "stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"},
            "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 107, "cacheReadInputTokens": 100}});
        let ir = to_ir(serde_json::from_value(cited).unwrap()).unwrap();
        assert_eq!(ir.content, vec![Part::Text("A ".into()), Part::Text("cited".into())]);
        assert_eq!(
            (ir.stop_reason.clone(), ir.stop_sequence.as_deref()),
            (Some(StopReason::StopSequence), Some("END"))
        );
        assert_eq!((ir.usage.input_tokens, ir.usage.cache_read_tokens), (103, 100));
        let written = serde_json::to_value(from_ir(ir)).unwrap();
        assert_eq!(
            written["usage"],
            json!({"inputTokens": 3, "outputTokens": 4, "totalTokens": 107, "cacheReadInputTokens": 100})
        );
        assert_eq!(written["additionalModelResponseFields"], json!({"stop_sequence": "END"}));
        assert_eq!(written["metrics"], json!({"latencyMs": 0}));
    }

    #[test]
    fn reasoning_made_elsewhere_reaches_converse_clients_sealed_as_bytes() {
        let response = ir::Response {
            content: vec![
                Part::Thinking {
                    text: "t".into(),
                    signature: Some(Signature::native(Provider::Anthropic, "sig".into())),
                },
                Part::RedactedThinking { data: Signature::native(Provider::Anthropic, "opaque".into()) },
            ],
            ..ir::Response::default()
        };
        let written = serde_json::to_value(from_ir(response)).unwrap();
        let redacted = written["output"]["message"]["content"][1]["reasoningContent"]["redactedContent"].as_str();
        let back = Signature::from_client(redacted.unwrap().to_string(), Provider::Bedrock);
        assert_eq!(back, Signature::native(Provider::Anthropic, "opaque".into()));
        assert_eq!(written["stopReason"], "end_turn");
    }

    #[test]
    fn stop_reasons_and_usage_map_both_ways() {
        for reason in
            ["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filtered", "model_context_window_exceeded"]
        {
            assert_eq!(stop_reason_from_ir(&stop_reason_to_ir(reason)), reason);
        }
        assert_eq!(stop_reason_to_ir("guardrail_intervened"), StopReason::ContentFilter);
        assert_eq!(stop_reason_to_ir("malformed_tool_use"), StopReason::EndTurn);
        let huge = TokenUsage { input_tokens: u64::MAX, cache_write_input_tokens: Some(5), ..TokenUsage::default() };
        assert_eq!(usage_to_ir(&huge).input_tokens, u64::MAX);
        let usage = Usage { input_tokens: 1, cache_read_tokens: 5, ..Usage::default() };
        assert_eq!(usage_from_ir(&usage).input_tokens, 0);
    }
}
