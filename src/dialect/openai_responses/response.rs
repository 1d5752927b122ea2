//! Responses answers (whole, not streamed) to and from the IR.

use super::request::{reasoning_signature, split_reasoning_signature, NAMESPACE_SEPARATOR};
use super::types::*;
use crate::error::ProxyError;
use crate::ir::{self, Part, Provider, Signature, StopReason, ToolCall, Usage};
use serde_json::{json, Map};

pub fn usage_to_ir(usage: &ResponsesUsage) -> Usage {
    Usage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_read_tokens: usage.input_tokens_details.cached_tokens.unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: usage.output_tokens_details.reasoning_tokens.unwrap_or(0),
    }
}

pub fn usage_from_ir(usage: &Usage) -> ResponsesUsage {
    ResponsesUsage {
        input_tokens: usage.input_tokens,
        input_tokens_details: TokenDetails { cached_tokens: Some(usage.cache_read_tokens), reasoning_tokens: None },
        output_tokens: usage.output_tokens,
        output_tokens_details: TokenDetails { cached_tokens: None, reasoning_tokens: Some(usage.reasoning_tokens) },
        total_tokens: usage.input_tokens.saturating_add(usage.output_tokens),
    }
}

/// Responses has no stop reason: a finished answer is `completed` (with tool calls or not), a cut
/// one `incomplete` with a reason.
pub fn stop_reason_to_ir(response: &ResponseObject) -> StopReason {
    match response.incomplete_details.as_ref().map(|d| d.reason.as_str()) {
        Some("max_output_tokens") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        _ if response.output.iter().any(|item| item.kind.as_deref() == Some("function_call")) => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// The `status` and `incomplete_details` that stand for a stop reason.
pub fn status_from_ir(reason: Option<&StopReason>) -> (&'static str, Option<IncompleteDetails>) {
    let incomplete = |reason: &str| ("incomplete", Some(IncompleteDetails { reason: reason.into() }));
    match reason {
        Some(StopReason::MaxTokens | StopReason::ContextWindowExceeded) => incomplete("max_output_tokens"),
        Some(StopReason::ContentFilter | StopReason::Refusal) => incomplete("content_filter"),
        _ => ("completed", None),
    }
}

pub fn item_to_ir(item: Item, content: &mut Vec<Part>) {
    match item.kind.as_deref() {
        Some("message") => {
            for part in match item.content {
                Some(Content::Parts(parts)) => parts,
                Some(Content::Text(text)) => {
                    vec![ContentPart { kind: "output_text".into(), text: Some(text), ..Default::default() }]
                }
                None => Vec::new(),
            } {
                match (part.text, part.refusal) {
                    (Some(text), _) => content.push(Part::Text(text)),
                    (None, Some(refusal)) => content.push(Part::Refusal(refusal)),
                    (None, None) => {}
                }
            }
        }
        Some("reasoning") => {
            let text =
                item.summary.unwrap_or_default().into_iter().filter_map(|p| p.text).collect::<Vec<_>>().join("\n\n");
            let signature = item.encrypted_content.map(|encrypted| {
                Signature::native(Provider::OpenAi, reasoning_signature(item.id.as_deref().unwrap_or(""), &encrypted))
            });
            content.push(Part::Thinking { text, signature });
        }
        Some("function_call") => content.push(Part::ToolCall(ToolCall {
            id: item.call_id.unwrap_or_default(),
            name: match item.namespace {
                Some(namespace) => format!("{namespace}{NAMESPACE_SEPARATOR}{}", item.name.unwrap_or_default()),
                None => item.name.unwrap_or_default(),
            },
            arguments: item.arguments.unwrap_or_default(),
        })),
        // Hosted-tool items (web search calls and the like) have no counterpart in other dialects.
        _ => {}
    }
}

pub fn to_ir(response: ResponseObject) -> Result<ir::Response, ProxyError> {
    if let Some(error) = response.error.as_ref().filter(|e| !e.is_null()) {
        return Err(ProxyError::from_stream_error(error));
    }
    let stop_reason = stop_reason_to_ir(&response);
    let mut content = Vec::new();
    for item in response.output {
        item_to_ir(item, &mut content);
    }
    Ok(ir::Response {
        id: response.id,
        model: response.model,
        content,
        stop_reason: Some(stop_reason),
        stop_sequence: None,
        usage: response.usage.as_ref().map(usage_to_ir).unwrap_or_default(),
    })
}

/// Output items for IR parts; `namespaces` are the client's namespace tools, whose flattened
/// function names are split back into `namespace` and `name`.
pub fn item_from_ir(part: Part, id: String, namespaces: &[String]) -> Option<Item> {
    Some(match part {
        Part::Text(text) => Item {
            kind: Some("message".into()),
            id: Some(id),
            status: Some("completed".into()),
            role: Some("assistant".into()),
            content: Some(Content::Parts(vec![output_text(text)])),
            ..Item::default()
        },
        Part::Refusal(refusal) => Item {
            kind: Some("message".into()),
            id: Some(id),
            status: Some("completed".into()),
            role: Some("assistant".into()),
            content: Some(Content::Parts(vec![refusal_part(refusal)])),
            ..Item::default()
        },
        Part::Thinking { text, signature } => reasoning_item(id, text, signature.as_ref()),
        Part::RedactedThinking { data } => reasoning_item(id, String::new(), Some(&data)),
        Part::ToolCall(call) => {
            let (namespace, name) = split_namespace(call.name, namespaces);
            Item {
                kind: Some("function_call".into()),
                id: Some(id),
                status: Some("completed".into()),
                call_id: Some(call.id),
                name: Some(name),
                namespace,
                arguments: Some(call.arguments),
                ..Item::default()
            }
        }
        Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => return None,
    })
}

pub fn refusal_part(refusal: String) -> ContentPart {
    ContentPart { kind: "refusal".into(), refusal: Some(refusal), ..ContentPart::default() }
}

pub fn output_text(text: String) -> ContentPart {
    let mut extra = Map::new();
    extra.insert("annotations".into(), json!([]));
    ContentPart { kind: "output_text".into(), text: Some(text), extra, ..ContentPart::default() }
}

/// A reasoning item; an OpenAI signature brings back the item's own id.
pub fn reasoning_item(id: String, text: String, signature: Option<&Signature>) -> Item {
    let (id, encrypted) = match signature {
        Some(Signature { provider: Provider::OpenAi, value }) => {
            let (own_id, encrypted) = split_reasoning_signature(value);
            (if own_id.is_empty() { id } else { own_id.to_string() }, Some(encrypted.to_string()))
        }
        Some(other) => (id, Some(other.for_client(Some(Provider::OpenAi)))),
        None => (id, None),
    };
    Item {
        kind: Some("reasoning".into()),
        id: Some(id),
        summary: Some(if text.is_empty() {
            Vec::new()
        } else {
            vec![ContentPart { kind: "summary_text".into(), text: Some(text), ..ContentPart::default() }]
        }),
        encrypted_content: encrypted,
        ..Item::default()
    }
}

pub fn split_namespace(name: String, namespaces: &[String]) -> (Option<String>, String) {
    for namespace in namespaces {
        if let Some(rest) = name.strip_prefix(namespace.as_str()).and_then(|r| r.strip_prefix(NAMESPACE_SEPARATOR)) {
            return (Some(namespace.clone()), rest.to_string());
        }
    }
    (None, name)
}

pub fn from_ir(response: ir::Response, created_at: u64, namespaces: &[String]) -> ResponseObject {
    let (status, incomplete_details) = status_from_ir(response.stop_reason.as_ref());
    let output = response
        .content
        .into_iter()
        .enumerate()
        .filter_map(|(i, part)| item_from_ir(part, format!("item_{}_{i}", response.id), namespaces))
        .collect();
    ResponseObject {
        id: response.id,
        object: "response".into(),
        created_at,
        status: Some(status.into()),
        model: response.model,
        output,
        usage: Some(usage_from_ir(&response.usage)),
        incomplete_details,
        error: None,
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_past_u64_saturate() {
        let usage = Usage { input_tokens: u64::MAX, output_tokens: 1, ..Usage::default() };
        assert_eq!(usage_from_ir(&usage).total_tokens, u64::MAX);
    }
}
