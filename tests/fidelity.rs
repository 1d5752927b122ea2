//! Recorded upstream streams that carry something easy to lose, translated for every other client
//! dialect and read the way that dialect's clients read them: streamed function arguments,
//! tools called with no arguments, an upstream's own error, and a refusal.

use llmproxy::dialect::Dialect;
use llmproxy::proxy::Exchange;
use llmproxy::sse;
use serde_json::{json, Value};

const DIALECTS: [Dialect; 5] = Dialect::ALL;

/// A `*.chunks.jsonl` recording as the SSE stream its backend sends (for Bedrock's, the SSE the
/// framing makes of its event-stream messages).
fn framed(name: &str, jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap();
        if name.starts_with("bedrock-") {
            // `{"<event type>": payload}`.
            for (kind, payload) in event.as_object().unwrap() {
                sse::write_event(&mut out, Some(kind), &payload.to_string());
            }
        } else {
            sse::write_event(&mut out, event["type"].as_str(), line);
        }
    }
    out
}

fn recording(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{}/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    if name.ends_with(".jsonl") {
        framed(name, &text)
    } else {
        text.into_bytes()
    }
}

/// The stream a client of `client` gets for `bytes` from a `backend` upstream, fed in pieces.
fn translated(client: Dialect, backend: Dialect, bytes: &[u8], piece: usize) -> Vec<(String, Value)> {
    let mut transcoder = Exchange::between(client, backend).transcoder();
    let mut out: Vec<u8> = bytes.chunks(piece).flat_map(|chunk| transcoder.push(chunk)).collect();
    out.extend(transcoder.end());
    let mut events = Vec::new();
    let mut parser = sse::Parser::new();
    let mut take = |event: sse::Event| {
        if event.data != "[DONE]" {
            events.push((event.event, serde_json::from_str(&event.data).unwrap()));
        }
    };
    parser.feed(&out, &mut take).unwrap();
    parser.finish(&mut take);
    events
}

