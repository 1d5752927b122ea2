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
                    schema
                }
                (None, None) => json!({"type": "object", "properties": {}}),
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
mod tests {
    #[test]
    fn json_output_is_carried_with_its_schema() {
        let request = to_ir(parse(
            r#"{"contents": [], "generationConfig": {"responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}}}"#,
        ))
        .unwrap();
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        assert_eq!(
            request.output_format,
            Some(OutputFormat::JsonSchema { name: "output".into(), schema: schema.clone(), strict: None })
        );
        let (back, dropped) = to_gemini(request);
        assert!(dropped.is_empty());
        let config = &back["generationConfig"];
        assert_eq!((&config["responseMimeType"], &config["responseJsonSchema"]), (&json!("application/json"), &schema));
        let plain =
            to_ir(parse(r#"{"contents": [], "generationConfig": {"responseMimeType": "application/json"}}"#)).unwrap();
        assert_eq!(plain.output_format, Some(OutputFormat::Json));
    }

    use super::*;
    use crate::config::Config;
    use crate::ir::{Media, ToolCall};

    /// Trimmed from `/work/shared/captures/gemini-tools/165038-003-POST-v1beta_models_gemini_3_8_flash_streamGenerateContent.json`
    /// (gemini-cli 0.61.0, the second request of a tool round trip): the session context, system
    /// prompt and descriptions are cut short, and two of its fifteen function declarations kept.
    const GEMINI_CLI: &str = r#"{
      "contents": [
        {"parts": [{"text": "<session_context>\nThis is the Gemini CLI. We are setting up …"}, {"text": "Run echo hi"}],
         "role": "user"},
        {"parts": [{"functionCall": {"id": "run_shell_command_1795279838338_0",
                                     "args": {"command": "echo hi", "description": "say hi"},
                                     "name": "run_shell_command"},
                    "thoughtSignature": "skip_thought_signature_validator"}],
         "role": "model"},
        {"parts": [{"functionResponse": {"name": "run_shell_command",
                                         "response": {"output": "<untrusted_context>\nOutput: hi\nProcess Group PGID: 10088\n</untrusted_context>"},
                                         "id": "run_shell_command_1795279838338_0"}}],
         "role": "user"}
      ],
      "systemInstruction": {"parts": [{"text": "You are Gemini CLI, an autonomous CLI agent specializing in …"}], "role": "user"},
      "tools": [{"functionDeclarations": [
        {"name": "read_file", "description": "Reads and returns the content of a specified file.…",
         "parametersJsonSchema": {"type": "object", "properties": {
           "file_path": {"description": "The path to the file to read.", "type": "string"},
           "start_line": {"description": "Optional: The 1-based line number to sta", "type": "integer", "minimum": 1},
           "end_line": {"description": "Optional: The 1-based line number to end", "type": "integer", "minimum": 1}},
           "required": ["file_path"]}},
        {"name": "run_shell_command", "description": "This tool executes a given shell command as `bash …",
         "parametersJsonSchema": {"type": "object", "properties": {
           "command": {"type": "string", "description": "Exact bash command to execute as `bash -"},
           "description": {"type": "string", "description": "Brief description of the command for the"}},
           "required": ["command"]}}
      ]}],
      "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64,
                           "thinkingConfig": {"includeThoughts": true, "thinkingLevel": "HIGH"}}
    }"#;

    fn parse(body: &str) -> GenerateContentRequest {
        serde_json::from_str(body).unwrap()
    }

