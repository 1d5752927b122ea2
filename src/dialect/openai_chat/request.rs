//! Chat Completions requests to and from the IR.

use super::types::*;
use crate::config::{Backend, MaxTokensField};
use crate::error::ProxyError;
use crate::ir::{self, Effort, Media, Message, OutputFormat, Part, Reasoning, Role, ToolCall, ToolChoice, ToolResult};
use serde_json::{json, Value};

/// Fields with no counterpart in other dialects that change what the answer is, so they are
/// refused rather than dropped.
const REFUSED: &[(&str, &str)] = &[
    ("n", "only one choice can be produced"),
    ("logprobs", "log probabilities are not available"),
    ("top_logprobs", "log probabilities are not available"),
    ("audio", "audio output is not available"),
    ("functions", "use `tools` instead of the legacy `functions`"),
    ("function_call", "use `tool_choice` instead of the legacy `function_call`"),
    ("web_search_options", "web search is not available"),
    ("modalities", "only text output is available"),
];

/// Whether a refused field only asks for what the proxy gives anyway.
fn asks_for_the_default(field: &str, value: &Value) -> bool {
    match field {
        "n" => value.as_u64() == Some(1),
        "logprobs" => value == &Value::Bool(false),
        "modalities" => value.as_array().is_some_and(|m| m.iter().all(|v| v == "text")),
        _ => false,
    }
}

/// Fields of `extra` that the IR carries.
const CARRIED: &[&str] = &["response_format", "seed"];

pub fn to_ir(request: ChatRequest) -> Result<ir::Request, ProxyError> {
    let mut dropped = Vec::new();
    for (field, value) in &request.extra {
        if value.is_null() || asks_for_the_default(field, value) || CARRIED.contains(&field.as_str()) {
            continue;
        }
        match REFUSED.iter().find(|(name, _)| name == field) {
            Some((name, why)) => return Err(ProxyError::unsupported(name, why)),
            None => ir::note_dropped(&mut dropped, field),
        }
    }
    if let Some(options) = &request.stream_options {
        for key in options.extra.keys() {
            ir::note_dropped(&mut dropped, &format!("stream_options.{key}"));
        }
    }

    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    for (i, message) in request.messages.into_iter().enumerate() {
        let at = |field: &str| format!("messages[{i}].{field}");
        match message.role.as_str() {
            "system" | "developer" => {
                let text = text_of(message.content, &at("content"))?;
                if messages.is_empty() {
                    system.push(text);
                } else {
                    messages.push(Message { role: Role::System, content: vec![Part::Text(text)] });
                }
            }
            "user" => {
                let content = parts_of(message.content, &at("content"))?;
                messages.push(Message { role: Role::User, content });
            }
            "assistant" => {
                let mut content = Vec::new();
                if let Some(text) = message.reasoning_content.or(message.reasoning).filter(|t| !t.is_empty()) {
                    content.push(Part::Thinking { text, signature: None });
                }
                content.extend(parts_of(message.content, &at("content"))?);
                if let Some(refusal) = message.refusal.filter(|t| !t.is_empty()) {
                    content.push(Part::Text(refusal));
                }
                content.extend(message.tool_calls.into_iter().map(|call| {
                    Part::ToolCall(ToolCall {
                        id: call.id,
                        name: call.function.name,
                        arguments: call.function.arguments,
                    })
                }));
                messages.push(Message { role: Role::Assistant, content });
            }
            "tool" => {
                let call_id = message.tool_call_id.ok_or_else(|| {
                    ProxyError::invalid(format!("{} is required on a `tool` message", at("tool_call_id")))
                })?;
                let result =
                    ToolResult { call_id, content: parts_of(message.content, &at("content"))?, is_error: false };
                // Consecutive tool messages answer one assistant turn: keep them together.
                match messages.last_mut() {
                    Some(last) if last.role == Role::User && last.content.iter().all(is_tool_result) => {
                        last.content.push(Part::ToolResult(result))
                    }
                    _ => messages.push(Message { role: Role::User, content: vec![Part::ToolResult(result)] }),
                }
            }
            other => return Err(ProxyError::invalid(format!("{}: unknown role `{other}`", at("role")))),
        }
    }

    let tools = request
        .tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| match (tool.kind.as_str(), tool.function) {
            ("function", Some(function)) => Ok(ir::Tool {
                name: function.name,
                description: function.description,
                parameters: function.parameters.unwrap_or_else(ir::Schema::any_object),
            }),
            (kind, _) => Err(ProxyError::unsupported(&format!("tools[{i}]"), format!("tool type `{kind}`"))),
        })
        .collect::<Result<_, _>>()?;

    Ok(ir::Request {
        model: request.model,
        system,
        messages,
        tools,
        tool_choice: request.tool_choice.map(tool_choice_to_ir).transpose()?,
        parallel_tool_calls: request.parallel_tool_calls,
        max_tokens: request.max_completion_tokens.or(request.max_tokens),
        temperature: request.temperature,
        top_p: request.top_p,
        stop: match request.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        stream: request.stream.unwrap_or(false),
        reasoning: request.reasoning_effort.as_deref().map(reasoning_to_ir).transpose()?,
        output_format: match request.extra.get("response_format").filter(|v| !v.is_null()) {
            None => None,
            Some(format) => OutputFormat::from_openai(format, true)
                .map_err(|why| ProxyError::unsupported("response_format", why))?,
        },
        seed: request.extra.get("seed").and_then(Value::as_i64),
        dropped,
    })
}

