//! Bedrock Converse requests to and from the IR.

use super::response::tool_use_from_ir;
use super::types::*;
use crate::bedrock;
use crate::config::Backend;
use crate::error::ProxyError;
use crate::ir::{self, Effort, Media, OutputFormat, Part, Provider, Reasoning, Role, Signature, ToolCall};
use base64::Engine;
use serde_json::{json, Map, Value};

/// The IR of a request. The model and whether to stream are in the URL, not the body: the caller
/// sets `model` and `stream` from there.
pub fn to_ir(request: ConverseRequest) -> Result<ir::Request, ProxyError> {
    let mut dropped = Vec::new();
    // Guardrails, prompt variables, request metadata, performance and service tiers, the
    // answer's extra field paths: only Bedrock itself acts on them.
    for (field, value) in &request.extra {
        if !value.is_null() {
            ir::note_dropped(&mut dropped, field);
        }
    }

    let mut system = Vec::new();
    for (i, block) in request.system.into_iter().enumerate() {
        match block {
            ContentBlock::Text(text) => system.push(text),
            ContentBlock::CachePoint(_) => ir::note_dropped(&mut dropped, "cachePoint"),
            _ => return Err(ProxyError::unsupported(&format!("system[{i}]"), "only text is carried here")),
        }
    }

    let mut messages = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => return Err(ProxyError::invalid(format!("messages[{i}].role: unknown role `{other}`"))),
        };
        let mut content = Vec::with_capacity(message.content.len());
        for (j, block) in message.content.into_iter().enumerate() {
            content.extend(block_to_ir(block, &format!("messages[{i}].content[{j}]"), &mut dropped)?);
        }
        messages.push(ir::Message { role, content });
    }

    let config = request.inference_config.unwrap_or_default();
    for (key, value) in &config.extra {
        if !value.is_null() {
            ir::note_dropped(&mut dropped, &format!("inferenceConfig.{key}"));
        }
    }

    let (mut tools, mut tool_choice) = (Vec::new(), None);
    if let Some(tool_config) = request.tool_config {
        for (i, tool) in tool_config.tools.into_iter().enumerate() {
            match tool {
                Tool::ToolSpec(spec) => {
                    for key in spec.extra.keys() {
                        ir::note_dropped(&mut dropped, &format!("toolSpec.{key}"));
                    }
                    tools.push(ir::Tool {
                        name: spec.name,
                        description: spec.description,
                        parameters: spec.input_schema.map_or_else(ir::Schema::any_object, |schema| schema.json),
                    });
                }
                Tool::CachePoint(_) => ir::note_dropped(&mut dropped, "cachePoint"),
                Tool::Other(_) => {
                    return Err(ProxyError::unsupported(
                        &format!("toolConfig.tools[{i}]"),
                        "only tool specs are carried",
                    ))
                }
            }
        }
        tool_choice = match tool_config.tool_choice {
            None => None,
            Some(ToolChoice::Auto(_)) => Some(ir::ToolChoice::Auto),
            Some(ToolChoice::Any(_)) => Some(ir::ToolChoice::Required),
            Some(ToolChoice::Tool(tool)) => Some(ir::ToolChoice::Tool(tool.name)),
            Some(ToolChoice::Other(_)) => {
                return Err(ProxyError::invalid("toolConfig.toolChoice: expected `auto`, `any` or `tool`"))
            }
        };
    }

    let reasoning = model_fields_to_ir(request.additional_model_request_fields.unwrap_or_default(), &mut dropped)?;
    let output_format = match request.output_config.and_then(|config| config.text_format) {
        None => None,
        Some(format) => Some(output_format_to_ir(format)?),
    };

    Ok(ir::Request {
        model: String::new(),
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        max_tokens: config.max_tokens,
        temperature: config.temperature,
        top_p: config.top_p,
        stop: config.stop_sequences,
        stream: false,
        reasoning,
        output_format,
        seed: None,
        dropped,
    })
}