    fn backend() -> Backend {
        let config = Config::from_json(r#"{"backends":[{"name":"g","kind":"mock","models":["*"]}]}"#).unwrap();
        config.backends[0].clone()
    }

    fn to_gemini(request: ir::Request) -> (Value, Vec<String>) {
        let (body, dropped) = from_ir(request, &backend()).unwrap();
        (serde_json::to_value(body).unwrap(), dropped)
    }

    fn user(content: Vec<ir::Part>) -> Message {
        Message { role: Role::User, content }
    }

    fn assistant(content: Vec<ir::Part>) -> Message {
        Message { role: Role::Assistant, content }
    }

    fn call(id: &str, name: &str, arguments: &str) -> ir::Part {
        ir::Part::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() })
    }

    fn result(call_id: &str, content: Vec<ir::Part>, is_error: bool) -> ir::Part {
        ir::Part::ToolResult(ToolResult { call_id: call_id.into(), content, is_error })
    }

    #[test]
    fn a_gemini_cli_tool_round_trip_survives_the_ir() {
        let request = to_ir(parse(GEMINI_CLI)).unwrap();
        assert_eq!(request.system, vec!["You are Gemini CLI, an autonomous CLI agent specializing in …"]);
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[0].content.len(), 2);
        let signature = Signature::native(Provider::Gemini, "skip_thought_signature_validator".into());
        assert_eq!(
            request.messages[1],
            assistant(vec![
                ir::Part::Thinking { text: String::new(), signature: Some(signature) },
                call(
                    "run_shell_command_1795279838338_0",
                    "run_shell_command",
                    r#"{"command":"echo hi","description":"say hi"}"#
                ),
            ])
        );
        let output = "<untrusted_context>\nOutput: hi\nProcess Group PGID: 10088\n</untrusted_context>";
        assert_eq!(
            request.messages[2],
            user(vec![result("run_shell_command_1795279838338_0", vec![ir::Part::Text(output.into())], false)])
        );
        assert_eq!(request.tools.len(), 2);
        assert_eq!(request.tools[1].parameters["required"], json!(["command"]));
        assert_eq!(request.reasoning, Some(Reasoning::Effort(Effort::High)));
        assert_eq!((request.temperature, request.top_p), (Some(1.0), Some(0.95)));
        assert_eq!(request.dropped, vec!["generationConfig.topK"]);

        let original: Value = serde_json::from_str(GEMINI_CLI).unwrap();
        let (sent, dropped) = to_gemini(request);
        assert_eq!(dropped, vec!["generationConfig.topK"]);
        assert_eq!(sent["contents"], original["contents"]);
        assert_eq!(sent["tools"], original["tools"]);
        assert_eq!(sent["systemInstruction"]["parts"], original["systemInstruction"]["parts"]);
        assert_eq!(
            sent["generationConfig"],
            json!({"temperature": 1.0, "topP": 0.95, "thinkingConfig": {"includeThoughts": true, "thinkingLevel": "HIGH"}})
        );
    }

    #[test]
    fn calls_and_responses_without_ids_pair_by_name_and_order() {
        let request = to_ir(parse(
            r#"{"contents": [
              {"role": "user", "parts": [{"text": "Weather in Paris and Rome, and the time?"}]},
              {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
                {"functionCall": {"name": "time"}}]},
              {"role": "user", "parts": [
                {"functionResponse": {"name": "time", "response": {"error": "no clock"}}},
                {"functionResponse": {"name": "weather", "response": {"output": "sunny"}}},
                {"functionResponse": {"name": "weather", "response": {"output": {"sky": "rain"}}}}]}
            ]}"#,
        ))
        .unwrap();
        assert_eq!(
            request.messages[1].content,
            vec![
                call("call_0", "weather", r#"{"city":"Paris"}"#),
                call("call_1", "weather", r#"{"city":"Rome"}"#),
                call("call_2", "time", "{}"),
            ]
        );
        assert_eq!(
            request.messages[2].content,
            vec![
                result("call_2", vec![ir::Part::Text("no clock".into())], true),
                result("call_0", vec![ir::Part::Text("sunny".into())], false),
                result("call_1", vec![ir::Part::Text(r#"{"sky":"rain"}"#.into())], false),
            ]
        );

        let (sent, _) = to_gemini(request);
        let responses = &sent["contents"][2]["parts"];
        assert_eq!(
            responses[0]["functionResponse"],
            json!({"id": "call_2", "name": "time", "response": {"error": "no clock"}})
        );
        assert_eq!(responses[2]["functionResponse"]["name"], "weather");
        assert_eq!(sent["contents"][1]["parts"][0]["functionCall"]["id"], "call_0");
    }

    #[test]
    fn a_response_that_answers_no_call_is_refused() {
        let error = to_ir(parse(
            r#"{"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "time", "response": {}}}]}]}"#,
        ))
        .unwrap_err();
        assert_eq!((error.status, error.param.as_deref()), (400, Some("contents[0].parts[0]")));
    }

    #[test]
    fn tool_results_from_other_dialects_find_their_function_names() {
        let image = Media::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() };
        let request = ir::Request {
            messages: vec![
                user(vec![ir::Part::Text("Weather?".into())]),
                assistant(vec![call("toolu_1", "weather", r#"{"city":"Paris"}"#), call("toolu_2", "map", "")]),
                user(vec![
                    result("toolu_1", vec![ir::Part::Text("sunny".into())], false),
                    result("toolu_2", vec![ir::Part::Text("here".into()), ir::Part::Image(image)], false),
                ]),
            ],
            ..ir::Request::default()
        };
        let (sent, _) = to_gemini(request.clone());
        assert_eq!(
            sent["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"id": "toolu_1", "name": "weather", "response": {"output": "sunny"}}},
                {"functionResponse": {"id": "toolu_2", "name": "map", "response": {"output": "here"}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            ]})
        );
        // Another backend made these calls, so Gemini 3 is told to skip checking the first one.
        assert_eq!(sent["contents"][1]["parts"][0]["thoughtSignature"], UNSIGNED_CALL);
        assert!(sent["contents"][1]["parts"][1].get("thoughtSignature").is_none());

        let mut orphan = request;
        orphan.messages.remove(1);
        let error = from_ir(orphan, &backend()).unwrap_err();
        assert_eq!(error.status, 400);
    }

    #[test]
    fn only_gemini_signatures_go_to_gemini_each_on_its_part() {
        let gemini = |value: &str| Some(Signature::native(Provider::Gemini, value.into()));
        let request = ir::Request {
            messages: vec![
                user(vec![ir::Part::Text("Hi".into())]),
                assistant(vec![
                    ir::Part::Thinking {
                        text: "Anthropic thought".into(),
                        signature: Some(Signature::native(Provider::Anthropic, "EqQB".into())),
                    },
                    ir::Part::Thinking { text: "A thought".into(), signature: gemini("thought-sig") },
                    ir::Part::Thinking { text: String::new(), signature: gemini("text-sig") },
                    ir::Part::Text("Hello".into()),
                    ir::Part::Thinking { text: String::new(), signature: gemini("call-sig") },
                    call("c1", "weather", "{}"),
                    ir::Part::Thinking { text: String::new(), signature: gemini("last-sig") },
                ]),
            ],
            ..ir::Request::default()
        };
        let (sent, dropped) = to_gemini(request);
        assert_eq!(dropped, vec!["thinking"]);
        assert_eq!(
            sent["contents"][1]["parts"],
            json!([
                {"text": "A thought", "thought": true, "thoughtSignature": "thought-sig"},
                {"text": "Hello", "thoughtSignature": "text-sig"},
                {"functionCall": {"id": "c1", "name": "weather", "args": {}}, "thoughtSignature": "call-sig"},
                {"text": "", "thoughtSignature": "last-sig"},
            ])
        );
        let back = to_ir(serde_json::from_value(sent).unwrap()).unwrap();
        assert_eq!(back.messages[1].content.len(), 6, "the thinking signed elsewhere is gone: {back:?}");
    }

    #[test]
    fn openapi_parameters_become_json_schema() {
        let request = to_ir(parse(
            r#"{"contents": [], "tools": [{"functionDeclarations": [{"name": "find", "parameters": {
              "type": "OBJECT",
              "properties": {
                "query": {"type": "STRING", "description": "What to find"},
                "limit": {"type": "INTEGER", "nullable": true},
                "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a", "b"]}},
                "near": {"anyOf": [{"type": "STRING"}, {"type": "OBJECT", "properties": {"lat": {"type": "NUMBER"}}}]}
              },
              "required": ["query"]}}]}]}"#,
        ))
        .unwrap();
        assert_eq!(
            request.tools[0].parameters,
            json!({
              "type": "object",
              "properties": {
                "query": {"type": "string", "description": "What to find"},
                "limit": {"type": ["integer", "null"]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                "near": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"lat": {"type": "number"}}}]}
              },
              "required": ["query"]})
        );
        let (sent, _) = to_gemini(request);
        let declaration = &sent["tools"][0]["functionDeclarations"][0];
        assert!(declaration.get("parameters").is_none());
        assert_eq!(declaration["parametersJsonSchema"]["properties"]["query"]["type"], "string");
    }

    #[test]
    fn the_python_sdk_snake_cased_schema_is_read() {
        // As google-genai 3.4.0 sends it (captures/sdk-python/011-POST-v1_models_gemini_2_5_flash_streamGenerateContent.json).
        let request = to_ir(parse(
            r#"{"contents": [{"parts": [{"text": "hi"}], "role": "user"}], "tools": [{"functionDeclarations": [
              {"description": "weather", "name": "get_weather",
               "parameters_json_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]}],
              "generationConfig": {}}"#,
        ))
        .unwrap();
        assert_eq!(request.tools[0].parameters["properties"]["city"]["type"], "string");
        assert!(request.dropped.is_empty(), "{:?}", request.dropped);
    }

    #[test]
    fn fields_that_change_the_answer_are_refused_and_the_rest_dropped() {
        let refused_fields = [
            (r#""cachedContent": "cachedContents/abc""#, "cachedContent"),
            (r#""tools": [{"googleSearch": {}}]"#, "tools[0].googleSearch"),
            (r#""tools": [{"codeExecution": {}}]"#, "tools[0].codeExecution"),
            (r#""generationConfig": {"candidateCount": 2}"#, "generationConfig.candidateCount"),
            (r#""generationConfig": {"responseMimeType": "text/x.enum"}"#, "generationConfig.responseMimeType"),
        ];
        for (field, param) in refused_fields {
            let error = to_ir(parse(&format!(r#"{{"contents": [], {field}}}"#))).unwrap_err();
            assert_eq!((error.status, error.param.as_deref()), (400, Some(param)), "{field}: {error}");
        }
        let refused_parts = [
            r#"{"executableCode": {"language": "PYTHON", "code": "1"}}"#,
            r#"{"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}}"#,
        ];
        for part in refused_parts {
            let error = to_ir(parse(&format!(r#"{{"contents": [{{"parts": [{part}]}}]}}"#))).unwrap_err();
            assert_eq!((error.status, error.param.as_deref()), (400, Some("contents[0].parts[0]")), "{part}: {error}");
        }
        let pdf = to_ir(parse(
            r#"{"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}}]}]}"#,
        ))
        .unwrap();
        assert_eq!(
            pdf.messages[0].content,
            vec![
                ir::Part::Document {
                    source: Media::Base64 { media_type: "application/pdf".into(), data: "JVBERi0=".into() },
                    name: None
                },
                ir::Part::Document { source: Media::Url("https://example.com/a.pdf".into()), name: None },
            ]
        );

        let request = to_ir(parse(
            r#"{"contents": [{"parts": [
                  {"text": "Look", "partMetadata": {"k": 1}},
                  {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}]}],
                "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
                "labels": {"team": "a"},
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}},
                "generationConfig": {"topK": 40, "seed": 7, "candidateCount": 1, "responseMimeType": "text/plain",
                                     "maxOutputTokens": 100, "stopSequences": ["END"]}}"#,
        ))
        .unwrap();
        assert_eq!(request.seed, Some(7));
        assert_eq!(
            request.dropped,
            vec![
                "labels",
                "safetySettings",
                "generationConfig.topK",
                "partMetadata",
                "toolConfig.functionCallingConfig.allowedFunctionNames",
            ]
        );
        assert_eq!(request.messages[0].content[1], ir::Part::Image(Media::Url("https://example.com/cat.jpg".into())));
        assert_eq!((request.max_tokens, request.stop.as_slice()), (Some(100), &["END".to_string()][..]));
        assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    }

    #[test]
    fn tool_choice_maps_both_ways() {
        let choice = |config: &str| {
            let body = format!(r#"{{"contents": [], "toolConfig": {{"functionCallingConfig": {config}}}}}"#);
            to_ir(parse(&body)).unwrap().tool_choice
        };
        assert_eq!(choice(r#"{"mode": "AUTO"}"#), Some(ToolChoice::Auto));
        assert_eq!(choice(r#"{"mode": "VALIDATED"}"#), Some(ToolChoice::Auto));
        assert_eq!(choice(r#"{"mode": "NONE"}"#), Some(ToolChoice::None));
        assert_eq!(choice(r#"{"mode": "ANY", "allowedFunctionNames": ["f"]}"#), Some(ToolChoice::Tool("f".into())));

        let sent = |choice: ToolChoice| {
            to_gemini(ir::Request { tool_choice: Some(choice), ..ir::Request::default() }).0["toolConfig"].clone()
        };
        assert_eq!(sent(ToolChoice::Required), json!({"functionCallingConfig": {"mode": "ANY"}}));
        assert_eq!(
            sent(ToolChoice::Tool("f".into())),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
    }

    #[test]
    fn thinking_config_maps_both_ways() {
        let reasoning = |thinking: &str| {
            let body = format!(r#"{{"contents": [], "generationConfig": {{"thinkingConfig": {thinking}}}}}"#);
            to_ir(parse(&body)).map(|request| request.reasoning)
        };
        assert_eq!(reasoning(r#"{"thinkingBudget": 0}"#), Ok(Some(Reasoning::Off)));
        assert_eq!(reasoning(r#"{"thinkingBudget": 2048}"#), Ok(Some(Reasoning::BudgetTokens(2048))));
        assert_eq!(reasoning(r#"{"thinkingBudget": -1}"#), Ok(Some(Reasoning::Effort(Effort::Medium))));
        assert_eq!(reasoning(r#"{"thinkingLevel": "low"}"#), Ok(Some(Reasoning::Effort(Effort::Low))));
        assert_eq!(reasoning(r#"{"includeThoughts": true}"#), Ok(None));
        assert_eq!(reasoning(r#"{"thinkingBudget": 10, "thinkingLevel": "HIGH"}"#).unwrap_err().status, 400);

        let sent = |reasoning: Reasoning| {
            to_gemini(ir::Request { reasoning: Some(reasoning), ..ir::Request::default() }).0["generationConfig"]
                ["thinkingConfig"]
                .clone()
        };
        assert_eq!(sent(Reasoning::Off), json!({"thinkingBudget": 0}));
        assert_eq!(sent(Reasoning::BudgetTokens(4096)), json!({"includeThoughts": true, "thinkingBudget": 4096}));
        assert_eq!(
            sent(Reasoning::Effort(Effort::Medium)),
            json!({"includeThoughts": true, "thinkingLevel": "MEDIUM"})
        );
    }
}
