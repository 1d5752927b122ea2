use super::*;
use crate::codec::{test_support, Framing};
use crate::error::ErrorKind;
use crate::ir::{BlockStart, EmptyArguments};
use crate::transcode::framing::reframe;

const TEXT: &str = include_str!("../../../fixtures/wire/bedrock-text.vercel.chunks.jsonl");
const TOOL_CALL: &str = include_str!("../../../fixtures/wire/bedrock-tool-call.vercel.chunks.jsonl");
const REASONING: &str = include_str!("../../../fixtures/wire/bedrock-reasoning.vercel.chunks.jsonl");
const REDACTED_TOOL: &str = include_str!("../../../fixtures/wire/bedrock-redacted-tool.vercel.chunks.jsonl");
const TOOL_NO_ARGS: &str = include_str!("../../../fixtures/wire/bedrock-tool-no-args.vercel.chunks.jsonl");

/// A recording's lines (`{"<event type>": payload}`) as the SSE stream the framing makes of them.
fn framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|line| !line.trim().is_empty()) {
        let event: serde_json::Map<String, Value> = serde_json::from_slice(line.as_bytes()).unwrap();
        let (name, payload) = event.into_iter().next().unwrap();
        sse::write_event(&mut out, Some(&name), &payload.to_string());
    }
    out
}

fn event(name: &str, data: Value) -> sse::Event {
    sse::Event { event: name.into(), data: data.to_string() }
}

fn decode_until_end(bytes: &[u8], piece: usize) -> (Vec<StreamEvent>, Result<(), ProxyError>) {
    test_support::decode_until_end(&mut Decoder::default(), bytes, piece)
}

fn decode(bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
    test_support::decode(&mut Decoder::default(), bytes, piece)
}

fn encode(events: Vec<StreamEvent>) -> Vec<u8> {
    test_support::encode(&mut Encoder, events)
}

/// The events of an encoded stream, as (type, payload).
fn written(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    sse::Parser::new()
        .feed(bytes, &mut |event| events.push((event.event, serde_json::from_slice(event.data.as_bytes()).unwrap())))
        .unwrap();
    events
}

fn start() -> StreamEvent {
    StreamEvent::Start { id: String::new(), model: String::new(), usage: Usage::default() }
}

fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
    Usage { input_tokens, output_tokens, ..Usage::default() }
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Delta { delta: Delta::Text(text), .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_recorded_text_decodes_alike_in_any_pieces() {
    let stream = framed(TEXT);
    for piece in [1, 7, stream.len()] {
        let events = decode(&stream, piece);
        assert_eq!(events[..2], [start(), StreamEvent::BlockStart { index: 0, block: BlockStart::Text }]);
        assert_eq!(
            events[events.len() - 2..],
            [
                StreamEvent::BlockStop { index: 0 },
                StreamEvent::Finish {
                    stop_reason: Some(StopReason::EndTurn),
                    stop_sequence: None,
                    usage: usage(22, 55)
                },
            ],
            "pieces of {piece}"
        );
        assert_eq!(text_of(&events), "Let me count the \"r\"s in \"strawberry\":\n\ns-t-**r**-a-w-b-e-**r**-**r**-y\n\nThere are **3** r's in \"strawberry.\"");
    }
}

#[test]
fn a_recorded_call_decodes_whatever_the_order_of_its_stop_and_usage() {
    // This recording has its usage before its stop reason.
    let expected = vec![
        start(),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::ToolCall { id: "tool-use-id".into(), name: "test-tool".into() },
        },
        StreamEvent::Delta { index: 0, delta: Delta::ToolArguments("{\"value\":".into()) },
        StreamEvent::Delta { index: 0, delta: Delta::ToolArguments("\"Sparkle Day\"}".into()) },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::Finish { stop_reason: Some(StopReason::ToolUse), stop_sequence: None, usage: usage(125, 45) },
    ];
    let stream = framed(TOOL_CALL);
    for piece in [1, 7, stream.len()] {
        assert_eq!(decode(&stream, piece), expected, "pieces of {piece}");
    }
    // A call streamed with no arguments gets the empty object, as every stream does.
    let mut events = decode(&framed(TOOL_NO_ARGS), 5);
    EmptyArguments::default().fill(&mut events);
    assert_eq!(text_of(&events), "I'll update the issue list for you.");
    assert_eq!(events[5], StreamEvent::Delta { index: 1, delta: Delta::ToolArguments("{}".into()) });
}