/// The reasoning the model-specific fields ask for: Claude's `thinking`, Nova's
/// `reasoningConfig`, the open-weight models' `reasoning_effort`. The other fields are dropped.
fn model_fields_to_ir(fields: Map<String, Value>, dropped: &mut Vec<String>) -> Result<Option<Reasoning>, ProxyError> {
    let invalid = |field: &str| ProxyError::invalid(format!("additionalModelRequestFields.{field}: unknown value"));
    let effort = |name: Option<&str>| match name {
        Some("low") => Some(Effort::Low),
        Some("medium") => Some(Effort::Medium),
        Some("high") => Some(Effort::High),
        _ => None,
    };
    let mut reasoning = None;
    for (field, value) in fields {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        match field.as_str() {
            "thinking" => {
                let budget = value.get("budget_tokens").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
                let kind = text("type").unwrap_or_default();
                reasoning = Some(Reasoning::of_claude_thinking(kind, budget).ok_or_else(|| invalid("thinking"))?);
            }
            "reasoningConfig" => {
                reasoning = Some(match text("type") {
                    Some("disabled") => Reasoning::Off,
                    // Nova reasons at a low effort when none is given.
                    Some("enabled") => Reasoning::Effort(effort(text("maxReasoningEffort")).unwrap_or(Effort::Low)),
                    _ => return Err(invalid("reasoningConfig")),
                })
            }
            "reasoning_effort" => {
                reasoning = Some(Reasoning::Effort(effort(value.as_str()).ok_or_else(|| invalid("reasoning_effort"))?))
            }
            _ if value.is_null() => {}
            _ => ir::note_dropped(dropped, &format!("additionalModelRequestFields.{field}")),
        }
    }
    Ok(reasoning)
}

fn output_format_to_ir(format: TextFormat) -> Result<OutputFormat, ProxyError> {
    let definition = match (format.kind.as_str(), format.structure.and_then(|s| s.json_schema)) {
        ("json_schema", Some(definition)) => definition,
        _ => return Err(ProxyError::invalid("outputConfig.textFormat: expected a `json_schema` with its jsonSchema")),
    };
    let schema = serde_json::from_slice(definition.schema.as_bytes()).map_err(|e| {
        ProxyError::invalid(format!("outputConfig.textFormat.structure.jsonSchema.schema: not JSON ({e})"))
    })?;
    Ok(OutputFormat::JsonSchema { name: definition.name.unwrap_or_else(|| "output".into()), schema, strict: None })
}

/// The IR part of a client's content block; None for a cache point. `at` names it in errors.
fn block_to_ir(block: ContentBlock, at: &str, dropped: &mut Vec<String>) -> Result<Option<Part>, ProxyError> {
    Ok(Some(match block {
        ContentBlock::Text(text) => Part::Text(text),
        ContentBlock::Image(image) => Part::Image(image_to_ir(image, at, dropped)?),
        ContentBlock::Document(document) => document_to_ir(document, at, dropped)?,
        ContentBlock::ToolUse(tool_use) => Part::ToolCall(ToolCall {
            arguments: ToolCall::arguments_of(&tool_use.input),
            id: tool_use.tool_use_id,
            name: tool_use.name,
        }),
        ContentBlock::ToolResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for (k, item) in result.content.into_iter().enumerate() {
                let at = format!("{at}.toolResult.content[{k}]");
                content.push(match item {
                    ToolResultContent::Text(text) => Part::Text(text),
                    ToolResultContent::Json(value) => Part::Text(value.to_string()),
                    ToolResultContent::Image(image) => Part::Image(image_to_ir(image, &at, dropped)?),
                    ToolResultContent::Document(document) => document_to_ir(document, &at, dropped)?,
                    ToolResultContent::Other(_) => {
                        return Err(ProxyError::unsupported(
                            &at,
                            "a tool result holds text, JSON, images and documents",
                        ))
                    }
                });
            }
            let is_error = result.status.as_deref() == Some("error");
            Part::ToolResult(ir::ToolResult { call_id: result.tool_use_id, content, is_error })
        }
        ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => Part::Thinking {
            text: reasoning.text,
            signature: reasoning.signature.map(|value| Signature::from_client(value, Provider::Bedrock)),
        },
        ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(data)) => {
            Part::RedactedThinking { data: Signature::from_client(data, Provider::Bedrock) }
        }
        ContentBlock::CitationsContent(citations) => Part::Text(cited_text(citations)),
        ContentBlock::CachePoint(_) => {
            ir::note_dropped(dropped, "cachePoint");
            return Ok(None);
        }
        ContentBlock::ReasoningContent(ReasoningContent::Other(_)) | ContentBlock::Other(_) => {
            return Err(ProxyError::unsupported(at, "a content block of this kind"))
        }
    }))
}

