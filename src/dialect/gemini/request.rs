//! Gemini requests to and from the IR.

use super::response::{media_from_ir, parts_from_ir, parts_to_ir, CallIds, Sender};
use super::types::*;
use crate::config::Backend;
use crate::error::ProxyError;
use crate::ir::{self, Effort, Message, OutputFormat, Provider, Reasoning, Role, Signature, ToolChoice, ToolResult};
use serde_json::{json, Map, Value};

/// Fields with no place in the IR that change what the answer is, so they are refused rather than
/// dropped. Nested fields go by their path.
const REFUSED: &[(&str, &str)] = &[
    ("cachedContent", "the cached content lives in Gemini, not in the request"),
    ("generationConfig.candidateCount", "only one candidate can be produced"),
    ("generationConfig.responseMimeType", "only plain text and JSON output are available"),
    ("generationConfig.responseModalities", "only text output is available"),
    ("generationConfig.speechConfig", "audio output is not available"),
    ("generationConfig.responseLogprobs", "log probabilities are not available"),
    ("generationConfig.logprobs", "log probabilities are not available"),
];

/// Whether a refused field only asks for what the proxy gives anyway.
fn asks_for_the_default(field: &str, value: &Value) -> bool {
    match field {
        "generationConfig.candidateCount" => value.as_u64() == Some(1),
        "generationConfig.responseMimeType" => value.as_str() == Some("text/plain"),
        "generationConfig.responseModalities" => value
            .as_array()
            .is_some_and(|m| m.iter().all(|v| v.as_str().is_some_and(|m| m.eq_ignore_ascii_case("text")))),
        "generationConfig.responseLogprobs" => value == &Value::Bool(false),
        _ => false,
    }
}

/// Refuses the unknown fields of an object that change the answer and names the others as
/// dropped; `path` is where the object sits, ending with a dot.
fn check_extra(extra: &Map<String, Value>, path: &str, dropped: &mut Vec<String>) -> Result<(), ProxyError> {
    for (key, value) in extra {
        let field = format!("{path}{key}");
        if value.is_null() || asks_for_the_default(&field, value) {
            continue;
        }
        match REFUSED.iter().find(|(name, _)| *name == field) {
            Some((name, why)) => return Err(ProxyError::unsupported(name, why)),
            None => ir::note_dropped(dropped, &field),
        }
    }
    Ok(())
}

/// The IR of a request. The model and whether to stream are in the URL, not the body: the caller
/// sets `model` and `stream` from there.
pub fn to_ir(request: GenerateContentRequest) -> Result<ir::Request, ProxyError> {
    let mut dropped = Vec::new();
    check_extra(&request.extra, "", &mut dropped)?;
    let mut config = request.generation_config.unwrap_or_default();
    let output_format = output_format_to_ir(&mut config.extra);
    let seed = config.extra.remove("seed").and_then(|seed| seed.as_i64());
    check_extra(&config.extra, "generationConfig.", &mut dropped)?;

    let system = match request.system_instruction {
        None => Vec::new(),
        Some(instruction) => instruction
            .parts
            .into_iter()
            .enumerate()
            .map(|(j, part)| {
                part.text.ok_or_else(|| {
                    ProxyError::invalid(format!("systemInstruction.parts[{j}]: only text is allowed here"))
                })
            })
            .collect::<Result<_, _>>()?,
    };

    // Ids made for calls without one are numbered across the whole conversation.
    let mut calls = CallIds::new("call_".into());
    let mut messages = Vec::with_capacity(request.contents.len());
    for (i, content) in request.contents.into_iter().enumerate() {
        let role = match content.role.as_deref() {
            None | Some("user") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => return Err(ProxyError::invalid(format!("contents[{i}].role: unknown role `{other}`"))),
        };
        // Fields beside a part's data (`videoMetadata`, `partMetadata`, …) only steer Gemini itself.
        for part in &content.parts {
            check_extra(&part.extra, "", &mut dropped)?;
        }
        let parts = parts_to_ir(content.parts, &format!("contents[{i}].parts"), Sender::Client, &mut calls)?;
        if !parts.is_empty() {
            messages.push(Message { role, content: parts });
        }
    }

    let mut tools = Vec::new();
    for (i, tool) in request.tools.into_iter().enumerate() {
        if let Some((kind, _)) = tool.extra.iter().find(|(_, value)| !value.is_null()) {
            return Err(ProxyError::unsupported(
                &format!("tools[{i}].{kind}"),
                "only function declarations are carried",
            ));
        }
        for declaration in tool.function_declarations {
            check_extra(&declaration.extra, "", &mut dropped)?;
            let parameters = match (declaration.parameters_json_schema, declaration.parameters) {
                (Some(schema), _) => schema,
                (None, Some(mut schema)) => {
                    json_schema_from_openapi(&mut schema);
                    ir::Schema::from_value(&schema)
                }
                (None, None) => ir::Schema::any_object(),
            };
            tools.push(ir::Tool { name: declaration.name, description: declaration.description, parameters });
        }
    }

    let tool_choice = match request.tool_config {
        None => None,
        Some(tool_config) => {
            check_extra(&tool_config.extra, "toolConfig.", &mut dropped)?;
            match tool_config.function_calling_config {
                None => None,
                Some(calling) => tool_choice_to_ir(calling, &mut dropped)?,
            }
        }
    };

    let reasoning = match &config.thinking_config {
        None => None,
        Some(thinking) => reasoning_to_ir(thinking, &mut dropped)?,
    };

    Ok(ir::Request {
        model: String::new(),
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        max_tokens: config.max_output_tokens,
        temperature: config.temperature,
        top_p: config.top_p,
        stop: config.stop_sequences,
        stream: false,
        reasoning,
        output_format,
        seed,
        dropped,
    })
}

