//! Every recorded stream and answer of every backend dialect, translated into every client
//! dialect (their own included, through the IR) in pieces of every size, must mean the same; and
//! captured agent requests and recorded answers survive a round trip through the IR.

use llmproxy::config::Config;
use llmproxy::dialect::{anthropic, bedrock_converse, gemini, openai_chat, openai_responses, Dialect};
use llmproxy::ir::{self, BlockStart, Delta, StopReason, StreamEvent};
use llmproxy::proxy::Exchange;
use llmproxy::sse;
use llmproxy::transcode::Transcoder;
use serde_json::{json, Value};

const CONFIG: &str = r#"{"backends": [
    {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"]},
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
    {"name": "mock", "kind": "mock", "models": ["mock-*"]}], "aliases": {"fast": "gpt-4o-mini"}}"#;

fn to_ir(dialect: Dialect, body: &[u8]) -> ir::Request {
    dialect.codec().request_to_ir(body).unwrap()
}

fn response_to_ir(dialect: Dialect, body: &[u8]) -> ir::Response {
    dialect.codec().response_to_ir(body).unwrap()
}

/// Decodes a whole stream in pieces of `piece` bytes, tools without arguments given `{}` as
/// the transcoder gives them.
fn decode(dialect: Dialect, bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
    let mut decoder = dialect.codec().decoder();
    let mut parser = sse::Parser::new();
    let mut events = Vec::new();
    for chunk in bytes.chunks(piece) {
        parser.feed(chunk, &mut |e| decoder.event(e, &mut events).unwrap()).unwrap();
    }
    parser.finish(&mut |e| decoder.event(e, &mut events).unwrap());
    decoder.end(&mut events).unwrap();
    ir::EmptyArguments::default().fill(&mut events);
    events
}

/// What a client would make of a stream: text, thinking, tool calls (id, name, arguments),
/// stop reason and usage (in, out).
type Meaning = (String, String, Vec<(String, String, Value)>, Option<StopReason>, (u64, u64));

fn meaning(events: &[StreamEvent]) -> Meaning {
    let (mut text, mut thinking, mut tools, mut stop, mut usage) =
        (String::new(), String::new(), Vec::new(), None, (0, 0));
    let mut arguments: Vec<(usize, String)> = Vec::new();
    for event in events {
        match event {
            StreamEvent::BlockStart { index, block: BlockStart::ToolCall { id, name } } => {
                tools.push((id.clone(), name.clone(), Value::Null));
                arguments.push((*index, String::new()));
            }
            StreamEvent::Delta { delta: Delta::Text(t), .. } => text.push_str(t),
            StreamEvent::Delta { delta: Delta::Thinking(t), .. } => thinking.push_str(t),
            StreamEvent::Delta { index, delta: Delta::ToolArguments(a) } => {
                arguments.iter_mut().find(|(i, _)| i == index).unwrap().1.push_str(a)
            }
            StreamEvent::Finish { stop_reason, usage: u, .. } => {
                stop = stop_reason.clone();
                usage = (u.input_tokens, u.output_tokens);
            }
            _ => {}
        }
    }
    for (tool, (_, args)) in tools.iter_mut().zip(arguments) {
        tool.2 = serde_json::from_str(&args).unwrap();
    }
    (text, thinking, tools, stop, usage)
}

fn translate(exchange: &Exchange, bytes: &[u8], piece: usize) -> Vec<u8> {
    let mut transcoder = exchange.transcoder();
    let mut out = Vec::new();
    for chunk in bytes.chunks(piece) {
        out.extend(transcoder.push(chunk));
    }
    out.extend(transcoder.end());
    out
}

/// A `*.chunks.jsonl` recording as SSE, each event named after its payload's `type` when it
/// has one (Gemini's chunks have none).
fn framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let kind = serde_json::from_str::<Value>(line).unwrap()["type"].as_str().map(str::to_string);
        sse::write_event(&mut out, kind.as_deref(), line);
    }
    out
}