fn is_tool_result(part: &Part) -> bool {
    matches!(part, Part::ToolResult(_))
}

fn text_of(content: Option<Content>, field: &str) -> Result<String, ProxyError> {
    let parts = parts_of(content, field)?;
    parts
        .into_iter()
        .map(|part| match part {
            Part::Text(text) => Ok(text),
            _ => Err(ProxyError::invalid(format!("{field}: only text is allowed here"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|texts| texts.join("\n"))
}

fn parts_of(content: Option<Content>, field: &str) -> Result<Vec<Part>, ProxyError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Content::Text(text)) => Ok(vec![Part::Text(text)]),
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| match (part.kind.as_str(), part.text, part.refusal, part.image_url) {
                ("text", Some(text), _, _) | ("refusal", _, Some(text), _) => Ok(Part::Text(text)),
                ("image_url", _, _, Some(image)) => Ok(Part::Image(Media::from_url(image.url))),
                // A file given inline; one uploaded to OpenAI (`file_id`) exists only there.
                ("file", ..) => match part.extra.get("file").map(|f| (f.get("file_data"), f.get("filename"))) {
                    Some((Some(Value::String(data)), name)) => Ok(Part::Document {
                        source: Media::from_url(data.clone()),
                        name: name.and_then(Value::as_str).map(str::to_string),
                    }),
                    _ => {
                        Err(ProxyError::unsupported(&format!("{field}[{i}]"), "a file not given inline as `file_data`"))
                    }
                },
                (kind, ..) => Err(ProxyError::unsupported(&format!("{field}[{i}]"), format!("content part `{kind}`"))),
            })
            .collect(),
    }
}

fn tool_choice_to_ir(value: Value) -> Result<ToolChoice, ProxyError> {
    match &value {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "none" => Ok(ToolChoice::None),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        _ => value
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_string()))
            .ok_or_else(|| ProxyError::invalid(format!("tool_choice: unsupported value {value}"))),
    }
}

fn reasoning_to_ir(effort: &str) -> Result<Reasoning, ProxyError> {
    Ok(match effort {
        "none" => Reasoning::Off,
        "minimal" | "low" => Reasoning::Effort(Effort::Low),
        "medium" => Reasoning::Effort(Effort::Medium),
        "high" | "xhigh" => Reasoning::Effort(Effort::High),
        other => return Err(ProxyError::invalid(format!("reasoning_effort: unknown value `{other}`"))),
    })
}

/// The IR as a Chat Completions request for `backend`, with the fields that had no place in it.
pub fn from_ir(request: ir::Request, backend: &Backend) -> Result<(ChatRequest, Vec<String>), ProxyError> {
    let mut dropped = request.dropped;
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(text_message("system", request.system.join("\n\n")));
    }
    for message in request.messages {
        match message.role {
            Role::System => messages.push(text_message("system", ir::join_text(&message.content))),
            Role::User => push_user(&mut messages, message.content)?,
            Role::Assistant => messages.push(assistant_message(message.content, backend, &mut dropped)?),
        }
    }
    let tools = request
        .tools
        .into_iter()
        .map(|tool| ChatTool {
            kind: "function".into(),
            function: Some(FunctionDef {
                name: tool.name,
                description: tool.description,
                parameters: Some(tool.parameters),
                extra: Default::default(),
            }),
            extra: Default::default(),
        })
        .collect();
    if request.reasoning.is_some() {
        // `reasoning_effort` is refused by Chat models that do not reason, so it is not sent.
        ir::note_dropped(&mut dropped, "thinking");
    }
    let stop = match backend.takes_stop() {
        true => request.stop,
        false => {
            if !request.stop.is_empty() {
                ir::note_dropped(&mut dropped, "stop");
            }
            Vec::new()
        }
    };
    let (max_tokens, max_completion_tokens) = match backend.max_tokens_field {
        MaxTokensField::MaxTokens => (request.max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, request.max_tokens),
    };
    let chat = ChatRequest {
        model: request.model,
        messages,
        tools,
        tool_choice: request.tool_choice.map(|choice| match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        }),
        parallel_tool_calls: request.parallel_tool_calls,
        max_tokens,
        max_completion_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop: (!stop.is_empty()).then_some(Stop::Many(stop)),
        stream: request.stream.then_some(true),
        // Without this a streamed Chat answer carries no token counts.
        stream_options: (request.stream && backend.takes_stream_options())
            .then(|| StreamOptions { include_usage: Some(true), ..Default::default() }),
        reasoning_effort: None,
        extra: [
            ("response_format", request.output_format.map(|format| format.to_openai(true))),
            ("seed", request.seed.map(Value::from)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_string(), value?)))
        .collect(),
    };
    Ok((chat, dropped))
}