#[test]
fn recorded_reasoning_keeps_its_signature_and_its_redacted_content() {
    let events = decode(&framed(REASONING), 7);
    let thinking: String = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Delta { index: 0, delta: Delta::Thinking(text) } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(thinking.starts_with("Let me count the r's") && thinking.ends_with("So there are 3 r's."));
    let signature = events.iter().find_map(|event| match event {
        StreamEvent::Delta { index: 0, delta: Delta::Signature(signature) } => Some(signature),
        _ => None,
    });
    assert_eq!(signature.map(|s| (s.provider, &s.value[..12])), Some((Provider::Bedrock, "Ep0CCkgICxAB")));
    assert_eq!(events[1], StreamEvent::BlockStart { index: 0, block: BlockStart::Thinking });
    assert!(events.contains(&StreamEvent::BlockStart { index: 1, block: BlockStart::Text }));
    assert!(text_of(&events).starts_with("There are **3** r's"));

    let events = decode(&framed(REDACTED_TOOL), 3);
    let StreamEvent::BlockStart { index: 0, block: BlockStart::RedactedThinking { data } } = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert!(data.value.starts_with("cnNuX3BVUGgx") && data.provider == Provider::Bedrock);
    assert_eq!(events[2], StreamEvent::BlockStop { index: 0 });
    let arguments: String = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Delta { index: 1, delta: Delta::ToolArguments(a) } => Some(a.as_str()),
            _ => None,
        })
        .collect();
    let arguments: Value = serde_json::from_slice(arguments.as_bytes()).unwrap();
    assert_eq!(arguments["groups"][1], json!({"name": "Team1", "parentGroupName": "Sales"}));
}

#[test]
fn each_event_says_what_it_adds() {
    let mut decoder = Decoder::default();
    let mut step = |name: &str, data: Value| {
        let mut out = Vec::new();
        decoder.event(event(name, data), &mut out).unwrap();
        out
    };
    assert_eq!(step("messageStart", json!({"role": "assistant"})), [start()]);
    assert_eq!(
        step("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}})),
        [
            StreamEvent::BlockStart { index: 0, block: BlockStart::Thinking },
            StreamEvent::Delta { index: 0, delta: Delta::Thinking("hm".into()) }
        ]
    );
    assert_eq!(
        step("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}})),
        [StreamEvent::Delta { index: 0, delta: Delta::Signature(Signature::native(Provider::Bedrock, "s".into())) }]
    );
    assert_eq!(step("contentBlockStop", json!({"contentBlockIndex": 0})), [StreamEvent::BlockStop { index: 0 }]);
    assert_eq!(step("contentBlockStart", json!({"contentBlockIndex": 1, "start": {}})), []);
    assert_eq!(
        step("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Hi"}})),
        [
            StreamEvent::BlockStart { index: 1, block: BlockStart::Text },
            StreamEvent::Delta { index: 1, delta: Delta::Text("Hi".into()) }
        ]
    );
    assert_eq!(step("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": ""}})), []);
    assert_eq!(
        step("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"citation": {"title": "t"}}})),
        [],
        "citations have no counterpart"
    );
    // A text block left open is stopped by the call starting at its index.
    assert_eq!(
        step(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}})
        ),
        [
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::BlockStart { index: 2, block: BlockStart::ToolCall { id: "t".into(), name: "f".into() } }
        ]
    );
    assert_eq!(
        step("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}})),
        [StreamEvent::Delta { index: 2, delta: Delta::ToolArguments("{}".into()) }]
    );
    assert_eq!(step("somethingNew", json!({"x": 1})), [], "unknown event types are skipped");
    assert_eq!(
        step(
            "messageStop",
            json!({"stopReason": "stop_sequence", "additionalModelResponseFields": {"delta": {"stop_sequence": "END"}}})
        ),
        [StreamEvent::BlockStop { index: 2 }],
        "the stop reason waits for the usage"
    );
    assert_eq!(
        step("metadata", json!({"usage": {"inputTokens": 3, "outputTokens": 4, "cacheWriteInputTokens": 10}})),
        [StreamEvent::Finish {
            stop_reason: Some(StopReason::StopSequence),
            stop_sequence: Some("END".into()),
            usage: Usage { input_tokens: 13, output_tokens: 4, cache_write_tokens: 10, ..Usage::default() }
        }]
    );
    assert!(decoder.is_done());
}

