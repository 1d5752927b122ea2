use super::*;
use crate::config::Config;
use crate::ir::ToolResult as IrToolResult;

fn backend() -> Backend {
    let config = r#"{"backends": [{"name": "a", "kind": "anthropic", "models": ["*"]}]}"#;
    Config::from_json(config).unwrap().backends.remove(0)
}

fn read(body: Value) -> Result<ir::Request, ProxyError> {
    to_ir(serde_json::from_value(body).map_err(crate::codec::invalid_request)?)
}

fn write(request: ir::Request) -> (Value, Vec<String>) {
    let (converse, dropped) = from_ir(request, &backend()).unwrap();
    (serde_json::to_value(converse).unwrap(), dropped)
}

/// A request the mapping carries whole, both ways.
fn full_request() -> Value {
    json!({
        "messages": [
            {"role": "user", "content": [
                {"text": "What is in these?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"document": {"format": "pdf", "name": "Annual report (2024)", "source": {"bytes": "JVBERi0="}}},
                {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.jpeg"}}}}]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Look first.", "signature": "EqQBCkYI"}}},
                {"reasoningContent": {"redactedContent": "cnNuX3BV"}},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "look", "input": {"at": "image"}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "status": "error", "content": [{"text": "blurry"}]}},
                {"text": "Try again."}]}],
        "system": [{"text": "Be brief."}, {"text": "Answer in English."}],
        "inferenceConfig": {"maxTokens": 30000, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "look", "description": "Looks", "inputSchema": {"json": {"type": "object"}}}}],
            "toolChoice": {"tool": {"name": "look"}}},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        "outputConfig": {"textFormat": {"type": "json_schema",
            "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "answer"}}}},
    })
}