fn text_message(role: &str, text: String) -> ChatMessage {
    ChatMessage {
        role: role.to_string(),
        content: Some(Content::Text(text)),
        tool_calls: Vec::new(),
        tool_call_id: None,
        refusal: None,
        reasoning_content: None,
        reasoning: None,
        extra: Default::default(),
    }
}

fn assistant_message(
    content: Vec<Part>,
    backend: &Backend,
    dropped: &mut Vec<String>,
) -> Result<ChatMessage, ProxyError> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for part in content {
        match part {
            Part::Text(t) | Part::Refusal(t) => text.push_str(&t),
            Part::ToolCall(call) => tool_calls.push(ChatToolCall {
                id: call.id,
                kind: "function".into(),
                function: FunctionCall { name: call.name, arguments: call.arguments },
            }),
            // Reasoning that came as Chat `reasoning_content` carries no signature.
            Part::Thinking { text, signature: None } => reasoning.push_str(&text),
            // A provider's signed reasoning goes back to that provider only.
            Part::Thinking { .. } | Part::RedactedThinking { .. } => ir::note_dropped(dropped, "thinking"),
            Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => {
                return Err(ProxyError::invalid("an assistant turn can hold only text, thinking and tool calls"))
            }
        }
    }
    let whole = backend.wants_tool_turns_whole() && !tool_calls.is_empty();
    if !reasoning.is_empty() && !whole {
        // OpenAI's Chat Completions take no reasoning back; DeepSeek ignores it outside tool turns.
        ir::note_dropped(dropped, "thinking");
    }
    let mut message = text_message("assistant", text);
    // A turn of tool calls alone goes without `content`: OpenAI takes that, and some compatible
    // servers (Bedrock behind an OpenAI-shaped API) refuse an empty text. DeepSeek refuses the
    // absent or null one, and its thinking mode wants such a turn's reasoning back.
    if whole {
        message.reasoning_content = Some(reasoning);
    } else if text_is_empty(&message) {
        message.content = None;
    }
    message.tool_calls = tool_calls;
    Ok(message)
}

fn text_is_empty(message: &ChatMessage) -> bool {
    matches!(&message.content, Some(Content::Text(t)) if t.is_empty())
}

/// A user turn: tool results become `tool` messages, which must come right after the assistant
/// turn that called the tools; the rest stays a user message. Chat tool messages hold text only,
/// so images returned by a tool follow in a user message.
fn push_user(messages: &mut Vec<ChatMessage>, content: Vec<Part>) -> Result<(), ProxyError> {
    let mut rest = Vec::new();
    for part in content {
        match part {
            Part::ToolResult(result) => {
                let mut text = String::new();
                for part in result.content {
                    match part {
                        Part::Image(image) => rest.push(Part::Image(image)),
                        other => text.push_str(&ir::join_text(std::slice::from_ref(&other))),
                    }
                }
                if result.is_error && !text.starts_with("Error") {
                    text.insert_str(0, "Error: ");
                }
                let mut message = text_message("tool", text);
                message.tool_call_id = Some(result.call_id);
                messages.push(message);
            }
            other => rest.push(other),
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    let content = match rest.as_slice() {
        [Part::Text(text)] => Content::Text(text.clone()),
        _ => Content::Parts(rest.into_iter().map(content_part).collect::<Result<_, _>>()?),
    };
    messages.push(ChatMessage { content: Some(content), ..text_message("user", String::new()) });
    Ok(())
}

fn content_part(part: Part) -> Result<ContentPart, ProxyError> {
    let mut content =
        ContentPart { kind: String::new(), text: None, image_url: None, refusal: None, extra: Default::default() };
    match part {
        Part::Text(text) => (content.kind, content.text) = ("text".into(), Some(text)),
        Part::Image(image) => {
            (content.kind, content.image_url) =
                ("image_url".into(), Some(ImageUrl { url: image.into_url(), detail: None }))
        }
        Part::Document { source: Media::Url(_), .. } => {
            return Err(ProxyError::unsupported("document", "Chat Completions takes files inline only, not by URL"))
        }
        Part::Document { source, name } => {
            content.kind = "file".into();
            let mut file = json!({"file_data": source.into_url()});
            if let Some(name) = name {
                file["filename"] = name.into();
            }
            content.extra.insert("file".into(), file);
        }
        _ => return Err(ProxyError::invalid("a user turn can hold only text, images, documents and tool results")),
    }
    Ok(content)
}