#[test]
fn a_stream_without_its_stop_reason_is_cut_and_one_without_its_usage_is_whole() {
    let cut: String = TEXT.lines().filter(|line| !line.contains("messageStop")).map(|l| format!("{l}\n")).collect();
    let (_, ended) = decode_until_end(&framed(&cut), 9);
    assert_eq!(ended.unwrap_err(), truncated(), "metadata alone does not finish an answer");
    let no_usage: String = TEXT.lines().filter(|line| !line.contains("metadata")).map(|l| format!("{l}\n")).collect();
    let events = decode(&framed(&no_usage), 9);
    assert!(matches!(events.last(), Some(StreamEvent::Finish { stop_reason: Some(StopReason::EndTurn), .. })));
    let (events, ended) = decode_until_end(b"", 1);
    assert_eq!((events, ended), (Vec::new(), Err(truncated())));
}

#[test]
fn hostile_events_fail_or_are_skipped_without_panic_or_giant_allocation() {
    let huge = usize::MAX;
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    let mut feed = |name: &str, data: Value, out: &mut Vec<StreamEvent>| decoder.event(event(name, data), out);
    // A huge index is a number like any other: the decoder never uses it as a position.
    feed("contentBlockDelta", json!({"contentBlockIndex": huge, "delta": {"text": "x"}}), &mut out).unwrap();
    feed("contentBlockStop", json!({"contentBlockIndex": 12345}), &mut out).unwrap();
    let call = json!({"contentBlockIndex": huge - 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}});
    feed("contentBlockStart", call, &mut out).unwrap();
    // Broken partial JSON passes as it came: the arguments are the model's.
    let broken = json!({"contentBlockIndex": huge - 1, "delta": {"toolUse": {"input": "{\"a\": [1, "}}});
    feed("contentBlockDelta", broken, &mut out).unwrap();
    assert!(out.contains(&StreamEvent::Delta { index: 1, delta: Delta::ToolArguments("{\"a\": [1, ".into()) }));
    // Tool input for a block that is no call has nowhere to go.
    let stray = json!({"contentBlockIndex": huge, "delta": {"toolUse": {"input": "{}"}}});
    assert_eq!(feed("contentBlockDelta", stray, &mut out).unwrap_err().status, 502);

    let wrong = [
        ("contentBlockDelta", json!({"contentBlockIndex": "0", "delta": {"text": "x"}})),
        ("contentBlockDelta", json!({"contentBlockIndex": -1, "delta": {"text": "x"}})),
        ("contentBlockDelta", json!({"contentBlockIndex": 1e30, "delta": {"text": "x"}})),
        ("contentBlockStart", json!({"contentBlockIndex": 0, "start": {"toolUse": {"name": 5}}})),
        ("messageStop", json!({"stopReason": 5})),
        ("metadata", json!({"usage": {"inputTokens": "many"}})),
        ("messageStart", json!("assistant")),
    ];
    for (name, data) in wrong {
        let result = Decoder::default().event(event(name, data.clone()), &mut Vec::new());
        assert_eq!(result.map_err(|e| e.status), Err(502), "{name} {data}");
    }
    let not_json = sse::Event { event: "contentBlockDelta".into(), data: "{\"contentBlockIndex\":".into() };
    assert!(Decoder::default().event(not_json, &mut Vec::new()).is_err());
    // A delta of a wrong type is one the decoder does not know, and is skipped.
    let mut out = Vec::new();
    Decoder::default()
        .event(event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": 5}})), &mut out)
        .unwrap();
    assert_eq!(out, [start()]);
}