#[test]
fn a_converse_request_reads_into_the_ir() {
    let request = read(full_request()).unwrap();
    assert_eq!(request.system, ["Be brief.", "Answer in English."]);
    assert_eq!(
        (request.max_tokens, request.temperature, request.top_p, request.stop.as_slice()),
        (Some(30000), Some(0.5), Some(0.9), &["END".to_string()][..])
    );
    assert_eq!(request.reasoning, Some(Reasoning::BudgetTokens(2048)));
    assert_eq!(request.tool_choice, Some(ir::ToolChoice::Tool("look".into())));
    assert_eq!(request.tools[0].parameters.to_value(), json!({"type": "object"}));
    assert!(matches!(&request.output_format, Some(OutputFormat::JsonSchema { name, .. }) if name == "answer"));
    let user = &request.messages[0].content;
    assert_eq!(user[1], Part::Image(Media::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() }));
    assert_eq!(
        user[2],
        Part::Document {
            source: Media::Base64 { media_type: "application/pdf".into(), data: "JVBERi0=".into() },
            name: Some("Annual report (2024)".into())
        }
    );
    assert_eq!(user[3], Part::Image(Media::Url("s3://bucket/cat.jpeg".into())));
    let assistant = &request.messages[1].content;
    assert_eq!(
        assistant[0],
        Part::Thinking {
            text: "Look first.".into(),
            signature: Some(Signature::native(Provider::Bedrock, "EqQBCkYI".into()))
        }
    );
    assert_eq!(assistant[1], Part::RedactedThinking { data: Signature::native(Provider::Bedrock, "cnNuX3BV".into()) });
    assert_eq!(
        assistant[2],
        Part::ToolCall(ToolCall { id: "tooluse_1".into(), name: "look".into(), arguments: r#"{"at":"image"}"#.into() })
    );
    assert_eq!(
        request.messages[2].content[0],
        Part::ToolResult(IrToolResult {
            call_id: "tooluse_1".into(),
            content: vec![Part::Text("blurry".into())],
            is_error: true
        })
    );
    assert!(request.dropped.is_empty(), "{:?}", request.dropped);
}

#[test]
fn a_request_the_ir_carries_whole_comes_back_the_same_for_claude() {
    let mut request = read(full_request()).unwrap();
    request.model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into();
    let (again, dropped) = write(request);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(again, full_request());
}

#[test]
fn fields_the_ir_has_no_place_for_are_named_as_dropped() {
    let body = json!({
        "messages": [{"role": "user", "content": [
            {"text": "Hi"}, {"cachePoint": {"type": "default"}},
            {"document": {"format": "txt", "name": "notes", "source": {"text": "plain"}, "citations": {"enabled": true}}},
            {"image": {"format": "gif", "source": {"s3Location": {"uri": "s3://b/k.gif", "bucketOwner": "123"}}}},
            {"toolResult": {"toolUseId": "t", "content": [{"json": {"ok": true}}]}}]}],
        "system": [{"text": "S"}, {"cachePoint": {"type": "default"}}],
        "inferenceConfig": {"maxTokens": 5, "topK": 3},
        "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}, "strict": true}},
                                  {"cachePoint": {"type": "default"}}], "toolChoice": {"any": {}}},
        "additionalModelRequestFields": {"top_k": 5, "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}},
        "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"},
        "requestMetadata": {"team": "a"},
        "performanceConfig": null,
    });
    let request = read(body).unwrap();
    assert_eq!(
        request.dropped,
        [
            "guardrailConfig",
            "requestMetadata",
            "cachePoint",
            "document.citations",
            "s3Location.bucketOwner",
            "inferenceConfig.topK",
            "toolSpec.strict",
            "additionalModelRequestFields.top_k"
        ]
    );
    assert_eq!(request.reasoning, Some(Reasoning::Effort(Effort::High)));
    assert_eq!(request.tool_choice, Some(ir::ToolChoice::Required));
    let content = &request.messages[0].content;
    assert_eq!(content.len(), 4, "the cache point is no part");
    assert!(matches!(&content[1], Part::Document { source: Media::Base64 { media_type, data }, .. }
        if media_type == "text/plain" && data == "cGxhaW4="));
    assert!(matches!(&content[3], Part::ToolResult(result) if result.content == [Part::Text(r#"{"ok":true}"#.into())]));
    let effort = read(json!({"messages": [], "additionalModelRequestFields": {"reasoning_effort": "low"}})).unwrap();
    assert_eq!(effort.reasoning, Some(Reasoning::Effort(Effort::Low)));
}

#[test]
fn what_converse_cannot_take_is_refused_with_its_place() {
    let message = |block: Value| json!({"messages": [{"role": "user", "content": [block]}]});
    let cases = [
        (json!({"messages": [{"role": "system", "content": []}]}), "messages[0].role"),
        (message(json!({"video": {"format": "mp4"}})), "messages[0].content[0]"),
        (message(json!({"image": {"format": "bmp", "source": {"bytes": "AA=="}}})), "image.format"),
        (message(json!({"document": {"format": "rtf", "name": "n", "source": {"bytes": "AA=="}}})), "document.format"),
        (message(json!({"image": {"format": "png", "source": {"uri": "x"}}})), "messages[0].content[0].source"),
        (json!({"messages": [], "system": [{"guardContent": {"text": {"text": "x"}}}]}), "system[0]"),
        (
            json!({"messages": [], "toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}]}}),
            "toolConfig.tools[0]",
        ),
        (json!({"messages": [], "toolConfig": {"tools": [], "toolChoice": {"none": {}}}}), "toolConfig.toolChoice"),
        (json!({"messages": [], "additionalModelRequestFields": {"thinking": {"type": "on"}}}), "thinking"),
        (json!({"messages": [], "outputConfig": {"textFormat": {"type": "json_schema"}}}), "outputConfig"),
        (json!({"messages": "hi"}), "does not match"),
        (message(json!({"text": 5})), "messages[0].content[0]"),
    ];
    for (body, place) in cases {
        let error = read(body.clone()).unwrap_err();
        assert_eq!(error.status, 400, "{body}");
        assert!(error.message.contains(place), "{body}: {}", error.message);
    }
}

#[test]
fn the_ir_becomes_a_request_converse_accepts() {
    let anthropic_signed = Signature::native(Provider::Anthropic, "EqQB".into());
    let request = ir::Request {
        model: "amazon.nova-pro-v1:0".into(),
        system: vec!["S".into()],
        messages: vec![
            ir::Message { role: Role::System, content: vec![Part::Text("Mid-conversation rule.".into())] },
            ir::Message { role: Role::User, content: vec![Part::Text("Q".into()), Part::Text(" ".into())] },
            ir::Message { role: Role::User, content: vec![Part::Text("more".into())] },
            ir::Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking { text: "t".into(), signature: Some(anthropic_signed) },
                    Part::ToolCall(ToolCall { id: "call.1:x".into(), name: "f".into(), arguments: String::new() }),
                ],
            },
            ir::Message {
                role: Role::User,
                content: vec![
                    Part::Text("and".into()),
                    Part::ToolResult(IrToolResult {
                        call_id: "call.1:x".into(),
                        content: vec![Part::Document {
                            source: Media::Base64 { media_type: "application/pdf".into(), data: "JVBE".into() },
                            name: Some("report.final.pdf".into()),
                        }],
                        is_error: true,
                    }),
                ],
            },
            ir::Message { role: Role::Assistant, content: vec![Part::Text(String::new())] },
        ],
        tools: vec![ir::Tool {
            name: "f".into(),
            description: None,
            parameters: ir::Schema::from_value(&json!({"type": "object"})),
        }],
        tool_choice: Some(ir::ToolChoice::None),
        parallel_tool_calls: Some(false),
        reasoning: Some(Reasoning::Effort(Effort::Low)),
        output_format: Some(OutputFormat::Json),
        seed: Some(7),
        ..ir::Request::default()
    };
    let (written, dropped) = write(request);
    assert_eq!(
        written,
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Q"}, {"text": "more"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1_x", "name": "f", "input": {}}}]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_1_x", "content": [
                        {"document": {"format": "pdf", "name": "report final pdf", "source": {"bytes": "JVBE"}}}]}},
                    {"text": "and"}]}],
            "system": [{"text": "S"}, {"text": "Mid-conversation rule."}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
            "outputConfig": {"textFormat": {"type": "json_schema",
                "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}"}}}},
        })
    );
    assert_eq!(dropped, ["thinking", "is_error", "reasoning", "tool_choice", "parallel_tool_calls", "seed"]);

    let claude = ir::Request {
        model: "anthropic.claude-3-7-sonnet-20250219-v1:0".into(),
        max_tokens: Some(1000),
        reasoning: Some(Reasoning::BudgetTokens(4000)),
        ..ir::Request::default()
    };
    let (written, dropped) = write(claude);
    assert!(dropped.is_empty());
    assert_eq!(written["inferenceConfig"], json!({"maxTokens": 5000}));
    assert_eq!(
        written["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4000}})
    );
}

#[test]
fn media_converse_cannot_fetch_is_refused() {
    for part in [
        Part::Image(Media::Url("https://example.com/cat.png".into())),
        Part::Image(Media::Base64 { media_type: "image/bmp".into(), data: "AA==".into() }),
        Part::Document {
            source: Media::Base64 { media_type: "application/zip".into(), data: "AA==".into() },
            name: None,
        },
    ] {
        let request = ir::Request {
            messages: vec![ir::Message { role: Role::User, content: vec![part.clone()] }],
            ..ir::Request::default()
        };
        let error = from_ir(request, &backend()).unwrap_err();
        assert_eq!(error.status, 400, "{part:?}");
    }
    let unnamed = ir::Request {
        messages: vec![ir::Message {
            role: Role::User,
            content: vec![Part::Document { source: Media::Url("s3://b/notes.md".into()), name: Some("…".into()) }],
        }],
        ..ir::Request::default()
    };
    let (written, _) = write(unnamed);
    assert_eq!(
        written["messages"][0]["content"][0]["document"],
        json!({"format": "md", "name": "document-1", "source": {"s3Location": {"uri": "s3://b/notes.md"}}})
    );
}
