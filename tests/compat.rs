//! OpenAI-compatible servers and their quirks (`compat` in the config): recorded DeepSeek and xAI
//! answers, whole and streamed, read by a client of every dialect, whose reasoning must reach it
//! as that dialect's reasoning and whose usage must count it; what each server is sent; a
//! recorded Ollama stream without usage; and servers that send reasoning of the wrong type or size.

use llmproxy::config::{Backend, Config};
use llmproxy::dialect::Dialect;
use llmproxy::ir::Request;
use llmproxy::proxy::Exchange;
use llmproxy::sse;
use llmproxy::transcode::Transcoder;
use serde_json::{json, Value};

const DIALECTS: [Dialect; 5] = Dialect::ALL;

fn wire(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A `*.chunks.jsonl` Chat recording as the SSE stream its server sends.
fn framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        sse::write_event(&mut out, None, line);
    }
    out
}

/// What a client makes of an answer: reasoning, text, tool calls (name, arguments) and the output
/// tokens it is told of.
#[derive(Debug, PartialEq)]
struct Seen {
    reasoning: String,
    text: String,
    tools: Vec<(String, Value)>,
    output_tokens: u64,
}

fn arguments(text: &Value) -> Value {
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

/// A whole answer, as a client of `client` reads it.
fn read_whole(client: Dialect, answer: &Value) -> Seen {
    let mut seen = Seen { reasoning: String::new(), text: String::new(), tools: Vec::new(), output_tokens: 0 };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match client {
        Dialect::OpenAiChat => {
            let message = &answer["choices"][0]["message"];
            (seen.reasoning, seen.text) = (text(&message["reasoning_content"]), text(&message["content"]));
            for call in message["tool_calls"].as_array().into_iter().flatten() {
                seen.tools.push((text(&call["function"]["name"]), arguments(&call["function"]["arguments"])));
            }
            seen.output_tokens = answer["usage"]["completion_tokens"].as_u64().unwrap();
        }
        Dialect::Anthropic => {
            for block in answer["content"].as_array().unwrap() {
                match block["type"].as_str().unwrap() {
                    "thinking" => seen.reasoning.push_str(block["thinking"].as_str().unwrap()),
                    "text" => seen.text.push_str(block["text"].as_str().unwrap()),
                    "tool_use" => seen.tools.push((text(&block["name"]), block["input"].clone())),
                    other => panic!("a `{other}` block"),
                }
            }
            seen.output_tokens = answer["usage"]["output_tokens"].as_u64().unwrap();
        }
        Dialect::OpenAiResponses => {
            for item in answer["output"].as_array().unwrap() {
                match item["type"].as_str().unwrap() {
                    "reasoning" => item["summary"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .for_each(|s| seen.reasoning.push_str(&text(&s["text"]))),
                    "message" => {
                        item["content"].as_array().unwrap().iter().for_each(|p| seen.text.push_str(&text(&p["text"])))
                    }
                    "function_call" => seen.tools.push((text(&item["name"]), arguments(&item["arguments"]))),
                    other => panic!("a `{other}` item"),
                }
            }
            seen.output_tokens = answer["usage"]["output_tokens"].as_u64().unwrap();
        }
        Dialect::Gemini => {
            for part in answer["candidates"][0]["content"]["parts"].as_array().unwrap() {
                if let Some(call) = part.get("functionCall") {
                    seen.tools.push((text(&call["name"]), call["args"].clone()));
                } else if part["thought"] == true {
                    seen.reasoning.push_str(&text(&part["text"]));
                } else {
                    seen.text.push_str(&text(&part["text"]));
                }
            }
            let usage = &answer["usageMetadata"];
            seen.output_tokens =
                ["candidatesTokenCount", "thoughtsTokenCount"].iter().filter_map(|k| usage[k].as_u64()).sum();
        }
        Dialect::BedrockConverse => {
            for block in answer["output"]["message"]["content"].as_array().unwrap() {
                seen.reasoning.push_str(&text(&block["reasoningContent"]["reasoningText"]["text"]));
                seen.text.push_str(&text(&block["text"]));
                if let Some(call) = block.get("toolUse") {
                    seen.tools.push((text(&call["name"]), call["input"].clone()));
                }
            }
            seen.output_tokens = answer["usage"]["outputTokens"].as_u64().unwrap();
        }
    }
    seen
}

/// A stream's events (name, payload), as a client of `client` gets them for `bytes` from a Chat
/// server, fed in pieces of `piece` bytes; through the IR for Chat clients too, as a route that
/// renames nothing would not take them.
fn translated(client: Dialect, bytes: &[u8], piece: usize) -> Vec<(String, Value)> {
    let encoder = client.codec().encoder(&Exchange::between(client, Dialect::OpenAiChat).context);
    let mut transcoder = Transcoder::translate(client, Dialect::OpenAiChat.codec().decoder(), encoder);
    let mut out: Vec<u8> = bytes.chunks(piece).flat_map(|chunk| transcoder.push(chunk)).collect();
    out.extend(transcoder.end());
    let mut events = Vec::new();
    let mut take = |event: sse::Event| {
        if event.data != "[DONE]" {
            events.push((event.event, serde_json::from_str(&event.data).unwrap()));
        }
    };
    let mut parser = sse::Parser::new();
    parser.feed(&out, &mut take).unwrap();
    parser.finish(&mut take);
    events
}

/// A stream, as a client of `client` reads it.
fn read_stream(client: Dialect, events: &[(String, Value)]) -> Seen {
    let mut seen = Seen { reasoning: String::new(), text: String::new(), tools: Vec::new(), output_tokens: 0 };
    let mut partial: Vec<(String, String)> = Vec::new();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for (name, event) in events {
        assert!(event.get("error").is_none() && event["type"] != "error", "the stream failed: {event}");
        match client {
            Dialect::OpenAiChat => {
                let delta = &event["choices"][0]["delta"];
                seen.reasoning.push_str(&text(&delta["reasoning_content"]));
                seen.text.push_str(&text(&delta["content"]));
                for call in delta["tool_calls"].as_array().into_iter().flatten() {
                    let index = call["index"].as_u64().unwrap() as usize;
                    if index == partial.len() {
                        partial.push((text(&call["function"]["name"]), String::new()));
                    }
                    partial[index].1.push_str(&text(&call["function"]["arguments"]));
                }
                if let Some(tokens) = event["usage"]["completion_tokens"].as_u64() {
                    seen.output_tokens = tokens;
                }
            }
            Dialect::Anthropic => match event["type"].as_str().unwrap() {
                "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                    partial.push((text(&event["content_block"]["name"]), String::new()))
                }
                "content_block_delta" => {
                    let delta = &event["delta"];
                    seen.reasoning.push_str(&text(&delta["thinking"]));
                    seen.text.push_str(&text(&delta["text"]));
                    if let Some(json) = delta["partial_json"].as_str() {
                        partial.last_mut().unwrap().1.push_str(json);
                    }
                }
                "message_delta" => seen.output_tokens = event["usage"]["output_tokens"].as_u64().unwrap(),
                _ => {}
            },
            // What an SDK keeps: the response `response.completed` carries.
            Dialect::OpenAiResponses if event["type"] == "response.completed" => {
                return read_whole(client, &event["response"]);
            }
            Dialect::OpenAiResponses => {}
            Dialect::Gemini => {
                let chunk = read_whole(client, event);
                seen.reasoning.push_str(&chunk.reasoning);
                seen.text.push_str(&chunk.text);
                seen.tools.extend(chunk.tools);
                seen.output_tokens = seen.output_tokens.max(chunk.output_tokens);
            }
            Dialect::BedrockConverse => match name.as_str() {
                "contentBlockStart" if event["start"].get("toolUse").is_some() => {
                    partial.push((text(&event["start"]["toolUse"]["name"]), String::new()))
                }
                "contentBlockDelta" => {
                    let delta = &event["delta"];
                    seen.reasoning.push_str(&text(&delta["reasoningContent"]["text"]));
                    seen.text.push_str(&text(&delta["text"]));
                    if let Some(json) = delta["toolUse"]["input"].as_str() {
                        partial.last_mut().unwrap().1.push_str(json);
                    }
                }
                "metadata" => seen.output_tokens = event["usage"]["outputTokens"].as_u64().unwrap(),
                _ => {}
            },
        }
    }
    seen.tools.extend(partial.into_iter().map(|(name, args)| (name, serde_json::from_str(&args).unwrap())));
    seen
}

/// What a recorded Chat answer means, read from its JSON: reasoning in `reasoning_content`, and
/// every token the model wrote as output (xAI counts reasoning beside `completion_tokens`).
fn recorded_whole(answer: &Value, reasoning_beside: bool) -> Seen {
    let mut seen = read_whole(Dialect::OpenAiChat, answer);
    if reasoning_beside {
        seen.output_tokens += answer["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap();
    }
    seen
}

fn recorded_stream(jsonl: &str, reasoning_beside: bool) -> Seen {
    let events: Vec<(String, Value)> = jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (String::new(), serde_json::from_str(l).unwrap()))
        .collect();
    let mut seen = read_stream(Dialect::OpenAiChat, &events);
    if reasoning_beside {
        let usage = events.iter().rev().find_map(|(_, e)| e.get("usage").filter(|u| !u.is_null())).unwrap();
        seen.output_tokens += usage["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap();
    }
    seen
}

#[test]
fn recorded_deepseek_and_xai_reasoning_reaches_every_client_as_its_own() {
    let whole = [
        ("deepseek-reasoning.vercel.json", false),
        ("deepseek-tool-call.vercel.json", false),
        ("xai-tool-call.vercel.json", true),
    ];
    for (name, reasoning_beside) in whole {
        let body = wire(name);
        let expected = recorded_whole(&serde_json::from_str(&body).unwrap(), reasoning_beside);
        assert!(!expected.reasoning.is_empty() && expected.output_tokens > 0, "{name} holds reasoning");
        for client in DIALECTS {
            let answer = Exchange::between(client, Dialect::OpenAiChat).translate_response(body.as_bytes()).unwrap();
            let seen = read_whole(client, &serde_json::from_slice(&answer).unwrap());
            assert_eq!(seen, expected, "{name} → {client:?}");
        }
    }
    let streams = [("deepseek-tool-call.vercel.chunks.jsonl", false), ("xai-text.vercel.chunks.jsonl", true)];
    for (name, reasoning_beside) in streams {
        let jsonl = wire(name);
        let expected = recorded_stream(&jsonl, reasoning_beside);
        assert!(!expected.reasoning.is_empty(), "{name} holds reasoning");
        let bytes = framed(&jsonl);
        for client in DIALECTS {
            for piece in [1, 7, bytes.len()] {
                let seen = read_stream(client, &translated(client, &bytes, piece));
                assert_eq!(seen, expected, "{name} → {client:?} in pieces of {piece}");
            }
        }
    }
}

#[test]
fn reasoning_reaches_anthropic_clients_as_thinking_blocks_before_the_answer() {
    let body = wire("deepseek-tool-call.vercel.json");
    let answer =
        Exchange::between(Dialect::Anthropic, Dialect::OpenAiChat).translate_response(body.as_bytes()).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let kinds: Vec<&str> = answer["content"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["thinking", "tool_use"]);
    assert_eq!(answer["content"][0]["signature"], "", "DeepSeek signs nothing");
    assert_eq!(answer["stop_reason"], "tool_use");
}

const CONFIG: &str = r#"{"backends": [
    {"name": "openai", "kind": "openai", "models": ["gpt-*"]},
    {"name": "deepseek", "kind": "openai", "base_url": "https://api.deepseek.com", "models": ["deepseek-*"]},
    {"name": "xai", "kind": "openai", "base_url": "https://api.x.ai/v1", "models": ["grok-*"]},
    {"name": "ollama", "kind": "openai", "base_url": "http://127.0.0.1:11434/v1", "compat": "ollama", "models": ["qwen*"]},
    {"name": "vllm", "kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "compat": "vllm", "models": ["Qwen/**"]}]}"#;

fn backend(name: &str) -> Backend {
    let config = Config::from_json(CONFIG).unwrap();
    config.backends.into_iter().find(|b| b.name == name).unwrap()
}

/// The Chat request `backend` is sent for an Anthropic client's request, and what was dropped.
fn sent(body: &Value, backend: &Backend) -> (Value, Vec<String>) {
    let ir: Request = Dialect::Anthropic.codec().request_to_ir(body.to_string().as_bytes()).unwrap();
    let (bytes, dropped) = Dialect::OpenAiChat.codec().request_from_ir(ir, backend).unwrap();
    (serde_json::from_slice(&bytes).unwrap(), dropped)
}

/// A second turn of a tool loop, as an Anthropic client sends it: the first answer's reasoning
/// (unsigned: it came from a Chat server) and tool call, then the result.
fn tool_loop(model: &str, thinking: Option<&str>) -> Value {
    let mut assistant =
        vec![json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {"location": "Paris"}})];
    if let Some(thinking) = thinking {
        assistant.insert(0, json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    json!({"model": model, "max_tokens": 100, "stream": true, "stop_sequences": ["END"],
           "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
           "messages": [{"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": assistant},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "Sunny"}]}]})
}

#[test]
fn deepseek_gets_tool_turns_whole_and_openai_as_before() {
    let (deepseek, dropped) =
        sent(&tool_loop("deepseek-reasoner", Some("I should call the weather tool.")), &backend("deepseek"));
    let turn = &deepseek["messages"][1];
    assert_eq!((turn["role"].as_str(), turn["content"].as_str()), (Some("assistant"), Some("")), "{turn}");
    assert_eq!(turn["reasoning_content"], "I should call the weather tool.");
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!((deepseek["max_tokens"].as_u64(), deepseek.get("max_completion_tokens")), (Some(100), None));

    let (without, _) = sent(&tool_loop("deepseek-chat", None), &backend("deepseek"));
    assert_eq!(
        (without["messages"][1]["content"].as_str(), without["messages"][1]["reasoning_content"].as_str()),
        (Some(""), Some(""))
    );

    let (openai, dropped) = sent(&tool_loop("gpt-5", Some("I should call the weather tool.")), &backend("openai"));
    let turn = openai["messages"][1].as_object().unwrap();
    assert!(!turn.contains_key("content") && !turn.contains_key("reasoning_content"), "{turn:?}");
    assert_eq!(dropped, ["thinking"]);
    assert_eq!((openai["max_completion_tokens"].as_u64(), openai.get("max_tokens")), (Some(100), None));
}

#[test]
fn xai_gets_no_stop_and_says_so() {
    let (xai, dropped) = sent(&tool_loop("grok-4", None), &backend("xai"));
    assert_eq!((xai.get("stop"), dropped), (None, vec!["stop".to_string()]));
    assert_eq!(xai["stream_options"], json!({"include_usage": true}));
    let (openai, _) = sent(&tool_loop("gpt-5", None), &backend("openai"));
    assert_eq!(openai["stop"], json!(["END"]));
}

#[test]
fn vllm_is_never_asked_for_stream_options_and_ollama_still_is() {
    let (vllm, _) = sent(&tool_loop("Qwen/Qwen3-8B", None), &backend("vllm"));
    assert_eq!((vllm.get("stream_options"), vllm["max_tokens"].as_u64()), (None, Some(100)));
    let (ollama, _) = sent(&tool_loop("qwen3:8b", None), &backend("ollama"));
    assert_eq!(
        (&ollama["stream_options"], ollama["max_tokens"].as_u64()),
        (&json!({"include_usage": true}), Some(100))
    );
    // A Chat client's own request, passed through and metered: only the backends that take it
    // are asked for the usage chunk.
    let body = br#"{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let codec = Dialect::OpenAiChat.codec();
    assert!(codec.with_usage_reported(body, &backend("vllm")).unwrap().is_none());
    let asked: Value =
        serde_json::from_slice(&codec.with_usage_reported(body, &backend("ollama")).unwrap().unwrap()).unwrap();
    assert_eq!(asked["stream_options"], json!({"include_usage": true}));
}

#[test]
fn a_recorded_ollama_stream_without_usage_is_estimated_and_its_parallel_calls_arrive() {
    let bytes = framed(&wire("ollama-parallel-tools.asknvim.chunks.jsonl"));
    let mut metered = Transcoder::passthrough(Dialect::OpenAiChat).metered(false);
    let mut out = metered.push(&bytes);
    out.extend(metered.end());
    assert_eq!(out, bytes, "passed through as it came");
    let usage = metered.usage().expect("what it streamed is counted");
    assert!(!usage.reported && usage.usage.output_tokens > 0, "{usage:?}");
    let calls = [
        ("run_command".to_string(), json!({"command": "ls"})),
        ("run_command".to_string(), json!({"command": "ls -l"})),
    ];
    for client in DIALECTS {
        assert_eq!(read_stream(client, &translated(client, &bytes, 9)).tools, calls, "{client:?}");
    }
}

/// A Chat stream whose first chunk carries `reasoning` as `value` (raw JSON), then text.
fn with_reasoning(field: &str, value: &str) -> Vec<u8> {
    let chunk = |delta: &str, finish: &str| {
        format!(
            r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#
        )
    };
    let mut out = Vec::new();
    sse::write_event(&mut out, None, &chunk(&format!(r#"{{"role":"assistant","{field}":{value}}}"#), "null"));
    sse::write_event(&mut out, None, &chunk(r#"{"content":"Hello"}"#, "null"));
    sse::write_event(&mut out, None, &chunk("{}", r#""stop""#));
    sse::write_event(&mut out, None, "[DONE]");
    out
}

#[test]
fn reasoning_of_the_wrong_type_or_huge_does_not_break_the_stream() {
    let huge = "r".repeat(2 << 20);
    for field in ["reasoning_content", "reasoning"] {
        for value in ["42", "{\"text\":\"x\"}", "[\"a\",\"b\"]", "true", "null"] {
            let bytes = with_reasoning(field, value);
            for client in DIALECTS {
                let seen = read_stream(client, &translated(client, &bytes, 5));
                assert_eq!(
                    (seen.reasoning.as_str(), seen.text.as_str()),
                    ("", "Hello"),
                    "{field}: {value} → {client:?}"
                );
            }
        }
        let bytes = with_reasoning(field, &serde_json::to_string(&huge).unwrap());
        for client in DIALECTS {
            let seen = read_stream(client, &translated(client, &bytes, 64 << 10));
            assert_eq!((seen.reasoning.len(), seen.text.as_str()), (huge.len(), "Hello"), "{field} → {client:?}");
        }
    }
    // The same in a whole answer.
    let answer = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "reasoning_content": {"oops": 1}},
                     "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    for client in DIALECTS {
        let body =
            Exchange::between(client, Dialect::OpenAiChat).translate_response(answer.to_string().as_bytes()).unwrap();
        let seen = read_whole(client, &serde_json::from_slice(&body).unwrap());
        assert_eq!((seen.reasoning.as_str(), seen.text.as_str()), ("", "Hello"), "{client:?}");
    }
}