/// JSON output: `responseMimeType: application/json`, with a schema as JSON Schema
/// (`responseJsonSchema`) or OpenAPI (`responseSchema`). Takes the fields it reads out of `extra`.
fn output_format_to_ir(config: &mut Map<String, Value>) -> Option<OutputFormat> {
    let json = config.get("responseMimeType").and_then(Value::as_str) == Some("application/json");
    let schema = config.remove("responseJsonSchema").or_else(|| {
        config.remove("responseSchema").map(|mut schema| {
            json_schema_from_openapi(&mut schema);
            schema
        })
    });
    if !json {
        return None;
    }
    config.remove("responseMimeType");
    Some(match schema {
        Some(schema) => OutputFormat::JsonSchema { name: "output".into(), schema, strict: None },
        None => OutputFormat::Json,
    })
}

/// Gemini's `parameters` is an OpenAPI 3.0 schema: types are upper case (`OBJECT`) and a null is
/// allowed with `nullable`. The IR holds JSON Schema: lower-case types, and null as a type.
fn json_schema_from_openapi(schema: &mut Value) {
    let Some(fields) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::String(kind)) = fields.get_mut("type") {
        kind.make_ascii_lowercase();
    }
    if fields.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(kind) = fields.remove("type") {
            fields.insert("type".into(), json!([kind, "null"]));
        }
    }
    for (key, nested) in fields.iter_mut() {
        match (key.as_str(), nested) {
            ("items", items) => json_schema_from_openapi(items),
            ("properties", Value::Object(properties)) => properties.values_mut().for_each(json_schema_from_openapi),
            ("anyOf", Value::Array(alternatives)) => alternatives.iter_mut().for_each(json_schema_from_openapi),
            _ => {}
        }
    }
}

fn tool_choice_to_ir(
    config: FunctionCallingConfig,
    dropped: &mut Vec<String>,
) -> Result<Option<ToolChoice>, ProxyError> {
    let choice = match (config.mode.as_deref(), config.allowed_function_names.as_slice()) {
        (Some("ANY"), [name]) => return Ok(Some(ToolChoice::Tool(name.clone()))),
        (Some("ANY"), _) => ToolChoice::Required,
        // VALIDATED is AUTO with calls held to their schema, which only Gemini itself can do.
        (Some("AUTO" | "VALIDATED"), _) => ToolChoice::Auto,
        (Some("NONE"), _) => ToolChoice::None,
        (None | Some("MODE_UNSPECIFIED"), _) => return Ok(None),
        (Some(other), _) => {
            return Err(ProxyError::invalid(format!("toolConfig.functionCallingConfig.mode: unknown value `{other}`")))
        }
    };
    // The IR can force one named function, not restrict the model to several.
    if !config.allowed_function_names.is_empty() {
        ir::note_dropped(dropped, "toolConfig.functionCallingConfig.allowedFunctionNames");
    }
    Ok(Some(choice))
}

