//! Recorded upstream streams that carry something easy to lose, translated for every other client
//! dialect and read the way that dialect's clients read them: streamed function arguments,
//! tools called with no arguments, an upstream's own error, and a refusal.

use llmproxy::dialect::Dialect;
use llmproxy::proxy::Exchange;
use llmproxy::sse;
use serde_json::{json, Value};

const DIALECTS: [Dialect; 4] = [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::OpenAiResponses, Dialect::Gemini];

/// A `*.chunks.jsonl` recording as the SSE stream its backend sends.
fn framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let kind = serde_json::from_str::<Value>(line).unwrap()["type"].as_str().map(str::to_string);
        sse::write_event(&mut out, kind.as_deref(), line);
    }
    out
}

fn recording(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{}/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    if name.ends_with(".jsonl") {
        framed(&text)
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
    for client in [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::OpenAiResponses] {
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
    }
}

#[test]
fn an_upstream_error_event_reaches_every_client_with_its_message_and_kind() {
    let bytes = recording("openai-responses-error.vercel.chunks.jsonl");
    let quota = "You exceeded your current quota, please check your plan and billing details.";
    for client in [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::Gemini] {
        let error = stream_error(client, &translated(client, Dialect::OpenAiResponses, &bytes, 7));
        assert!(error["message"].as_str().unwrap().starts_with(quota), "{client:?}: {error}");
        match client {
            Dialect::OpenAiChat => assert_eq!(
                (error["type"].as_str(), error["code"].as_str()),
                (Some("insufficient_quota"), Some("insufficient_quota"))
            ),
            Dialect::Anthropic => assert_eq!(error["type"], "billing_error"),
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