/// The text a citations block wrote; the citations themselves have no place in the IR.
pub fn cited_text(citations: CitationsContent) -> String {
    citations
        .content
        .into_iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text),
            _ => None,
        })
        .collect()
}

const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];

/// Document formats and their media types.
const DOCUMENT_FORMATS: [(&str, &str); 9] = [
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xls", "application/vnd.ms-excel"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("html", "text/html"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
];

fn image_to_ir(image: Image, at: &str, dropped: &mut Vec<String>) -> Result<Media, ProxyError> {
    if !IMAGE_FORMATS.contains(&image.format.as_str()) {
        return Err(ProxyError::invalid(format!("{at}.image.format: unknown format `{}`", image.format)));
    }
    source_to_ir(image.source, format!("image/{}", image.format), at, dropped)
}

fn document_to_ir(document: Document, at: &str, dropped: &mut Vec<String>) -> Result<Part, ProxyError> {
    for key in document.extra.keys() {
        ir::note_dropped(dropped, &format!("document.{key}"));
    }
    let format = document.format.as_deref().unwrap_or("txt");
    let media_type = DOCUMENT_FORMATS
        .iter()
        .find(|(name, _)| *name == format)
        .map(|(_, media_type)| media_type.to_string())
        .ok_or_else(|| ProxyError::invalid(format!("{at}.document.format: unknown format `{format}`")))?;
    let source = source_to_ir(document.source, media_type, at, dropped)?;
    Ok(Part::Document { source, name: Some(document.name).filter(|name| !name.is_empty()) })
}

/// Bytes stay base64; an S3 object is its `s3://` URL, which only Bedrock can read; a document's
/// text becomes its bytes.
fn source_to_ir(source: Source, media_type: String, at: &str, dropped: &mut Vec<String>) -> Result<Media, ProxyError> {
    match source {
        Source::Bytes(data) => Ok(Media::Base64 { media_type, data }),
        Source::S3Location(location) => {
            if location.bucket_owner.is_some() {
                ir::note_dropped(dropped, "s3Location.bucketOwner");
            }
            Ok(Media::Url(location.uri))
        }
        Source::Text(text) => {
            Ok(Media::Base64 { media_type, data: base64::engine::general_purpose::STANDARD.encode(text) })
        }
        Source::Other(_) => Err(ProxyError::unsupported(&format!("{at}.source"), "a source of this kind")),
    }
}

/// The source of media for Bedrock, and its media type or, for an S3 object, its name's
/// extension.
fn source_from_ir(media: Media, what: &str) -> Result<(Source, String), ProxyError> {
    match media {
        Media::Base64 { data, media_type } => Ok((Source::Bytes(data), media_type)),
        Media::Url(uri) if uri.starts_with("s3://") => {
            let extension = uri.rsplit_once('.').map(|(_, extension)| extension.to_string()).unwrap_or_default();
            Ok((Source::S3Location(S3Location { uri, bucket_owner: None }), extension))
        }
        Media::Url(_) => Err(ProxyError::unsupported(what, "Bedrock takes media as bytes or from S3, not from a URL")),
    }
}

