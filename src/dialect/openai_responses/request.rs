//! Responses requests to and from the IR.

use super::types::*;
use crate::config::Backend;
use crate::error::ProxyError;
use crate::ir::{
    self, Effort, Media, Message, OutputFormat, Part, Provider, Reasoning, Role, Signature, ToolCall, ToolChoice,
    ToolResult,
};
use serde_json::{json, Map, Value};

/// Joins a namespace and a function name into one tool name other backends accept.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// Hosted tools run by OpenAI itself. Other backends cannot run them; they are left out and named
/// in the dropped list, so an agent that offers them (Codex offers `web_search`) still works.
const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "file_search",
    "code_interpreter",
    "image_generation",
    "computer_use_preview",
    "mcp",
];

/// Request fields that only steer OpenAI's own service, or that the proxy satisfies anyway.
const SATISFIED: &[&str] = &["include"];

/// How a reasoning item's id and encrypted content travel in one signature.
pub fn reasoning_signature(id: &str, encrypted: &str) -> String {
    format!("{id}:{encrypted}")
}

/// The id and encrypted content of an OpenAI reasoning signature.
pub fn split_reasoning_signature(value: &str) -> (&str, &str) {
    value.split_once(':').unwrap_or(("", value))
}

pub fn to_ir(request: ResponsesRequest) -> Result<ir::Request, ProxyError> {
    if request.previous_response_id.is_some() {
        return Err(ProxyError::unsupported(
            "previous_response_id",
            "only a Responses backend keeps conversations; send the whole history with `store: false`",
        ));
    }
    let mut dropped = Vec::new();
    let mut output_format = None;
    for (field, value) in &request.extra {
        if value.is_null() {
            continue;
        }
        match field.as_str() {
            "text" => output_format = text_config(value, &mut dropped)?,
            _ => ir::note_dropped(&mut dropped, field),
        }
    }
    if request.store == Some(true) {
        ir::note_dropped(&mut dropped, "store");
    }
    for include in &request.include {
        if include != "reasoning.encrypted_content" && !SATISFIED.contains(&include.as_str()) {
            ir::note_dropped(&mut dropped, include);
        }
    }

    let mut system: Vec<String> = request.instructions.into_iter().filter(|s| !s.is_empty()).collect();
    let mut messages: Vec<Message> = Vec::new();
    let items = match request.input {
        None => Vec::new(),
        Some(Input::Text(text)) => {
            vec![Item { role: Some("user".into()), content: Some(Content::Text(text)), ..Item::default() }]
        }
        Some(Input::Items(items)) => items,
    };
    for (i, item) in items.into_iter().enumerate() {
        item_to_ir(item, &format!("input[{i}]"), &mut system, &mut messages)?;
    }

    let mut tools = Vec::new();
    for (i, tool) in request.tools.into_iter().enumerate() {
        tools_to_ir(tool, None, &format!("tools[{i}]"), &mut tools, &mut dropped)?;
    }
    Ok(ir::Request {
        model: request.model,
        system,
        messages,
        tools,
        tool_choice: request.tool_choice.map(tool_choice_to_ir).transpose()?,
        parallel_tool_calls: request.parallel_tool_calls,
        max_tokens: request.max_output_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop: Vec::new(),
        stream: request.stream.unwrap_or(false),
        reasoning: request.reasoning.and_then(|r| r.effort).as_deref().map(effort_to_ir).transpose()?,
        output_format,
        seed: None,
        dropped,
    })
}

/// The output format of `text`, naming its other settings as dropped.
fn text_config(value: &Value, dropped: &mut Vec<String>) -> Result<Option<OutputFormat>, ProxyError> {
    let mut format = None;
    for (key, value) in value.as_object().into_iter().flatten() {
        match key.as_str() {
            "format" => {
                format = OutputFormat::from_openai(value, false)
                    .map_err(|why| ProxyError::unsupported("text.format", why))?
            }
            other => ir::note_dropped(dropped, &format!("text.{other}")),
        }
    }
    Ok(format)
}

fn effort_to_ir(effort: &str) -> Result<Reasoning, ProxyError> {
    Ok(match effort {
        "none" => Reasoning::Off,
        "minimal" | "low" => Reasoning::Effort(Effort::Low),
        "medium" => Reasoning::Effort(Effort::Medium),
        "high" | "xhigh" => Reasoning::Effort(Effort::High),
        other => return Err(ProxyError::invalid(format!("reasoning.effort: unknown value `{other}`"))),
    })
}

fn tool_choice_to_ir(value: Value) -> Result<ToolChoice, ProxyError> {
    match value.as_str() {
        Some("auto") => Ok(ToolChoice::Auto),
        Some("none") => Ok(ToolChoice::None),
        Some("required") => Ok(ToolChoice::Required),
        _ => value
            .get("name")
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_string()))
            .ok_or_else(|| ProxyError::unsupported("tool_choice", format!("the value {value}"))),
    }
}

