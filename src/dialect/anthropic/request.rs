//! Anthropic Messages requests to and from the IR.

use super::types::*;
use crate::config::Backend;
use crate::error::ProxyError;
use crate::ir::{
    self, Effort, Media, OutputFormat, Part, Provider, Reasoning, Role, Signature, ToolCall,
    ToolChoice as IrToolChoice, ToolResult,
};
use serde_json::{json, Map, Value};

/// Anthropic fields that other dialects cannot carry and that would change the answer.
const REFUSED: &[(&str, &str)] = &[
    ("mcp_servers", "remote MCP servers are an Anthropic feature"),
    ("container", "code-execution containers are an Anthropic feature"),
];

pub fn to_ir(request: MessagesRequest) -> Result<ir::Request, ProxyError> {
    let mut dropped = Vec::new();
    let mut reasoning = match &request.thinking {
        None => None,
        Some(Thinking { kind, budget_tokens }) => Some(
            Reasoning::of_claude_thinking(kind, *budget_tokens)
                .ok_or_else(|| ProxyError::invalid(format!("thinking.type: unsupported value `{kind}`")))?,
        ),
    };
    let mut output_format = None;
    for (field, value) in &request.extra {
        if value.is_null() {
            continue;
        }
        if let Some((name, why)) = REFUSED.iter().find(|(name, _)| name == field) {
            return Err(ProxyError::unsupported(name, why));
        }
        match field.as_str() {
            "output_config" => {
                let config = value.as_object().cloned().unwrap_or_default();
                for (key, value) in config {
                    match (key.as_str(), value.as_str()) {
                        ("effort", Some(effort)) if reasoning != Some(Reasoning::Off) => {
                            reasoning = Some(Reasoning::Effort(effort_of(effort)?))
                        }
                        ("effort", _) => {}
                        ("format", _) => output_format = format_of(&value)?,
                        (other, _) => {
                            return Err(ProxyError::unsupported(
                                &format!("output_config.{other}"),
                                "not carried to this backend",
                            ))
                        }
                    }
                }
            }
            // The structured-outputs beta's name for `output_config.format`.
            "output_format" => output_format = format_of(value)?,
            // The proxy speaks for the client as a whole: anthropic_version is the proxy's to set.
            "anthropic_version" => {}
            _ => ir::note_dropped(&mut dropped, field),
        }
    }

    let mut system = Vec::new();
    match request.system {
        None => {}
        Some(System::Text(text)) => system.push(text),
        Some(System::Blocks(blocks)) => {
            for (i, block) in blocks.into_iter().enumerate() {
                match block_to_ir(block, &format!("system[{i}]"), &mut dropped)? {
                    Part::Text(text) => system.push(text),
                    _ => return Err(ProxyError::invalid(format!("system[{i}]: only text blocks are allowed"))),
                }
            }
        }
    }

    let mut messages = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => return Err(ProxyError::invalid(format!("messages[{i}].role: unknown role `{other}`"))),
        };
        let content = match message.content {
            MessageContent::Text(text) => vec![Part::Text(text)],
            MessageContent::Blocks(blocks) => blocks
                .into_iter()
                .enumerate()
                .map(|(j, block)| block_to_ir(block, &format!("messages[{i}].content[{j}]"), &mut dropped))
                .collect::<Result<_, _>>()?,
        };
        messages.push(ir::Message { role, content });
    }

    let tools = request
        .tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| match tool.kind.as_deref() {
            None | Some("custom") => {
                note_block_extras(&tool.extra, &mut dropped);
                Ok(ir::Tool {
                    name: tool.name,
                    description: tool.description,
                    parameters: tool.input_schema.unwrap_or_else(ir::Schema::any_object),
                })
            }
            Some(kind) => Err(ProxyError::unsupported(&format!("tools[{i}]"), format!("server tool `{kind}`"))),
        })
        .collect::<Result<_, _>>()?;

    let (tool_choice, parallel_tool_calls) = match request.tool_choice {
        None => (None, None),
        Some(choice) => {
            let parallel = choice.disable_parallel_tool_use.map(|disable| !disable);
            let choice = match (choice.kind.as_str(), choice.name) {
                ("auto", _) => IrToolChoice::Auto,
                ("any", _) => IrToolChoice::Required,
                ("none", _) => IrToolChoice::None,
                ("tool", Some(name)) => IrToolChoice::Tool(name),
                (other, _) => {
                    return Err(ProxyError::invalid(format!("tool_choice.type: unsupported value `{other}`")))
                }
            };
            (Some(choice), parallel)
        }
    };

    Ok(ir::Request {
        model: request.model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop: request.stop_sequences,
        stream: request.stream.unwrap_or(false),
        reasoning,
        output_format,
        seed: None,
        dropped,
    })
}