/// The tool calls (name, arguments) a client of `client` assembles from its stream.
fn calls(client: Dialect, events: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut calls: Vec<(String, String)> = Vec::new();
    for (_, event) in events {
        match client {
            Dialect::OpenAiChat => {
                for call in event["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let index = call["index"].as_u64().unwrap() as usize;
                    if index == calls.len() {
                        calls.push((call["function"]["name"].as_str().unwrap().into(), String::new()));
                    }
                    calls[index].1.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
            Dialect::Anthropic => match event["type"].as_str() {
                Some("content_block_start") if event["content_block"]["type"] == "tool_use" => {
                    calls.push((event["content_block"]["name"].as_str().unwrap().into(), String::new()))
                }
                Some("content_block_delta") if event["delta"]["type"] == "input_json_delta" => {
                    calls.last_mut().unwrap().1.push_str(event["delta"]["partial_json"].as_str().unwrap())
                }
                _ => {}
            },
            // What Codex reads: the finished items of `response.completed`.
            Dialect::OpenAiResponses if event["type"] == "response.completed" => {
                for item in event["response"]["output"].as_array().unwrap() {
                    if item["type"] == "function_call" {
                        calls.push((item["name"].as_str().unwrap().into(), item["arguments"].as_str().unwrap().into()));
                    }
                }
            }
            Dialect::OpenAiResponses => {}
            Dialect::Gemini => {
                for part in event["candidates"][0]["content"]["parts"].as_array().into_iter().flatten() {
                    if let Some(call) = part.get("functionCall") {
                        calls.push((call["name"].as_str().unwrap().into(), call["args"].to_string()));
                    }
                }
            }
            Dialect::BedrockConverse => {
                if let Some(start) = event["start"].get("toolUse") {
                    calls.push((start["name"].as_str().unwrap().into(), String::new()));
                }
                if let Some(input) = event["delta"]["toolUse"]["input"].as_str() {
                    calls.last_mut().unwrap().1.push_str(input);
                }
            }
        }
    }
    calls.into_iter().map(|(name, arguments)| (name, serde_json::from_str(&arguments).unwrap())).collect()
}

#[test]
fn streamed_and_empty_function_arguments_reach_every_client_whole() {
    let cases = [
        (
            Dialect::Gemini,
            "gemini-partial-args.vercel.chunks.jsonl",
            vec![("getWeather", json!({"location": "Boston"})), ("getWeather", json!({"location": "San Francisco"}))],
        ),
        (
            Dialect::Gemini,
            "gemini-partial-args-no-args.vercel.chunks.jsonl",
            vec![
                ("read_theme", json!({})),
                ("read_screen", json!({"id": "A"})),
                ("read_screen", json!({"id": "B"})),
                ("read_screen", json!({"id": "C"})),
            ],
        ),
        (Dialect::Anthropic, "anthropic-tool-no-args.vercel.chunks.jsonl", vec![("updateIssueList", json!({}))]),
        (Dialect::BedrockConverse, "bedrock-tool-no-args.vercel.chunks.jsonl", vec![("updateIssueList", json!({}))]),
        (
            Dialect::BedrockConverse,
            "bedrock-redacted-tool.vercel.chunks.jsonl",
            vec![(
                "propose",
                json!({"groups": [{"name": "Sales", "parentGroupName": ""}, {"name": "Team1", "parentGroupName": "Sales"}]}),
            )],
        ),
    ];
    for (backend, name, expected) in cases {
        let bytes = recording(name);
        let expected: Vec<(String, Value)> = expected.into_iter().map(|(n, a)| (n.to_string(), a)).collect();
        for client in DIALECTS.into_iter().filter(|c| *c != backend) {
            for piece in [1, 7, bytes.len()] {
                let events = translated(client, backend, &bytes, piece);
                assert_eq!(calls(client, &events), expected, "{name} → {client:?} in pieces of {piece}");
            }
        }
    }
}

#[test]
fn the_nested_vertex_arguments_reach_every_client_whole() {
    let bytes = recording("vertex-partial-args-nested.vercel.chunks.jsonl");
    for client in [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::OpenAiResponses, Dialect::BedrockConverse] {
        let calls = calls(client, &translated(client, Dialect::Gemini, &bytes, 64));
        assert_eq!(calls.len(), 1, "{client:?}");
        let recipe = &calls[0].1["recipe"];
        assert_eq!(recipe["ingredients"][9]["name"].as_str().map(str::is_empty), Some(false), "{client:?}");
        assert_eq!(recipe["steps"][9], "Let stand for 15 minutes before serving.", "{client:?}");
    }
}

/// The error a client of `client` raises from its stream: what its SDK reads of the error event.
fn stream_error(client: Dialect, events: &[(String, Value)]) -> Value {
    let (name, event) = events.last().expect("an error event ends the stream");
    match client {
        Dialect::Anthropic => {
            assert_eq!(name, "error");
            event["error"].clone()
        }
        Dialect::OpenAiResponses => {
            assert_eq!(event["type"], "response.failed");
            event["response"]["error"].clone()
        }
        Dialect::OpenAiChat | Dialect::Gemini => event["error"].clone(),
        // The event the reframer turns into the exception AWS SDKs raise.
        Dialect::BedrockConverse => {
            assert_eq!(name, "error");
            event["error"].clone()
        }
    }
}

#[test]
fn an_upstream_error_event_reaches_every_client_with_its_message_and_kind() {
    let bytes = recording("openai-responses-error.vercel.chunks.jsonl");
    let quota = "You exceeded your current quota, please check your plan and billing details.";
    for client in [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::Gemini, Dialect::BedrockConverse] {
        let error = stream_error(client, &translated(client, Dialect::OpenAiResponses, &bytes, 7));
        assert!(error["message"].as_str().unwrap().starts_with(quota), "{client:?}: {error}");
        match client {
            Dialect::OpenAiChat => assert_eq!(
                (error["type"].as_str(), error["code"].as_str()),
                (Some("insufficient_quota"), Some("insufficient_quota"))
            ),
            Dialect::Anthropic | Dialect::BedrockConverse => assert_eq!(error["type"], "billing_error"),
            _ => assert_eq!(error["status"], "RESOURCE_EXHAUSTED"),
        }
    }
    // An Anthropic error event, read by a Responses client: the failed response carries it.
    let overloaded = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let error = stream_error(
        Dialect::OpenAiResponses,
        &translated(Dialect::OpenAiResponses, Dialect::Anthropic, overloaded, 5),
    );
    assert_eq!(error["message"], "Overloaded");
}

#[test]
fn a_chat_refusal_is_each_clients_own_refusal() {
    let bytes = recording("openai-chat-refusal.sdkpy.sse");
    let refusal = "I'm sorry, I can't assist with that request.";
    let responses = translated(Dialect::OpenAiResponses, Dialect::OpenAiChat, &bytes, 7);
    let (_, completed) = responses.last().unwrap();
    assert_eq!(
        (completed["type"].as_str(), completed["response"]["status"].as_str()),
        (Some("response.completed"), Some("completed"))
    );
    assert_eq!(completed["response"]["output"][0]["content"], json!([{"type": "refusal", "refusal": refusal}]));
    let deltas: String = responses
        .iter()
        .filter(|(name, _)| name == "response.refusal.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, refusal);
    assert!(responses.iter().any(|(name, e)| name == "response.refusal.done" && e["refusal"] == refusal));

    let anthropic = translated(Dialect::Anthropic, Dialect::OpenAiChat, &bytes, 7);
    let text: String = anthropic.iter().filter_map(|(_, e)| e["delta"]["text"].as_str()).collect();
    let stop = anthropic.iter().find_map(|(_, e)| e["delta"]["stop_reason"].as_str());
    assert_eq!((text.as_str(), stop), (refusal, Some("refusal")));

    let gemini = translated(Dialect::Gemini, Dialect::OpenAiChat, &bytes, 7);
    let text: String =
        gemini.iter().filter_map(|(_, e)| e["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(text, refusal);
    assert_eq!(gemini.last().unwrap().1["candidates"][0]["finishReason"], "STOP");

    // A Responses refusal comes back to Chat clients as Chat's own refusal.
    let again: Vec<u8> = responses
        .iter()
        .flat_map(|(name, event)| {
            let mut out = Vec::new();
            sse::write_event(&mut out, Some(name), &event.to_string());
            out
        })
        .collect();
    let chat = translated(Dialect::OpenAiChat, Dialect::OpenAiResponses, &again, 11);
    let text: String = chat.iter().filter_map(|(_, e)| e["choices"][0]["delta"]["refusal"].as_str()).collect();
    let content: String = chat.iter().filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!((text.as_str(), content.as_str()), (refusal, ""));
    assert_eq!(chat.iter().find_map(|(_, e)| e["choices"][0]["finish_reason"].as_str()), Some("stop"));
}

#[test]
fn a_whole_chat_refusal_is_a_completed_responses_answer_with_a_refusal_part() {
    let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}});
    let body = Exchange::between(Dialect::OpenAiResponses, Dialect::OpenAiChat)
        .translate_response(answer.to_string().as_bytes())
        .unwrap();
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"][0]["content"], json!([{"type": "refusal", "refusal": "I can't help with that."}]));
    let back = Exchange::between(Dialect::OpenAiChat, Dialect::OpenAiResponses).translate_response(&body).unwrap();
    let back: Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(back["choices"][0]["message"]["refusal"], "I can't help with that.");
    assert_eq!(back["choices"][0]["message"]["content"], Value::Null);
}

/// What a client of `client` reads of a stream: its text, its reasoning, its stop reason and its
/// usage (prompt, output), each from where that dialect's SDKs take them.
fn answer(client: Dialect, events: &[(String, Value)]) -> (String, String, String, (u64, u64)) {
    let (mut text, mut thinking, mut stop, mut usage) = (String::new(), String::new(), String::new(), (0, 0));
    let tokens =
        |usage: &Value, input: &str, output: &str| (usage[input].as_u64().unwrap(), usage[output].as_u64().unwrap());
    for (name, event) in events {
        match client {
            Dialect::OpenAiChat => {
                let delta = &event["choices"][0]["delta"];
                text.push_str(delta["content"].as_str().unwrap_or(""));
                thinking.push_str(delta["reasoning_content"].as_str().unwrap_or(""));
                if let Some(reason) = event["choices"][0]["finish_reason"].as_str() {
                    stop = reason.into();
                }
                if event["usage"].is_object() {
                    usage = tokens(&event["usage"], "prompt_tokens", "completion_tokens");
                }
            }
            Dialect::Anthropic => {
                text.push_str(event["delta"]["text"].as_str().unwrap_or(""));
                thinking.push_str(event["delta"]["thinking"].as_str().unwrap_or(""));
                if name == "message_delta" {
                    stop = event["delta"]["stop_reason"].as_str().unwrap().into();
                    usage = tokens(&event["usage"], "input_tokens", "output_tokens");
                }
            }
            Dialect::OpenAiResponses if event["type"] == "response.completed" => {
                for item in event["response"]["output"].as_array().unwrap() {
                    for part in item["content"].as_array().into_iter().chain(item["summary"].as_array()).flatten() {
                        let into = if item["type"] == "reasoning" { &mut thinking } else { &mut text };
                        into.push_str(part["text"].as_str().unwrap_or(""));
                    }
                }
                stop = event["response"]["status"].as_str().unwrap().into();
                usage = tokens(&event["response"]["usage"], "input_tokens", "output_tokens");
            }
            Dialect::OpenAiResponses => {}
            Dialect::Gemini => {
                let candidate = &event["candidates"][0];
                for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
                    let into = if part["thought"] == true { &mut thinking } else { &mut text };
                    into.push_str(part["text"].as_str().unwrap_or(""));
                }
                if let Some(reason) = candidate["finishReason"].as_str() {
                    stop = reason.into();
                    usage = tokens(&event["usageMetadata"], "promptTokenCount", "candidatesTokenCount");
                }
            }
            Dialect::BedrockConverse => {
                text.push_str(event["delta"]["text"].as_str().unwrap_or(""));
                thinking.push_str(event["delta"]["reasoningContent"]["text"].as_str().unwrap_or(""));
                match name.as_str() {
                    "messageStop" => stop = event["stopReason"].as_str().unwrap().into(),
                    "metadata" => usage = tokens(&event["usage"], "inputTokens", "outputTokens"),
                    _ => {}
                }
            }
        }
    }
    (text, thinking, stop, usage)
}

#[test]
fn a_recorded_converse_answer_with_reasoning_reads_the_same_in_every_client() {
    let bytes = recording("bedrock-reasoning.vercel.chunks.jsonl");
    let text = "There are **3** r's in \"strawberry\":\n\n1. st**r**awbe**r****r**y";
    let thinking = "Let me count the r's in \"strawberry\":\n\ns-t-r-a-w-b-e-r-r-y\n\nr appears at positions 3, 8, and 9.\n\nSo there are 3 r's.";
    for (client, stop) in [
        (Dialect::OpenAiChat, "stop"),
        (Dialect::Anthropic, "end_turn"),
        (Dialect::OpenAiResponses, "completed"),
        (Dialect::Gemini, "STOP"),
        (Dialect::BedrockConverse, "end_turn"),
    ] {
        for piece in [1, 7, bytes.len()] {
            let events = translated(client, Dialect::BedrockConverse, &bytes, piece);
            let expected = (text.to_string(), thinking.to_string(), stop.to_string(), (51, 94));
            assert_eq!(answer(client, &events), expected, "{client:?} in pieces of {piece}");
        }
    }
}

#[test]
fn converse_reasoning_comes_back_to_converse_from_an_anthropic_client() {
    let bytes = recording("bedrock-reasoning.vercel.chunks.jsonl");
    let events = translated(Dialect::Anthropic, Dialect::BedrockConverse, &bytes, 64);
    let signature: String = events.iter().filter_map(|(_, e)| e["delta"]["signature"].as_str()).collect();
    assert!(signature.starts_with("llmproxy1.bedrock.Ep0CCkgI"), "sealed for the client: {signature}");
    let turn = json!({"model": "claude", "max_tokens": 10, "messages": [
        {"role": "user", "content": "How many r's?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "Let me count.", "signature": signature},
                                          {"type": "text", "text": "3"}]},
        {"role": "user", "content": "Sure?"}]});
    let mut request = Dialect::Anthropic.codec().request_to_ir(turn.to_string().as_bytes()).unwrap();
    request.model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into();
    let config =
        llmproxy::config::Config::from_json(r#"{"backends": [{"name": "b", "kind": "mock", "models": ["*"]}]}"#);
    let (body, dropped) =
        Dialect::BedrockConverse.codec().request_from_ir(request, &config.unwrap().backends[0]).unwrap();
    assert!(dropped.is_empty(), "{dropped:?}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    let reasoning = &body["messages"][1]["content"][0]["reasoningContent"]["reasoningText"];
    assert_eq!(reasoning["text"], "Let me count.");
    assert!(reasoning["signature"].as_str().unwrap().starts_with("Ep0CCkgICxAB"), "unsealed for Bedrock");
}