/// A Converse recording (`{"<event type>": payload}` lines) as the SSE the framing makes of it.
fn converse_framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let event: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        for (name, payload) in event {
            sse::write_event(&mut out, Some(&name), &payload.to_string());
        }
    }
    out
}

#[test]
fn recorded_streams_keep_their_meaning_in_every_other_dialect() {
    let mut recordings: Vec<(Dialect, Vec<u8>)> = vec![
        (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse").to_vec()),
        (Dialect::Anthropic, framed(include_str!("../fixtures/wire/anthropic-thinking-signature.vercel.chunks.jsonl"))),
        (Dialect::Anthropic, framed(include_str!("../fixtures/wire/anthropic-tool-use.vercel.chunks.jsonl"))),
        (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-tool.sdkpy.sse").to_vec()),
        (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-parallel-tools.sdkpy.sse").to_vec()),
    ];
    // Four Responses streams recorded back to back, each ending with `response.completed`.
    let responses = include_str!("../fixtures/wire/openai-responses-reasoning-fc.vercel.chunks.jsonl");
    let mut stream = String::new();
    for line in responses.lines() {
        stream.push_str(line);
        stream.push('\n');
        if line.contains("\"type\":\"response.completed\"") {
            recordings.push((Dialect::OpenAiResponses, framed(&std::mem::take(&mut stream))));
        }
    }
    for gemini in [
        include_str!("../fixtures/wire/gemini-functioncall-thoughtsig.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/gemini-partial-args.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/gemini-partial-args-no-args.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/vertex-partial-args-nested.vercel.chunks.jsonl"),
    ] {
        recordings.push((Dialect::Gemini, framed(gemini)));
    }
    recordings.push((
        Dialect::Anthropic,
        framed(include_str!("../fixtures/wire/anthropic-tool-no-args.vercel.chunks.jsonl")),
    ));
    for converse in [
        include_str!("../fixtures/wire/bedrock-text.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/bedrock-tool-call.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/bedrock-reasoning.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/bedrock-redacted-tool.vercel.chunks.jsonl"),
        include_str!("../fixtures/wire/bedrock-tool-no-args.vercel.chunks.jsonl"),
    ] {
        recordings.push((Dialect::BedrockConverse, converse_framed(converse)));
    }
    assert_eq!(recordings.len(), 19);
    for (backend, recording) in recordings {
        let original = meaning(&decode(backend, &recording, recording.len()));
        assert!(!original.2.is_empty() || !original.0.is_empty(), "the recording holds text or tool calls");
        for client in Dialect::ALL {
            let mut expected = original.clone();
            expected.3 = expected.3.map(|reason| as_told_to(client, reason, !original.2.is_empty()));
            let pair = Exchange::between(client, backend);
            for piece in [1, 7, 64, recording.len()] {
                // Same dialect too: through the IR and back, not the passthrough.
                let encoder = client.codec().encoder(&pair.context);
                let mut transcoder = Transcoder::translate(client, backend.codec().decoder(), encoder);
                let mut translated: Vec<u8> = recording.chunks(piece).flat_map(|c| transcoder.push(c)).collect();
                translated.extend(transcoder.end());
                let seen = meaning(&decode(client, &translated, 5));
                assert_eq!(seen, expected, "{backend:?} → {client:?} in pieces of {piece}");
            }
        }
    }
}

#[test]
fn captured_agent_requests_survive_a_round_trip_through_the_ir() {
    let config = Config::from_json(CONFIG).unwrap();
    let captures: [(Dialect, &str); 6] = [
        (Dialect::Anthropic, include_str!("../fixtures/captures/claude-code-tool-result.json")),
        (Dialect::Anthropic, include_str!("../fixtures/captures/opencode-anthropic-tools.json")),
        (Dialect::OpenAiChat, include_str!("../fixtures/captures/opencode-chat-tools.json")),
        (Dialect::OpenAiResponses, include_str!("../fixtures/captures/codex-tool-result.json")),
        (Dialect::Gemini, include_str!("../fixtures/captures/gemini-cli-tool-result.json")),
        (Dialect::Gemini, include_str!("../fixtures/captures/gemini-cli-router.json")),
    ];
    for (dialect, capture) in captures {
        let body = serde_json::from_str::<Value>(capture).unwrap()["body"].to_string();
        let ir = to_ir(dialect, body.as_bytes());
        let (again, _) = dialect.codec().request_from_ir(ir.clone(), &config.backends[0]).unwrap();
        let back = to_ir(dialect, &again);
        assert!(!ir.messages.is_empty() && (!ir.tools.is_empty() || ir.output_format.is_some()));
        // What the dialect can say in one way only: one system prompt, a thinking budget.
        let system = |r: &ir::Request| r.system.join("\n\n");
        let budget = |r: &ir::Request| r.reasoning.and_then(ir::Reasoning::budget_tokens);
        assert_eq!(system(&back), system(&ir), "{dialect:?} system");
        assert_eq!(budget(&back), budget(&ir), "{dialect:?} reasoning");
        assert_eq!(back.messages, ir.messages, "{dialect:?} messages");
        assert_eq!(back.tools, ir.tools, "{dialect:?} tools");
        assert_eq!(
            (&back.tool_choice, &back.output_format, back.temperature, back.top_p, &back.stop, back.stream),
            (&ir.tool_choice, &ir.output_format, ir.temperature, ir.top_p, &ir.stop, ir.stream),
            "{dialect:?} settings"
        );
        assert!(ir.max_tokens.is_none() || back.max_tokens == ir.max_tokens, "{dialect:?} max tokens");
    }
}

#[test]
fn a_tools_schema_and_description_reach_every_other_dialect_as_written() {
    let config = Config::from_json(CONFIG).unwrap();
    // Models generate arguments in their schema's order; these are out of alphabetical order.
    let schema = r#"{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"},"mid":{"type":"boolean"}},"required":["zeta"]}"#;
    // Escapes as a client may write them, several of which a writer would write otherwise.
    let description = r#""Runs \"cmd\"\n\u00e9 \/ \ud83d\ude00 \t""#;
    let tool = format!(r#""name":"f","description":{description}"#);
    let user = r#"[{"role":"user","content":"hi"}]"#;
    let clients = [
        (
            Dialect::OpenAiChat,
            format!(
                r#"{{"model":"m","messages":{user},"tools":[{{"type":"function","function":{{{tool},"parameters":{schema}}}}}]}}"#
            ),
        ),
        (
            Dialect::OpenAiResponses,
            format!(r#"{{"model":"m","input":"hi","tools":[{{"type":"function",{tool},"parameters":{schema}}}]}}"#),
        ),
        (
            Dialect::Anthropic,
            format!(r#"{{"model":"m","max_tokens":9,"messages":{user},"tools":[{{{tool},"input_schema":{schema}}}]}}"#),
        ),
        (
            Dialect::Gemini,
            format!(
                r#"{{"contents":[{{"role":"user","parts":[{{"text":"hi"}}]}}],"tools":[{{"functionDeclarations":[{{{tool},"parametersJsonSchema":{schema}}}]}}]}}"#
            ),
        ),
    ];
    for (client, body) in clients {
        let ir = to_ir(client, body.as_bytes());
        assert_eq!(ir.tools[0].parameters.text(), schema, "{client:?} read");
        assert_eq!(ir.tools[0].description.as_ref().map(ir::RawString::text), Some(description));
        for backend in Dialect::ALL {
            let (sent, _) = backend.codec().request_from_ir(ir.clone(), &config.backends[0]).unwrap();
            let sent = String::from_utf8(sent).unwrap();
            assert!(sent.contains(schema), "{client:?} -> {backend:?}: {sent}");
            assert!(sent.contains(&format!(r#""description":{description}"#)), "{client:?} -> {backend:?}: {sent}");
        }
    }
}

#[test]
fn a_tool_schema_no_tree_could_hold_goes_on_as_it_came_to_every_backend() {
    let config = Config::from_json(CONFIG).unwrap();
    // A number past f64 and nesting past serde_json's tree depth: valid JSON, no `Value`.
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    for schema in
        [r#"{"type":"number","maximum":1e400}"#.to_string(), format!(r#"{{"type":"array","default":{deep}}}"#)]
    {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":[{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}]}}"#
        );
        let ir = to_ir(Dialect::OpenAiChat, body.as_bytes());
        for backend in Dialect::ALL {
            let (sent, _) = backend.codec().request_from_ir(ir.clone(), &config.backends[0]).unwrap();
            assert!(String::from_utf8(sent).unwrap().contains(&schema), "{backend:?}");
        }
    }
}

#[test]
fn recorded_whole_answers_survive_a_round_trip_through_the_ir() {
    let recordings: [(Dialect, &[u8]); 9] = [
        (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-text.vercel.json")),
        (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-text.vercel.json")),
        (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-tool-use.vercel.json")),
        (Dialect::OpenAiResponses, include_bytes!("../fixtures/wire/openai-responses-reasoning.vercel.json")),
        (Dialect::Gemini, include_bytes!("../fixtures/wire/gemini-text.vercel.json")),
        (Dialect::BedrockConverse, include_bytes!("../fixtures/wire/bedrock-text.vercel.json")),
        (Dialect::BedrockConverse, include_bytes!("../fixtures/wire/bedrock-tool-call.vercel.json")),
        (Dialect::BedrockConverse, include_bytes!("../fixtures/wire/bedrock-reasoning.vercel.json")),
        (Dialect::BedrockConverse, include_bytes!("../fixtures/wire/bedrock-redacted-tool.vercel.json")),
    ];
    for (dialect, body) in recordings {
        let once = Exchange::between(dialect, dialect).translate_response(body).unwrap();
        let original = response_to_ir(dialect, body);
        assert!(!original.content.is_empty());
        assert_eq!(response_to_ir(dialect, &once), original, "{dialect:?}");
    }
}

/// A stop reason as a client of `dialect` can tell it: Chat has one reason for a natural end
/// and a stop sequence, Responses only completed or incomplete.
fn as_told_to(dialect: Dialect, reason: StopReason, has_tool_calls: bool) -> StopReason {
    match dialect {
        Dialect::OpenAiChat => {
            openai_chat::response::stop_reason_to_ir(openai_chat::response::stop_reason_from_ir(&reason))
        }
        Dialect::Anthropic => anthropic::response::stop_reason_to_ir(anthropic::response::stop_reason_from_ir(&reason)),
        Dialect::OpenAiResponses => match openai_responses::response::status_from_ir(Some(&reason)) {
            (_, Some(details)) if details.reason == "max_output_tokens" => StopReason::MaxTokens,
            (_, Some(_)) => StopReason::ContentFilter,
            _ if has_tool_calls => StopReason::ToolUse,
            _ => StopReason::EndTurn,
        },
        Dialect::Gemini => {
            gemini::response::stop_reason_to_ir(gemini::response::stop_reason_from_ir(&reason), has_tool_calls)
        }
        Dialect::BedrockConverse => {
            bedrock_converse::response::stop_reason_to_ir(bedrock_converse::response::stop_reason_from_ir(&reason))
        }
    }
}

#[test]
fn passthrough_streams_are_byte_identical_and_truncation_is_reported() {
    let recording = include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse");
    let passthrough = Exchange::between(Dialect::Anthropic, Dialect::Anthropic);
    assert_eq!(translate(&passthrough, recording, 3), recording.to_vec());
    let cut = &recording[..recording.len() / 2];
    let whole_events = &cut[..cut.windows(2).rposition(|w| w == b"\n\n").unwrap() + 2];
    let out = translate(&passthrough, cut, 3);
    assert!(out.starts_with(whole_events), "every whole event arrives");
    let rest = String::from_utf8(out[whole_events.len()..].to_vec()).unwrap();
    let data = rest.strip_prefix("event: error\ndata: ").and_then(|r| r.strip_suffix("\n\n"));
    let error: Value = serde_json::from_str(data.expect("then one error event, never half an event")).unwrap();
    assert_eq!((error["type"].as_str(), error["error"]["type"].as_str()), (Some("error"), Some("api_error")));
}

#[test]
fn converse_streams_pass_through_whole_and_end_with_their_usage() {
    let recording = converse_framed(include_str!("../fixtures/wire/bedrock-reasoning.vercel.chunks.jsonl"));
    let passthrough = Exchange::between(Dialect::BedrockConverse, Dialect::BedrockConverse);
    let mut transcoder = passthrough.transcoder();
    let out: Vec<u8> = recording.chunks(5).flat_map(|chunk| transcoder.push(chunk)).collect();
    assert!(transcoder.is_finished(), "the metadata event is the last");
    assert_eq!(out, recording);
    // Cut before its stop reason, the stream ends with the error the reframer makes an exception.
    let cut = &recording[..recording.windows(18).position(|w| w == b"event: messageStop").unwrap()];
    let out = String::from_utf8(translate(&passthrough, cut, 3)).unwrap();
    let (_, error) = out.rsplit_once("event: error\ndata: ").expect("an error event ends the stream");
    let error: Value = serde_json::from_str(error.trim_end()).unwrap();
    assert_eq!(error["error"]["type"], "api_error");
}

#[test]
fn captured_agent_requests_reach_a_converse_backend_with_their_tools_and_calls() {
    let config = Config::from_json(CONFIG).unwrap();
    let captures: [(Dialect, &str); 4] = [
        (Dialect::Anthropic, include_str!("../fixtures/captures/claude-code-tool-result.json")),
        (Dialect::OpenAiChat, include_str!("../fixtures/captures/opencode-chat-tools.json")),
        (Dialect::OpenAiResponses, include_str!("../fixtures/captures/codex-tool-result.json")),
        (Dialect::Gemini, include_str!("../fixtures/captures/gemini-cli-tool-result.json")),
    ];
    let converse = Dialect::BedrockConverse.codec();
    for (dialect, capture) in captures {
        let body = serde_json::from_str::<Value>(capture).unwrap()["body"].to_string();
        let mut ir = to_ir(dialect, body.as_bytes());
        ir.model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into();
        let (sent, _) = converse.request_from_ir(ir.clone(), &config.backends[0]).unwrap();
        let sent_json: Value = serde_json::from_slice(&sent).unwrap();
        assert!(sent_json.get("modelId").is_none() && sent_json.get("model").is_none(), "the model is in the URL");
        let back = ir::Request { model: ir.model.clone(), ..to_ir(Dialect::BedrockConverse, &sent) };
        let (again, _) = converse.request_from_ir(back.clone(), &config.backends[0]).unwrap();
        let again: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(again, sent_json, "{dialect:?}: Converse's own requests come back the same");
        assert_eq!(back.tools, ir.tools, "{dialect:?} tools");
        let calls = |request: &ir::Request| -> Vec<(String, Value)> {
            let parts = request.messages.iter().flat_map(|m| &m.content);
            parts
                .filter_map(|part| match part {
                    ir::Part::ToolCall(call) => Some((call.name.clone(), call.arguments_object())),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(calls(&back), calls(&ir), "{dialect:?} calls");
        let results = |request: &ir::Request| -> Vec<String> {
            let parts = request.messages.iter().flat_map(|m| &m.content);
            parts
                .filter_map(|part| match part {
                    ir::Part::ToolResult(result) => Some(ir::join_text(&result.content)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(results(&back), results(&ir), "{dialect:?} results");
        let roles: Vec<ir::Role> = back.messages.iter().map(|m| m.role).collect();
        assert!(roles.windows(2).all(|pair| pair[0] != pair[1]), "{dialect:?}: turns alternate");
    }
}

#[test]
fn whole_converse_answers_reach_other_clients() {
    let body = include_bytes!("../fixtures/wire/bedrock-tool-call.vercel.json");
    let chat = Exchange::between(Dialect::OpenAiChat, Dialect::BedrockConverse).translate_response(body).unwrap();
    let chat: Value = serde_json::from_slice(&chat).unwrap();
    let call = &chat["choices"][0]["message"]["tool_calls"][0];
    assert_eq!((call["id"].as_str(), call["function"]["name"].as_str()), (Some("tool-use-id"), Some("bash")));
    assert_eq!(call["function"]["arguments"], r#"{"command":"ls -l"}"#);
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        (chat["usage"]["prompt_tokens"].as_u64(), chat["usage"]["completion_tokens"].as_u64()),
        (Some(10), Some(20))
    );

    let body = include_bytes!("../fixtures/wire/bedrock-reasoning.vercel.json");
    let message = Exchange::between(Dialect::Anthropic, Dialect::BedrockConverse).translate_response(body).unwrap();
    let message: Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(message["content"][0]["type"], "thinking");
    assert!(message["content"][0]["signature"].as_str().unwrap().starts_with("llmproxy1.bedrock.EvYBCkgI"));
    assert!(message["content"][1]["text"].as_str().unwrap().starts_with("There are **3** r's"));
    assert_eq!(
        (message["usage"]["input_tokens"].as_u64(), message["usage"]["output_tokens"].as_u64()),
        (Some(51), Some(78))
    );

    let anthropic = include_bytes!("../fixtures/wire/anthropic-tool-use.vercel.json");
    let converse =
        Exchange::between(Dialect::BedrockConverse, Dialect::Anthropic).translate_response(anthropic).unwrap();
    let converse: Value = serde_json::from_slice(&converse).unwrap();
    let recorded: Value = serde_json::from_slice(anthropic).unwrap();
    let tool_use = &converse["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(tool_use["toolUseId"], recorded["content"][0]["id"]);
    assert_eq!(tool_use["input"], recorded["content"][0]["input"]);
    assert_eq!(converse["stopReason"], "tool_use");
}

#[test]
fn whole_answers_translate_both_ways() {
    let anthropic_body = include_bytes!("../fixtures/wire/anthropic-tool-use.vercel.json");
    let to_chat = Exchange::between(Dialect::OpenAiChat, Dialect::Anthropic);
    let recorded: Value = serde_json::from_slice(anthropic_body).unwrap();
    let chat: Value = serde_json::from_slice(&to_chat.translate_response(anthropic_body).unwrap()).unwrap();
    let call = &chat["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], recorded["content"][0]["id"]);
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["elements"][0]["location"], "San Francisco");
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");

    let chat_body = include_bytes!("../fixtures/wire/openai-chat-text.vercel.json");
    let to_anthropic = Exchange::between(Dialect::Anthropic, Dialect::OpenAiChat);
    let message: Value = serde_json::from_slice(&to_anthropic.translate_response(chat_body).unwrap()).unwrap();
    assert!(message["content"][0]["text"].as_str().unwrap().starts_with("**Holiday Name:** Galaxy Day"));
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(
        (message["usage"]["input_tokens"].as_u64(), message["usage"]["output_tokens"].as_u64()),
        (Some(16), Some(363))
    );
}

#[test]
fn requests_survive_a_round_trip_through_the_ir() {
    let config = Config::from_json(CONFIG).unwrap();
    let chat = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "R"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "max_completion_tokens": 9, "temperature": 0.1, "stop": ["x"]});
    let ir = to_ir(Dialect::OpenAiChat, chat.to_string().as_bytes());
    let (back, dropped) = openai_chat::request::from_ir(ir, &config.backends[0]).unwrap();
    assert!(dropped.is_empty());
    assert_eq!(serde_json::to_value(back).unwrap(), chat);

    let messages = json!({"model": "claude-x", "max_tokens": 9, "system": "S", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "T", "signature": "sig"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "R"}]}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "auto"},
        "stop_sequences": ["x"], "thinking": {"type": "enabled", "budget_tokens": 2048}});
    let ir = to_ir(Dialect::Anthropic, messages.to_string().as_bytes());
    let (back, dropped) = anthropic::request::from_ir(ir, &config.backends[1]).unwrap();
    assert!(dropped.is_empty());
    let mut back = serde_json::to_value(back).unwrap();
    back["max_tokens"] = json!(9);
    assert_eq!(back, messages);
}