fn format_of(format: &Value) -> Result<Option<OutputFormat>, ProxyError> {
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => Ok(Some(OutputFormat::JsonSchema {
            name: "output".into(),
            schema: format.get("schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            strict: None,
        })),
        other => Err(ProxyError::unsupported("output_config.format", format!("the format type {other:?}"))),
    }
}

fn effort_of(effort: &str) -> Result<Effort, ProxyError> {
    match effort {
        "low" => Ok(Effort::Low),
        "medium" => Ok(Effort::Medium),
        "high" | "max" => Ok(Effort::High),
        other => Err(ProxyError::invalid(format!("output_config.effort: unknown value `{other}`"))),
    }
}

/// Fields of blocks and tools that only steer Anthropic itself (`cache_control`, `citations`,
/// `eager_input_streaming`, …): other backends have no place for them.
fn note_block_extras(extra: &Map<String, Value>, dropped: &mut Vec<String>) {
    for key in extra.keys() {
        ir::note_dropped(dropped, key);
    }
}

fn block_to_ir(block: Block, at: &str, dropped: &mut Vec<String>) -> Result<Part, ProxyError> {
    Ok(match block {
        Block::Text { text, extra } => {
            note_block_extras(&extra, dropped);
            Part::Text(text)
        }
        Block::Image { source, extra } => {
            note_block_extras(&extra, dropped);
            Part::Image(media_to_ir(source, at)?)
        }
        Block::Document { source, title, extra } => {
            note_block_extras(&extra, dropped);
            Part::Document { source: media_to_ir(source, at)?, name: title }
        }
        Block::ToolUse { id, name, input, extra } => {
            note_block_extras(&extra, dropped);
            Part::ToolCall(ToolCall { arguments: ToolCall::arguments_of(&input), id, name })
        }
        Block::ToolResult { tool_use_id, content, is_error, extra } => {
            note_block_extras(&extra, dropped);
            let content = match content {
                None => Vec::new(),
                Some(MessageContent::Text(text)) => vec![Part::Text(text)],
                Some(MessageContent::Blocks(blocks)) => blocks
                    .into_iter()
                    .enumerate()
                    .map(|(k, block)| match block_to_ir(block, &format!("{at}.content[{k}]"), dropped)? {
                        part @ (Part::Text(_) | Part::Image(_) | Part::Document { .. }) => Ok(part),
                        _ => {
                            Err(ProxyError::invalid(format!("{at}.content[{k}]: a tool result holds text and images")))
                        }
                    })
                    .collect::<Result<_, _>>()?,
            };
            Part::ToolResult(ToolResult { call_id: tool_use_id, content, is_error })
        }
        Block::Thinking { thinking, signature } => Part::Thinking {
            text: thinking,
            signature: (!signature.is_empty()).then(|| Signature::from_client(signature, Provider::Anthropic)),
        },
        Block::RedactedThinking { data } => {
            Part::RedactedThinking { data: Signature::from_client(data, Provider::Anthropic) }
        }
        Block::Other(block) => {
            let kind = block.get("type").and_then(Value::as_str).unwrap_or("?").to_string();
            return Err(ProxyError::unsupported(at, format!("content block `{kind}`")));
        }
    })
}

fn media_to_ir(source: ImageSource, at: &str) -> Result<Media, ProxyError> {
    match source {
        ImageSource::Base64 { media_type, data } => Ok(Media::Base64 { media_type, data }),
        ImageSource::Url { url } => Ok(Media::Url(url)),
        ImageSource::Other(source) => {
            let kind = source.get("type").and_then(Value::as_str).unwrap_or("?").to_string();
            Err(ProxyError::unsupported(&format!("{at}.source"), format!("source `{kind}`")))
        }
    }
}

fn media_from_ir(media: Media) -> ImageSource {
    match media {
        Media::Base64 { media_type, data } => ImageSource::Base64 { media_type, data },
        Media::Url(url) => ImageSource::Url { url },
    }
}