fn reasoning_to_ir(config: &ThinkingConfig, dropped: &mut Vec<String>) -> Result<Option<Reasoning>, ProxyError> {
    // The IR carries whatever reasoning a backend shows, so thoughts may come unasked.
    if config.include_thoughts == Some(false) {
        ir::note_dropped(dropped, "generationConfig.thinkingConfig.includeThoughts");
    }
    let invalid = |why: String| ProxyError::invalid(format!("generationConfig.thinkingConfig.{why}"));
    Ok(match (config.thinking_budget, config.thinking_level.as_deref()) {
        (Some(_), Some(_)) => return Err(invalid("thinkingBudget and thinkingLevel cannot both be set".into())),
        (Some(0), None) => Some(Reasoning::Off),
        // The model decides how much to think, as with Anthropic's adaptive thinking.
        (Some(-1), None) => Some(Reasoning::Effort(Effort::Medium)),
        (Some(budget), None) => Some(Reasoning::BudgetTokens(
            u32::try_from(budget).map_err(|_| invalid(format!("thinkingBudget: {budget} is not a token count")))?,
        )),
        (None, Some(level)) => Some(Reasoning::Effort(match level.to_ascii_lowercase().as_str() {
            "minimal" | "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            _ => return Err(invalid(format!("thinkingLevel: unknown value `{level}`"))),
        })),
        (None, None) => None,
    })
}

fn thinking_level(effort: Effort) -> &'static str {
    match effort {
        Effort::Low => "LOW",
        Effort::Medium => "MEDIUM",
        Effort::High => "HIGH",
    }
}

/// The signature Google documents for function calls that Gemini did not make itself (a
/// conversation begun with another model): Gemini 3 refuses a model turn whose first call has no
/// signature, and this one tells it to skip the check.
const UNSIGNED_CALL: &str = "skip_thought_signature_validator";