fn tools_to_ir(
    tool: Tool,
    namespace: Option<&str>,
    at: &str,
    tools: &mut Vec<ir::Tool>,
    dropped: &mut Vec<String>,
) -> Result<(), ProxyError> {
    match tool.kind.as_str() {
        "function" => {
            let name = tool.name.ok_or_else(|| ProxyError::invalid(format!("{at}.name is required")))?;
            tools.push(ir::Tool {
                name: match namespace {
                    Some(namespace) => format!("{namespace}{NAMESPACE_SEPARATOR}{name}"),
                    None => name,
                },
                description: tool.description,
                parameters: tool.parameters.unwrap_or_else(ir::Schema::any_object),
            });
        }
        "namespace" => {
            let namespace = tool.name.ok_or_else(|| ProxyError::invalid(format!("{at}.name is required")))?;
            for (i, inner) in tool.tools.into_iter().enumerate() {
                tools_to_ir(inner, Some(&namespace), &format!("{at}.tools[{i}]"), tools, dropped)?;
            }
        }
        kind if HOSTED_TOOLS.contains(&kind) => ir::note_dropped(dropped, &format!("tools[{kind}]")),
        kind => return Err(ProxyError::unsupported(at, format!("tool type `{kind}`"))),
    }
    Ok(())
}

/// Appends parts to the last message when it has `role`, else starts a message.
fn push_parts(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(parts),
        _ => messages.push(Message { role, content: parts }),
    }
}

fn item_to_ir(item: Item, at: &str, system: &mut Vec<String>, messages: &mut Vec<Message>) -> Result<(), ProxyError> {
    match item.kind.as_deref().unwrap_or("message") {
        "message" => {
            let role = item.role.as_deref().unwrap_or("user");
            let parts = content_to_ir(item.content, &format!("{at}.content"))?;
            match role {
                "system" | "developer" if messages.is_empty() => system.push(ir::join_text(&parts)),
                "system" | "developer" => messages.push(Message { role: Role::System, content: parts }),
                "user" => push_parts(messages, Role::User, parts),
                "assistant" => push_parts(messages, Role::Assistant, parts),
                other => return Err(ProxyError::invalid(format!("{at}.role: unknown role `{other}`"))),
            }
        }
        "reasoning" => {
            let text = item
                .summary
                .unwrap_or_default()
                .into_iter()
                .filter_map(|part| part.text)
                .collect::<Vec<_>>()
                .join("\n\n");
            let signature = item.encrypted_content.map(|encrypted| {
                let mut signature = Signature::from_client(encrypted, Provider::OpenAi);
                if signature.provider == Provider::OpenAi {
                    signature.value = reasoning_signature(item.id.as_deref().unwrap_or(""), &signature.value);
                }
                signature
            });
            push_parts(messages, Role::Assistant, vec![Part::Thinking { text, signature }]);
        }
        "function_call" => {
            let name = item.name.ok_or_else(|| ProxyError::invalid(format!("{at}.name is required")))?;
            let call = ToolCall {
                id: item.call_id.ok_or_else(|| ProxyError::invalid(format!("{at}.call_id is required")))?,
                name: match item.namespace {
                    Some(namespace) => format!("{namespace}{NAMESPACE_SEPARATOR}{name}"),
                    None => name,
                },
                arguments: item.arguments.unwrap_or_default(),
            };
            push_parts(messages, Role::Assistant, vec![Part::ToolCall(call)]);
        }
        "function_call_output" => {
            let result = ToolResult {
                call_id: item.call_id.ok_or_else(|| ProxyError::invalid(format!("{at}.call_id is required")))?,
                content: content_to_ir(item.output, &format!("{at}.output"))?,
                is_error: false,
            };
            push_parts(messages, Role::User, vec![Part::ToolResult(result)]);
        }
        other => return Err(ProxyError::unsupported(at, format!("input item `{other}`"))),
    }
    Ok(())
}

fn content_to_ir(content: Option<Content>, at: &str) -> Result<Vec<Part>, ProxyError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(text)) => Ok(vec![Part::Text(text)]),
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| match (part.kind.as_str(), part.text, part.refusal, part.image_url) {
                ("input_text" | "output_text" | "text", Some(text), ..) | ("refusal", _, Some(text), _) => {
                    Ok(Part::Text(text))
                }
                ("input_image", _, _, Some(url)) => Ok(Part::Image(Media::from_url(url))),
                // A file given inline or by URL; one uploaded to OpenAI (`file_id`) exists only there.
                ("input_file", ..) => {
                    let field = |name: &str| part.extra.get(name).and_then(Value::as_str).map(str::to_string);
                    match field("file_data").or_else(|| field("file_url")) {
                        Some(url) => Ok(Part::Document { source: Media::from_url(url), name: field("filename") }),
                        None => Err(ProxyError::unsupported(
                            &format!("{at}[{i}]"),
                            "a file not given as `file_data` or `file_url`",
                        )),
                    }
                }
                (kind, ..) => Err(ProxyError::unsupported(&format!("{at}[{i}]"), format!("content part `{kind}`"))),
            })
            .collect(),
    }
}

