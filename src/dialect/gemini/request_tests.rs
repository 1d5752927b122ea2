//! Gemini requests to and from the IR: the captured gemini-cli round trip, call ids, signatures,
//! schemas and the fields that are refused or dropped.

use super::*;
use crate::config::Config;
use crate::ir::{Media, ToolCall};

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
    serde_json::from_slice(body.as_bytes()).unwrap()
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
    assert_eq!(request.tools[1].parameters.to_value()["required"], json!(["command"]));
    assert_eq!(request.reasoning, Some(Reasoning::Effort(Effort::High)));
    assert_eq!((request.temperature, request.top_p), (Some(1.0), Some(0.95)));
    assert_eq!(request.dropped, vec!["generationConfig.topK"]);

    let original: Value = serde_json::from_slice(GEMINI_CLI.as_bytes()).unwrap();
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
        request.tools[0].parameters.to_value(),
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
    assert_eq!(request.tools[0].parameters.to_value()["properties"]["city"]["type"], "string");
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
    assert_eq!(sent(Reasoning::Effort(Effort::Medium)), json!({"includeThoughts": true, "thinkingLevel": "MEDIUM"}));
}