fn image_from_ir(media: Media) -> Result<Image, ProxyError> {
    let (source, kind) = source_from_ir(media, "image")?;
    let format = match kind.trim_start_matches("image/").to_ascii_lowercase().as_str() {
        "jpg" => "jpeg".to_string(),
        format => format.to_string(),
    };
    if !IMAGE_FORMATS.contains(&format.as_str()) {
        return Err(ProxyError::unsupported("image", format!("the image format `{format}`")));
    }
    Ok(Image { format, source })
}

/// A document for Bedrock, which wants every document named: its name kept to the characters
/// Bedrock allows, else the `n`th of the request.
fn document_from_ir(media: Media, name: Option<String>, n: usize) -> Result<Document, ProxyError> {
    let (source, kind) = source_from_ir(media, "document")?;
    let kind = kind.split(';').next().unwrap_or_default().trim();
    let format = DOCUMENT_FORMATS
        .iter()
        .find(|(format, media_type)| media_type.eq_ignore_ascii_case(kind) || format.eq_ignore_ascii_case(kind))
        .map(|(format, _)| format.to_string())
        .ok_or_else(|| ProxyError::unsupported("document", format!("the document type `{kind}`")))?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == ' ' || "-()[]".contains(c);
    let cleaned: String = name.unwrap_or_default().chars().map(|c| if allowed(c) { c } else { ' ' }).collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = if cleaned.is_empty() { format!("document-{n}") } else { cleaned };
    Ok(Document { format: Some(format), name, source, extra: Map::new() })
}

/// What turning IR parts into blocks needs to know of the request.
struct Blocks {
    /// Claude takes a tool result's `status`; Bedrock refuses it for other models.
    claude: bool,
    documents: usize,
    dropped: Vec<String>,
}

impl Blocks {
    /// The block of an IR part; None for what has no place in it.
    fn of(&mut self, part: Part) -> Result<Option<ContentBlock>, ProxyError> {
        Ok(Some(match part {
            // Bedrock refuses blank text.
            Part::Text(text) | Part::Refusal(text) if text.trim().is_empty() => return Ok(None),
            Part::Text(text) | Part::Refusal(text) => ContentBlock::Text(text),
            Part::Image(image) => ContentBlock::Image(image_from_ir(image)?),
            Part::Document { source, name } => {
                self.documents += 1;
                ContentBlock::Document(document_from_ir(source, name, self.documents)?)
            }
            Part::ToolCall(call) => ContentBlock::ToolUse(tool_use_from_ir(call)),
            Part::ToolResult(result) => {
                let status = match (result.is_error, self.claude) {
                    (true, true) => Some("error".to_string()),
                    (true, false) => {
                        ir::note_dropped(&mut self.dropped, "is_error");
                        None
                    }
                    (false, _) => None,
                };
                let mut content = Vec::with_capacity(result.content.len());
                for part in result.content {
                    match self.of(part)? {
                        Some(ContentBlock::Text(text)) => content.push(ToolResultContent::Text(text)),
                        Some(ContentBlock::Image(image)) => content.push(ToolResultContent::Image(image)),
                        Some(ContentBlock::Document(document)) => content.push(ToolResultContent::Document(document)),
                        _ => {}
                    }
                }
                ContentBlock::ToolResult(ToolResult { tool_use_id: ToolCall::word_id(result.call_id), content, status })
            }
            // Bedrock takes back only the reasoning it signed or encrypted.
            Part::Thinking { text, signature: Some(Signature { provider: Provider::Bedrock, value }) } => {
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text,
                    signature: Some(value),
                }))
            }
            Part::RedactedThinking { data: Signature { provider: Provider::Bedrock, value } } => {
                ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(value))
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                ir::note_dropped(&mut self.dropped, "thinking");
                return Ok(None);
            }
        }))
    }
}