fn message(role: &str, parts: Vec<ContentPart>) -> Item {
    Item {
        kind: Some("message".into()),
        role: Some(role.into()),
        content: Some(Content::Parts(parts)),
        ..Item::default()
    }
}

fn text_part(kind: &str, text: String) -> ContentPart {
    ContentPart { kind: kind.into(), text: Some(text), ..ContentPart::default() }
}

/// The IR as a Responses request for `backend`, with the fields that had no place in it.
pub fn from_ir(request: ir::Request, _backend: &Backend) -> Result<(ResponsesRequest, Vec<String>), ProxyError> {
    let mut dropped = request.dropped;
    let mut input = Vec::new();
    for message_ in request.messages {
        match message_.role {
            Role::System => {
                input.push(message("developer", vec![text_part("input_text", ir::join_text(&message_.content))]))
            }
            Role::User => {
                let mut parts = Vec::new();
                for part in message_.content {
                    match part {
                        Part::Text(text) => parts.push(text_part("input_text", text)),
                        Part::Image(image) => parts.push(ContentPart {
                            kind: "input_image".into(),
                            image_url: Some(image.into_url()),
                            ..ContentPart::default()
                        }),
                        Part::Document { source, name } => {
                            let mut file = ContentPart { kind: "input_file".into(), ..ContentPart::default() };
                            let (field, url) = match source {
                                Media::Url(url) => ("file_url", url),
                                inline => ("file_data", inline.into_url()),
                            };
                            file.extra.insert(field.into(), url.into());
                            if let Some(name) = name {
                                file.extra.insert("filename".into(), name.into());
                            }
                            parts.push(file)
                        }
                        Part::ToolResult(result) => input.push(Item {
                            kind: Some("function_call_output".into()),
                            call_id: Some(result.call_id),
                            output: Some(Content::Text(ir::join_text(&result.content))),
                            ..Item::default()
                        }),
                        _ => {
                            return Err(ProxyError::invalid("a user turn can hold only text, images and tool results"))
                        }
                    }
                }
                if !parts.is_empty() {
                    input.push(message("user", parts));
                }
            }
            Role::Assistant => {
                for part in message_.content {
                    match part {
                        Part::Text(text) | Part::Refusal(text) => {
                            input.push(message("assistant", vec![text_part("output_text", text)]))
                        }
                        Part::ToolCall(call) => input.push(Item {
                            kind: Some("function_call".into()),
                            call_id: Some(call.id),
                            name: Some(call.name),
                            arguments: Some(call.arguments),
                            ..Item::default()
                        }),
                        // Reasoning goes back only to the provider that encrypted it.
                        Part::Thinking { text, signature: Some(Signature { provider: Provider::OpenAi, value }) } => {
                            let (id, encrypted) = split_reasoning_signature(&value);
                            input.push(Item {
                                kind: Some("reasoning".into()),
                                id: (!id.is_empty()).then(|| id.to_string()),
                                summary: Some(if text.is_empty() {
                                    Vec::new()
                                } else {
                                    vec![text_part("summary_text", text)]
                                }),
                                encrypted_content: Some(encrypted.to_string()),
                                ..Item::default()
                            })
                        }
                        Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                            ir::note_dropped(&mut dropped, "thinking")
                        }
                        Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => {
                            return Err(ProxyError::invalid(
                                "an assistant turn can hold only text, thinking and tool calls",
                            ))
                        }
                    }
                }
            }
        }
    }
    let tools = request
        .tools
        .into_iter()
        .map(|tool| Tool {
            kind: "function".into(),
            name: Some(tool.name),
            description: tool.description,
            parameters: Some(tool.parameters),
            tools: Vec::new(),
            extra: Map::new(),
        })
        .collect();
    if !request.stop.is_empty() {
        ir::note_dropped(&mut dropped, "stop");
    }
    if request.seed.is_some() {
        ir::note_dropped(&mut dropped, "seed");
    }
    let effort = request.reasoning.and_then(Reasoning::effort);
    let responses = ResponsesRequest {
        model: request.model,
        input: Some(Input::Items(input)),
        instructions: (!request.system.is_empty()).then(|| request.system.join("\n\n")),
        tools,
        tool_choice: request.tool_choice.map(|choice| match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
        }),
        parallel_tool_calls: request.parallel_tool_calls,
        max_output_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stream: request.stream.then_some(true),
        reasoning: effort.map(|effort| ReasoningConfig {
            effort: Some(
                match effort {
                    Effort::Low => "low",
                    Effort::Medium => "medium",
                    Effort::High => "high",
                }
                .into(),
            ),
            summary: Some("auto".into()),
            extra: Map::new(),
        }),
        // Stateless: the whole history travels each turn, reasoning included, encrypted.
        store: Some(false),
        include: effort.map(|_| vec!["reasoning.encrypted_content".to_string()]).unwrap_or_default(),
        previous_response_id: None,
        extra: request
            .output_format
            .map(|format| Map::from_iter([("text".to_string(), json!({"format": format.to_openai(false)}))]))
            .unwrap_or_default(),
    };
    Ok((responses, dropped))
}