fn block_from_ir(part: Part, dropped: &mut Vec<String>) -> Option<Block> {
    Some(match part {
        Part::Text(text) | Part::Refusal(text) => Block::Text { text, extra: Map::new() },
        Part::Image(image) => Block::Image { source: media_from_ir(image), extra: Map::new() },
        Part::Document { source, name } => {
            Block::Document { source: media_from_ir(source), title: name, extra: Map::new() }
        }
        Part::ToolCall(call) => Block::ToolUse {
            input: call.arguments_object(),
            id: ToolCall::word_id(call.id),
            name: call.name,
            extra: Map::new(),
        },
        Part::ToolResult(result) => Block::ToolResult {
            tool_use_id: ToolCall::word_id(result.call_id),
            content: Some(MessageContent::Blocks(
                result.content.into_iter().filter_map(|part| block_from_ir(part, dropped)).collect(),
            )),
            is_error: result.is_error,
            extra: Map::new(),
        },
        // Anthropic refuses thinking it did not sign: reasoning from elsewhere is not sent.
        Part::Thinking { text, signature: Some(Signature { provider: Provider::Anthropic, value }) } => {
            Block::Thinking { thinking: text, signature: value }
        }
        Part::RedactedThinking { data: Signature { provider: Provider::Anthropic, value } } => {
            Block::RedactedThinking { data: value }
        }
        Part::Thinking { .. } | Part::RedactedThinking { .. } => {
            ir::note_dropped(dropped, "thinking");
            return None;
        }
    })
}

/// The IR as a Messages request for `backend`, with the fields that had no place in it.
pub fn from_ir(request: ir::Request, backend: &Backend) -> Result<(MessagesRequest, Vec<String>), ProxyError> {
    let mut dropped = request.dropped;
    if request.seed.is_some() {
        ir::note_dropped(&mut dropped, "seed");
    }
    let system = request.system;
    let mut messages: Vec<Message> = Vec::with_capacity(request.messages.len());
    for message in request.messages {
        let role = match message.role {
            // Instructions inside the conversation stay where they are, as Claude Code sends them.
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks: Vec<Block> =
            message.content.into_iter().filter_map(|p| block_from_ir(p, &mut dropped)).collect();
        // Anthropic wants turns to alternate and tool results first in their user turn.
        match messages.last_mut() {
            Some(Message { role: last_role, content: MessageContent::Blocks(last) }) if last_role == role => {
                last.append(&mut blocks)
            }
            _ => messages.push(Message { role: role.into(), content: MessageContent::Blocks(blocks) }),
        }
    }
    for message in &mut messages {
        if let MessageContent::Blocks(blocks) = &mut message.content {
            blocks.sort_by_key(|block| !matches!(block, Block::ToolResult { .. }));
        }
    }

    let budget = request.reasoning.and_then(Reasoning::budget_tokens);
    let mut max_tokens = request.max_tokens.unwrap_or(backend.default_max_tokens);
    if let Some(budget) = budget {
        max_tokens = Reasoning::output_limit_with_budget(max_tokens, budget);
    }
    let tool_choice = match (request.tool_choice, request.parallel_tool_calls) {
        (None, None) => None,
        (choice, parallel) => {
            let (kind, name) = match choice.unwrap_or(IrToolChoice::Auto) {
                IrToolChoice::Auto => ("auto", None),
                IrToolChoice::None => ("none", None),
                IrToolChoice::Required => ("any", None),
                IrToolChoice::Tool(name) => ("tool", Some(name)),
            };
            Some(ToolChoice {
                kind: kind.into(),
                name,
                disable_parallel_tool_use: parallel.filter(|p| !p).map(|_| true).filter(|_| kind != "none"),
            })
        }
    };
    let anthropic = MessagesRequest {
        model: request.model,
        messages,
        system: (!system.is_empty()).then(|| System::Text(system.join("\n\n"))),
        max_tokens: Some(max_tokens),
        tools: request
            .tools
            .into_iter()
            .map(|tool| Tool {
                kind: None,
                name: tool.name,
                description: tool.description,
                input_schema: Some(tool.parameters),
                extra: Map::new(),
            })
            .collect(),
        tool_choice,
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: request.stop,
        stream: request.stream.then_some(true),
        thinking: budget.map(|budget| Thinking { kind: "enabled".into(), budget_tokens: Some(budget) }),
        // Anthropic's structured outputs take a schema; plain JSON is any object.
        extra: request
            .output_format
            .map(|format| {
                let config = json!({"format": {"type": "json_schema", "schema": format.schema()}});
                Map::from_iter([("output_config".to_string(), config)])
            })
            .unwrap_or_default(),
    };
    Ok((anthropic, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_thinking_budget_at_the_top_of_u32_saturates_the_output_limit() {
        let config =
            Config::from_json(r#"{"backends": [{"name": "a", "kind": "anthropic", "models": ["*"]}]}"#).unwrap();
        let request = ir::Request {
            max_tokens: Some(u32::MAX),
            reasoning: Some(Reasoning::BudgetTokens(u32::MAX)),
            ..ir::Request::default()
        };
        let (request, _) = from_ir(request, &config.backends[0]).unwrap();
        assert_eq!(request.max_tokens, Some(u32::MAX));
    }
}