#[test]
fn an_exception_fails_the_stream_with_its_kind_and_message() {
    let mut out = Vec::new();
    bedrock::write_error_event(&mut out, "rate_limit_error", "Too many requests, please wait");
    let mut stream = framed(&TEXT.lines().take(3).map(|l| format!("{l}\n")).collect::<String>());
    stream.extend(out);
    let (events, ended) = decode_until_end(&stream, 4);
    let error = ended.unwrap_err();
    assert_eq!(
        (error.status, error.kind, error.message.as_str()),
        (429, ErrorKind::RateLimit, "Too many requests, please wait")
    );
    assert_eq!(text_of(&events), "Let me count the \"");
}

#[test]
fn streams_encoded_for_converse_clients_decode_to_the_same_events() {
    for recording in [TEXT, TOOL_CALL, REASONING, REDACTED_TOOL, TOOL_NO_ARGS] {
        let decoded = decode(&framed(recording), 11);
        let encoded = encode(decoded.clone());
        assert_eq!(decode(&encoded, 5), decoded);
    }
    let encoded = written(&encode(decode(&framed(TOOL_CALL), 64)));
    let names: Vec<&str> = encoded.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(encoded[0].1, json!({"role": "assistant"}));
    assert_eq!(
        encoded[1].1,
        json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tool-use-id", "name": "test-tool"}}})
    );
    assert_eq!(encoded[2].1, json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"value\":"}}}));
    assert_eq!(encoded[5].1, json!({"stopReason": "tool_use"}));
    assert_eq!(
        encoded[6].1,
        json!({"usage": {"inputTokens": 125, "outputTokens": 45, "totalTokens": 170}, "metrics": {"latencyMs": 0}})
    );
}

#[test]
fn reasoning_made_elsewhere_is_sealed_and_errors_become_exceptions() {
    let events = vec![
        start(),
        StreamEvent::BlockStart { index: 0, block: BlockStart::Thinking },
        StreamEvent::Delta { index: 0, delta: Delta::Signature(Signature::native(Provider::Anthropic, "EqQB".into())) },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::RedactedThinking { data: Signature::native(Provider::OpenAi, "enc".into()) },
        },
        StreamEvent::BlockStop { index: 1 },
    ];
    let encoded = written(&encode(events));
    let signature = encoded[1].1["delta"]["reasoningContent"]["signature"].as_str().unwrap();
    assert_eq!(
        Signature::from_client(signature.into(), Provider::Bedrock),
        Signature::native(Provider::Anthropic, "EqQB".into())
    );
    let redacted = encoded[3].1["delta"]["reasoningContent"]["redactedContent"].as_str().unwrap();
    assert_eq!(
        Signature::from_client(redacted.into(), Provider::Bedrock),
        Signature::native(Provider::OpenAi, "enc".into())
    );

    let mut out = Vec::new();
    Encoder.error(&ProxyError::new(429, ErrorKind::RateLimit, "slow down"), &mut out);
    let exception = reframe(Framing::EventStreamEvents, out);
    let mut messages = Vec::new();
    crate::eventstream::Decoder::new().feed(&exception, &mut |message| messages.push(message)).unwrap();
    assert_eq!(messages[0].header(":message-type"), Some("exception"));
    assert_eq!(messages[0].header(":exception-type"), Some("throttlingException"));
    assert_eq!(messages[0].payload, br#"{"message":"slow down"}"#);
}