/// The IR as a Converse request for `backend`, with the fields that had no place in it. The
/// model and whether to stream go in the URL.
pub fn from_ir(request: ir::Request, backend: &Backend) -> Result<(ConverseRequest, Vec<String>), ProxyError> {
    let claude = bedrock::is_claude(&request.model);
    let mut blocks = Blocks { claude, documents: 0, dropped: request.dropped };
    let mut system = request.system;
    let mut messages: Vec<Message> = Vec::with_capacity(request.messages.len());
    for message in request.messages {
        let role = match message.role {
            // Converse has no system turns: in-conversation instructions join the system prompt.
            Role::System => {
                system.push(ir::join_text(&message.content));
                continue;
            }
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut content = Vec::with_capacity(message.content.len());
        for part in message.content {
            content.extend(blocks.of(part)?);
        }
        if content.is_empty() {
            // Bedrock refuses a message without content.
            continue;
        }
        // Converse wants turns to alternate, and tool results first in their user turn.
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.append(&mut content),
            _ => messages.push(Message { role: role.into(), content }),
        }
    }
    for message in &mut messages {
        message.content.sort_by_key(|block| !matches!(block, ContentBlock::ToolResult(_)));
    }
    let mut dropped = blocks.dropped;

    let mut max_tokens = request.max_tokens;
    let mut model_fields = Map::new();
    match request.reasoning.and_then(Reasoning::budget_tokens) {
        Some(budget) if claude => {
            let limit = max_tokens.unwrap_or(backend.default_max_tokens);
            max_tokens = Some(Reasoning::output_limit_with_budget(limit, budget));
            model_fields.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
        }
        // How other models take reasoning differs from model to model.
        Some(_) => ir::note_dropped(&mut dropped, "reasoning"),
        None => {}
    }
    let inference_config = InferenceConfig {
        max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: request.stop,
        extra: Map::new(),
    };

    let tool_config = if request.tools.is_empty() {
        None
    } else {
        let tool_choice = match request.tool_choice {
            None => None,
            Some(ir::ToolChoice::Auto) => Some(ToolChoice::Auto(Map::new())),
            Some(ir::ToolChoice::Required) => Some(ToolChoice::Any(Map::new())),
            Some(ir::ToolChoice::Tool(name)) => Some(ToolChoice::Tool(ToolName { name })),
            // Converse cannot forbid the tools it is given, and wants them given when the
            // conversation holds tool calls.
            Some(ir::ToolChoice::None) => {
                ir::note_dropped(&mut dropped, "tool_choice");
                None
            }
        };
        let tools = request.tools.into_iter().map(|tool| {
            Tool::ToolSpec(ToolSpec {
                name: tool.name,
                description: tool.description,
                input_schema: Some(InputSchema { json: tool.parameters }),
                extra: Map::new(),
            })
        });
        Some(ToolConfig { tools: tools.collect(), tool_choice })
    };
    if request.parallel_tool_calls == Some(false) {
        ir::note_dropped(&mut dropped, "parallel_tool_calls");
    }
    if request.seed.is_some() {
        ir::note_dropped(&mut dropped, "seed");
    }
    let output_config = request.output_format.map(|format| {
        let name = match &format {
            OutputFormat::JsonSchema { name, .. } => Some(name.clone()),
            OutputFormat::Json => None,
        };
        let definition = JsonSchemaDefinition { schema: format.schema().to_string(), name, description: None };
        let structure = FormatStructure { json_schema: Some(definition) };
        OutputConfig { text_format: Some(TextFormat { kind: "json_schema".into(), structure: Some(structure) }) }
    });

    let converse = ConverseRequest {
        messages,
        system: system.into_iter().filter(|text| !text.trim().is_empty()).map(ContentBlock::Text).collect(),
        inference_config: (inference_config != InferenceConfig::default()).then_some(inference_config),
        tool_config,
        additional_model_request_fields: (!model_fields.is_empty()).then_some(model_fields),
        output_config,
        extra: Map::new(),
    };
    Ok((converse, dropped))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