/// The IR as a Gemini request, with the fields that had no place in it. The model and whether to
/// stream go in the URL, which the caller builds from `request.model` and `request.stream` before
/// handing the request over. Gemini needs no per-backend setting; `_backend` keeps the signature
/// the same as the other dialects'.
pub fn from_ir(request: ir::Request, _backend: &Backend) -> Result<(GenerateContentRequest, Vec<String>), ProxyError> {
    let mut dropped = request.dropped;
    let mut system = request.system;
    // The function each call id names: Gemini knows a function response by its function's name.
    let mut functions: Vec<(String, String)> = Vec::new();
    let mut contents = Vec::with_capacity(request.messages.len());
    for message in request.messages {
        let role = match message.role {
            // In-conversation instructions join the system instruction: Gemini has no system turns.
            Role::System => {
                system.push(ir::join_text(&message.content));
                continue;
            }
            Role::User => "user",
            Role::Assistant => "model",
        };
        let mut responses = Vec::new();
        let mut media = Vec::new();
        let mut rest = Vec::new();
        for part in message.content {
            match part {
                ir::Part::ToolCall(call) => {
                    functions.push((call.id.clone(), call.name.clone()));
                    rest.push(ir::Part::ToolCall(call));
                }
                ir::Part::ToolResult(result) => {
                    let name = functions.iter().find(|(id, _)| *id == result.call_id).map(|(_, name)| name.clone());
                    let name = name.ok_or_else(|| {
                        ProxyError::invalid(format!(
                            "the tool result for `{}` answers no earlier tool call, and Gemini needs its function's name",
                            result.call_id
                        ))
                    })?;
                    responses.push(function_response(result, name, &mut media));
                }
                // Gemini takes back only the reasoning it signed.
                ir::Part::Thinking { signature: Some(Signature { provider: Provider::Gemini, .. }), .. } => {
                    rest.push(part)
                }
                ir::Part::Thinking { .. } | ir::Part::RedactedThinking { .. } => {
                    ir::note_dropped(&mut dropped, "thinking")
                }
                other => rest.push(other),
            }
        }
        // Function responses open the turn that answers the calls; images a tool returned follow
        // them, as only Gemini 3 takes media inside a function response.
        let mut parts = responses;
        parts.append(&mut media);
        parts.extend(parts_from_ir(rest, |signature| signature.value));
        if role == "model" {
            if let Some(call) = parts.iter_mut().find(|part| part.function_call.is_some()) {
                call.thought_signature.get_or_insert_with(|| UNSIGNED_CALL.to_string());
            }
        }
        if !parts.is_empty() {
            contents.push(Content { role: Some(role.into()), parts });
        }
    }

    if request.parallel_tool_calls == Some(false) {
        // Gemini cannot be held to one call per turn.
        ir::note_dropped(&mut dropped, "parallel_tool_calls");
    }
    let tools = if request.tools.is_empty() {
        Vec::new()
    } else {
        let declarations = request.tools.into_iter().map(|tool| FunctionDeclaration {
            name: tool.name,
            description: tool.description,
            parameters: None,
            // Current Gemini models take any JSON Schema here, unconverted.
            parameters_json_schema: Some(tool.parameters),
            extra: Map::new(),
        });
        vec![Tool { function_declarations: declarations.collect(), extra: Map::new() }]
    };
    let tool_config = request.tool_choice.map(|choice| {
        let (mode, allowed_function_names) = match choice {
            ToolChoice::Auto => ("AUTO", Vec::new()),
            ToolChoice::None => ("NONE", Vec::new()),
            ToolChoice::Required => ("ANY", Vec::new()),
            ToolChoice::Tool(name) => ("ANY", vec![name]),
        };
        ToolConfig {
            function_calling_config: Some(FunctionCallingConfig { mode: Some(mode.into()), allowed_function_names }),
            extra: Map::new(),
        }
    });
    let thinking_config = request.reasoning.map(|reasoning| match reasoning {
        Reasoning::Off => ThinkingConfig { thinking_budget: Some(0), ..ThinkingConfig::default() },
        Reasoning::BudgetTokens(budget) => {
            ThinkingConfig { include_thoughts: Some(true), thinking_budget: Some(budget.into()), thinking_level: None }
        }
        Reasoning::Effort(effort) => ThinkingConfig {
            include_thoughts: Some(true),
            thinking_budget: None,
            thinking_level: Some(thinking_level(effort).into()),
        },
    });
    let generation_config = GenerationConfig {
        temperature: request.temperature,
        top_p: request.top_p,
        max_output_tokens: request.max_tokens,
        stop_sequences: request.stop,
        thinking_config,
        extra: [
            ("responseMimeType", request.output_format.as_ref().map(|_| json!("application/json"))),
            ("responseJsonSchema", request.output_format.as_ref().map(OutputFormat::schema)),
            ("seed", request.seed.map(Value::from)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_string(), value?)))
        .collect(),
    };
    let system_parts: Vec<Part> = system.into_iter().map(|text| Part { text: Some(text), ..Part::default() }).collect();
    let gemini = GenerateContentRequest {
        contents,
        system_instruction: (!system_parts.is_empty()).then_some(Content { role: None, parts: system_parts }),
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default()).then_some(generation_config),
        extra: Map::new(),
    };
    Ok((gemini, dropped))
}

/// A tool result as a function response: `{"output": …}`, or `{"error": …}` for a failure, as
/// Gemini's convention has it. Its images and documents go to `media`.
fn function_response(result: ToolResult, name: String, media: &mut Vec<Part>) -> Part {
    let text = ir::join_text(&result.content);
    media.extend(result.content.into_iter().filter_map(|part| match part {
        ir::Part::Image(image) => Some(media_from_ir(image, None)),
        ir::Part::Document { source, .. } => Some(media_from_ir(source, Some("application/pdf"))),
        _ => None,
    }));
    let key = if result.is_error { "error" } else { "output" };
    Part {
        function_response: Some(FunctionResponse {
            id: Some(result.call_id).filter(|id| !id.is_empty()),
            name,
            response: json!({ key: text }),
            parts: Vec::new(),
        }),
        ..Part::default()
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
