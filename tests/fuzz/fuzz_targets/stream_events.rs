//! Streams of plausible but hostile events in each backend dialect: the right event types with
//! huge or negative indexes, deltas for items that never started or are of another kind, fields
//! missing or of the wrong type, events out of order. JSON that parses reaches the decoders'
//! logic, which random bytes seldom do. Each stream goes to every client dialect, in random
//! chunks, with the same checks as `stream`.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use llmproxy::dialect::Dialect;
use llmproxy_fuzz::{check_stream, pieces, Rng, DIALECTS, SECRET};
use serde_json::{json, Map, Value};

/// An object of the fields that are present.
fn obj(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect::<Map<_, _>>())
}

/// A field that is usually there, sometimes missing, sometimes of the wrong type.
fn field(u: &mut Unstructured, good: impl FnOnce(&mut Unstructured) -> Result<Value>) -> Result<Option<Value>> {
    Ok(match u.int_in_range(0..=15u8)? {
        0 => None,
        1 => Some(wrong(u)?),
        _ => Some(good(u)?),
    })
}

/// A value of some other type than the field wants.
fn wrong(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=6u8)? {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(-1),
        4 => json!(1.5),
        5 => json!([]),
        _ => json!({}),
    })
}

/// An index: small mostly, so that events meet, but also past every bound.
fn index(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=19u8)? {
        0 => json!(usize::MAX),
        1 => json!(u64::MAX),
        2 => json!(1u64 << 53),
        3 => json!(u32::MAX),
        4 => json!(u.arbitrary::<u64>()?),
        5 => json!(-1),
        6 => json!(1e300),
        n => json!(n % 4),
    })
}

fn count(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => json!(u64::MAX),
        1 => json!(u.arbitrary::<u64>()?),
        2 => json!(-5),
        n => json!(n * 10),
    })
}

/// Text: the strings that tend to matter (empty, JSON fragments, multi-byte, the secret, control
/// characters) or any.
fn text(u: &mut Unstructured) -> Result<Value> {
    const SOME: &[&str] = &[
        "",
        " ",
        "Hello",
        "{",
        "}",
        "{\"a\":",
        "1}",
        "{}",
        "[DONE]",
        "\n\ndata: x\n\n",
        "\r",
        "\u{0}",
        "é✓",
        "\u{feff}",
        "llmproxy1.anthropic.c2ln",
        "llmproxy1.gemini.c2ln",
        "llmproxy1.openai.rs_1.c2ln",
        SECRET,
    ];
    Ok(match u.int_in_range(0..=3u8)? {
        0 => json!(u.arbitrary::<String>()?),
        _ => json!(u.choose(SOME)?),
    })
}

/// One of `names`, or now and then any text.
fn name(u: &mut Unstructured, names: &[&str]) -> Result<Value> {
    match u.int_in_range(0..=7u8)? {
        0 => text(u),
        _ => Ok(json!(u.choose(names)?)),
    }
}

/// Any JSON, a few levels deep.
fn any_json(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let kind = if depth == 0 { u.int_in_range(0..=3u8)? } else { u.int_in_range(0..=5u8)? };
    Ok(match kind {
        0 => Value::Null,
        1 => json!(u.arbitrary::<bool>()?),
        2 => json!(u.arbitrary::<i32>()?),
        3 => text(u)?,
        4 => {
            let n = u.int_in_range(0..=3usize)?;
            Value::Array((0..n).map(|_| any_json(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => {
            let n = u.int_in_range(0..=3usize)?;
            let mut map = Map::new();
            for _ in 0..n {
                let key = name(u, &["a", "b", "city", "type", "text", "0"])?;
                map.insert(key.as_str().unwrap_or("k").to_string(), any_json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

fn list(u: &mut Unstructured, max: usize, item: impl Fn(&mut Unstructured) -> Result<Value>) -> Result<Value> {
    let n = u.int_in_range(0..=max)?;
    Ok(Value::Array((0..n).map(|_| item(u)).collect::<Result<_>>()?))
}

// Anthropic Messages.

fn anthropic_block(u: &mut Unstructured) -> Result<Value> {
    let kind = name(
        u,
        &["text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "image", "web_search_tool_result"],
    )?;
    Ok(obj(vec![
        ("type", Some(kind)),
        ("text", field(u, text)?),
        ("thinking", field(u, text)?),
        ("signature", field(u, text)?),
        ("data", field(u, text)?),
        ("id", field(u, |u| name(u, &["toolu_1", "toolu_2", "srvtoolu_1"]))?),
        ("name", field(u, |u| name(u, &["get_weather", "web_search", ""]))?),
        ("input", field(u, |u| any_json(u, 2))?),
    ]))
}

fn anthropic_event(u: &mut Unstructured) -> Result<Value> {
    let types = [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "something_new",
    ];
    let kind = *u.choose(&types)?;
    let usage = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("input_tokens", field(u, count)?),
            ("output_tokens", field(u, count)?),
            ("cache_read_input_tokens", field(u, count)?),
            ("cache_creation_input_tokens", field(u, count)?),
        ]))
    };
    let body = match kind {
        "message_start" => vec![(
            "message",
            field(u, |u| {
                Ok(obj(vec![
                    ("id", field(u, |u| name(u, &["msg_1"]))?),
                    ("type", Some(json!("message"))),
                    ("role", Some(json!("assistant"))),
                    ("model", field(u, |u| name(u, &["claude-sonnet-4-5"]))?),
                    ("content", field(u, |u| list(u, 2, anthropic_block))?),
                    ("usage", field(u, usage)?),
                ]))
            })?,
        )],
        "content_block_start" => vec![("index", field(u, index)?), ("content_block", field(u, anthropic_block)?)],
        "content_block_delta" => {
            let delta = |u: &mut Unstructured| -> Result<Value> {
                let kind = name(
                    u,
                    &["text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta"],
                )?;
                Ok(obj(vec![
                    ("type", Some(kind)),
                    ("text", field(u, text)?),
                    ("partial_json", field(u, text)?),
                    ("thinking", field(u, text)?),
                    ("signature", field(u, text)?),
                    ("citation", field(u, |u| any_json(u, 1))?),
                ]))
            };
            vec![("index", field(u, index)?), ("delta", field(u, delta)?)]
        }
        "content_block_stop" => vec![("index", field(u, index)?)],
        "message_delta" => {
            let delta = |u: &mut Unstructured| -> Result<Value> {
                let reasons = ["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn"];
                Ok(obj(vec![("stop_reason", field(u, |u| name(u, &reasons))?), ("stop_sequence", field(u, text)?)]))
            };
            vec![("delta", field(u, delta)?), ("usage", field(u, usage)?)]
        }
        "error" => vec![(
            "error",
            field(u, |u| {
                Ok(obj(vec![
                    ("type", field(u, |u| name(u, &["overloaded_error", "api_error", "rate_limit_error"]))?),
                    ("message", field(u, text)?),
                ]))
            })?,
        )],
        _ => vec![],
    };
    let mut event = obj(body);
    event["type"] = json!(kind);
    Ok(event)
}

// OpenAI Chat Completions.

fn chat_chunk(u: &mut Unstructured) -> Result<Value> {
    let call = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("index", field(u, index)?),
            ("id", field(u, |u| name(u, &["call_1", "call_2"]))?),
            ("type", field(u, |u| name(u, &["function"]))?),
            (
                "function",
                field(u, |u| {
                    Ok(obj(vec![
                        ("name", field(u, |u| name(u, &["get_weather", "lookup", ""]))?),
                        ("arguments", field(u, text)?),
                    ]))
                })?,
            ),
        ]))
    };
    let delta = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("role", field(u, |u| name(u, &["assistant"]))?),
            ("content", field(u, text)?),
            ("reasoning_content", field(u, text)?),
            ("reasoning", field(u, text)?),
            ("refusal", field(u, text)?),
            ("tool_calls", field(u, |u| list(u, 3, call))?),
        ]))
    };
    let choice = |u: &mut Unstructured| -> Result<Value> {
        let reasons = ["stop", "length", "tool_calls", "content_filter", "function_call"];
        Ok(obj(vec![
            ("index", field(u, index)?),
            ("delta", field(u, delta)?),
            ("finish_reason", field(u, |u| name(u, &reasons))?),
        ]))
    };
    let usage = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("prompt_tokens", field(u, count)?),
            ("completion_tokens", field(u, count)?),
            ("total_tokens", field(u, count)?),
            ("prompt_tokens_details", field(u, |u| Ok(obj(vec![("cached_tokens", field(u, count)?)])))?),
            ("completion_tokens_details", field(u, |u| Ok(obj(vec![("reasoning_tokens", field(u, count)?)])))?),
        ]))
    };
    let error =
        if u.ratio(1, 24)? { Some(obj(vec![("message", field(u, text)?), ("type", field(u, text)?)])) } else { None };
    Ok(obj(vec![
        ("id", field(u, |u| name(u, &["chatcmpl-1"]))?),
        ("object", Some(json!("chat.completion.chunk"))),
        ("created", field(u, count)?),
        ("model", field(u, |u| name(u, &["gpt-4o"]))?),
        ("choices", field(u, |u| list(u, 2, choice))?),
        ("usage", if u.ratio(1, 6)? { field(u, usage)? } else { None }),
        ("error", error),
    ]))
}

// OpenAI Responses.

fn responses_item(u: &mut Unstructured) -> Result<Value> {
    let kind = name(u, &["message", "reasoning", "function_call", "web_search_call", "custom_tool_call"])?;
    Ok(obj(vec![
        ("type", Some(kind)),
        ("id", field(u, |u| name(u, &["msg_1", "rs_1", "fc_1"]))?),
        ("status", field(u, |u| name(u, &["in_progress", "completed"]))?),
        ("call_id", field(u, |u| name(u, &["call_1", "call_2"]))?),
        ("name", field(u, |u| name(u, &["get_weather", ""]))?),
        ("namespace", if u.ratio(1, 6)? { field(u, |u| name(u, &["mcp", "tools"]))? } else { None }),
        ("arguments", field(u, text)?),
        ("encrypted_content", field(u, text)?),
        (
            "summary",
            field(u, |u| {
                list(u, 2, |u| Ok(obj(vec![("type", Some(json!("summary_text"))), ("text", field(u, text)?)])))
            })?,
        ),
    ]))
}

fn responses_event(u: &mut Unstructured) -> Result<Value> {
    let types = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.refusal.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    ];
    let kind = *u.choose(&types)?;
    let response = |u: &mut Unstructured| -> Result<Value> {
        let usage = |u: &mut Unstructured| -> Result<Value> {
            Ok(obj(vec![
                ("input_tokens", field(u, count)?),
                ("output_tokens", field(u, count)?),
                ("total_tokens", field(u, count)?),
                ("input_tokens_details", field(u, |u| Ok(obj(vec![("cached_tokens", field(u, count)?)])))?),
                ("output_tokens_details", field(u, |u| Ok(obj(vec![("reasoning_tokens", field(u, count)?)])))?),
            ]))
        };
        Ok(obj(vec![
            ("id", field(u, |u| name(u, &["resp_1"]))?),
            ("model", field(u, |u| name(u, &["gpt-5"]))?),
            ("status", field(u, |u| name(u, &["completed", "incomplete", "failed", "in_progress"]))?),
            ("output", field(u, |u| list(u, 2, responses_item))?),
            ("usage", field(u, usage)?),
            (
                "incomplete_details",
                field(u, |u| {
                    Ok(obj(vec![("reason", field(u, |u| name(u, &["max_output_tokens", "content_filter"]))?)]))
                })?,
            ),
            ("error", field(u, |u| Ok(obj(vec![("code", field(u, text)?), ("message", field(u, text)?)])))?),
        ]))
    };
    let body = match kind {
        "response.created"
        | "response.in_progress"
        | "response.completed"
        | "response.incomplete"
        | "response.failed" => {
            vec![("response", field(u, response)?)]
        }
        "response.output_item.added" | "response.output_item.done" => {
            vec![("output_index", field(u, index)?), ("item", field(u, responses_item)?)]
        }
        "error" => vec![("code", field(u, text)?), ("message", field(u, text)?)],
        _ => vec![
            ("output_index", field(u, index)?),
            ("content_index", field(u, index)?),
            ("summary_index", field(u, index)?),
            ("item_id", field(u, |u| name(u, &["msg_1", "rs_1", "fc_1"]))?),
            ("delta", field(u, text)?),
        ],
    };
    let mut event = obj(body);
    event["type"] = json!(kind);
    event["sequence_number"] = json!(0);
    Ok(event)
}

// Gemini.

fn json_path(u: &mut Unstructured) -> Result<Value> {
    if u.ratio(1, 8)? {
        return text(u);
    }
    let mut path = String::from("$");
    for _ in 0..u.int_in_range(0..=4u8)? {
        match u.int_in_range(0..=5u8)? {
            0 => path.push_str(".a"),
            1 => path.push_str(".b"),
            2 => path.push_str(&format!("[{}]", u.int_in_range(0..=2u8)?)),
            3 => path.push_str(&format!("[{}]", u.arbitrary::<u64>()?)),
            4 => path.push_str("['k.x']"),
            _ => path.push_str(u.choose(&["[", "]", "..", "['", "[-1]", ".", "[0"])?),
        }
    }
    Ok(json!(path))
}

fn gemini_part(u: &mut Unstructured) -> Result<Value> {
    let partial = |u: &mut Unstructured| -> Result<Value> {
        let value = match u.int_in_range(0..=4u8)? {
            0 => ("stringValue", field(u, text)?),
            1 => (
                "numberValue",
                field(u, |u| Ok(json!(u.arbitrary::<f64>().map(|f| if f.is_finite() { f } else { 1e308 })?)))?,
            ),
            2 => ("boolValue", field(u, |u| Ok(json!(u.arbitrary::<bool>()?)))?),
            3 => ("nullValue", Some(Value::Null)),
            _ => ("otherValue", Some(json!(1))),
        };
        Ok(obj(vec![
            ("jsonPath", field(u, json_path)?),
            value,
            ("willContinue", field(u, |u| Ok(json!(u.arbitrary::<bool>()?)))?),
        ]))
    };
    let call = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("id", if u.ratio(1, 3)? { field(u, |u| name(u, &["c1", "c2"]))? } else { None }),
            ("name", field(u, |u| name(u, &["getWeather", "lookup", ""]))?),
            ("args", if u.ratio(1, 2)? { field(u, |u| any_json(u, 2))? } else { None }),
            ("partialArgs", if u.ratio(1, 2)? { field(u, |u| list(u, 3, partial))? } else { None }),
            ("willContinue", if u.ratio(1, 2)? { field(u, |u| Ok(json!(u.arbitrary::<bool>()?)))? } else { None }),
        ]))
    };
    let kind = u.int_in_range(0..=5u8)?;
    Ok(obj(vec![
        ("text", if kind <= 2 { field(u, text)? } else { None }),
        ("thought", if kind == 1 || u.ratio(1, 8)? { field(u, |u| Ok(json!(u.arbitrary::<bool>()?)))? } else { None }),
        ("thoughtSignature", if u.ratio(1, 4)? { field(u, text)? } else { None }),
        ("functionCall", if kind == 3 || kind == 4 { field(u, call)? } else { None }),
        ("inlineData", if kind == 5 { Some(json!({"mimeType": "image/png", "data": "AA=="})) } else { None }),
    ]))
}

fn gemini_chunk(u: &mut Unstructured) -> Result<Value> {
    let candidate = |u: &mut Unstructured| -> Result<Value> {
        let reasons = ["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "MALFORMED_FUNCTION_CALL", "OTHER"];
        Ok(obj(vec![
            (
                "content",
                field(u, |u| {
                    Ok(obj(vec![("role", Some(json!("model"))), ("parts", field(u, |u| list(u, 3, gemini_part))?)]))
                })?,
            ),
            ("finishReason", if u.ratio(1, 5)? { field(u, |u| name(u, &reasons))? } else { None }),
            ("index", field(u, index)?),
        ]))
    };
    let usage = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("promptTokenCount", field(u, count)?),
            ("candidatesTokenCount", field(u, count)?),
            ("totalTokenCount", field(u, count)?),
            ("cachedContentTokenCount", field(u, count)?),
            ("thoughtsTokenCount", field(u, count)?),
        ]))
    };
    let error = if u.ratio(1, 24)? {
        Some(obj(vec![("code", field(u, count)?), ("message", field(u, text)?), ("status", field(u, text)?)]))
    } else {
        None
    };
    Ok(obj(vec![
        ("candidates", field(u, |u| list(u, 2, candidate))?),
        ("usageMetadata", field(u, usage)?),
        ("modelVersion", field(u, |u| name(u, &["gemini-2.5-flash"]))?),
        ("responseId", field(u, |u| name(u, &["r1"]))?),
        ("promptFeedback", if u.ratio(1, 16)? { Some(json!({"blockReason": "SAFETY"})) } else { None }),
        ("error", error),
    ]))
}

// Bedrock Converse: each event named by its type, as the framing hands it to the decoder.

fn converse_delta(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => obj(vec![("text", field(u, text)?)]),
        1 => json!({"toolUse": obj(vec![("input", field(u, text)?)])}),
        2 => json!({"reasoningContent": obj(vec![("text", field(u, text)?)])}),
        3 => json!({"reasoningContent": obj(vec![("signature", field(u, text)?)])}),
        4 => json!({"reasoningContent": obj(vec![("redactedContent", field(u, text)?)])}),
        _ => any_json(u, 2)?,
    })
}

fn converse_event(u: &mut Unstructured) -> Result<(String, Value)> {
    let types = [
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
        "error",
        "somethingNew",
    ];
    let kind = u.choose(&types)?.to_string();
    let tool_use = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("toolUseId", field(u, |u| name(u, &["tooluse_1", "tooluse_2"]))?),
            ("name", field(u, |u| name(u, &["get_weather", ""]))?),
        ]))
    };
    let usage = |u: &mut Unstructured| -> Result<Value> {
        Ok(obj(vec![
            ("inputTokens", field(u, count)?),
            ("outputTokens", field(u, count)?),
            ("totalTokens", field(u, count)?),
            ("cacheReadInputTokens", field(u, count)?),
            ("cacheWriteInputTokens", field(u, count)?),
        ]))
    };
    let reasons = ["end_turn", "tool_use", "max_tokens", "stop_sequence", "guardrail_intervened", "content_filtered"];
    let event = match kind.as_str() {
        "messageStart" => obj(vec![("role", field(u, |u| name(u, &["assistant"]))?)]),
        "contentBlockStart" => obj(vec![
            ("contentBlockIndex", field(u, index)?),
            ("start", field(u, |u| Ok(obj(vec![("toolUse", field(u, tool_use)?)])))?),
        ]),
        "contentBlockDelta" => obj(vec![("contentBlockIndex", field(u, index)?), ("delta", field(u, converse_delta)?)]),
        "contentBlockStop" => obj(vec![("contentBlockIndex", field(u, index)?)]),
        "messageStop" => obj(vec![
            ("stopReason", field(u, |u| name(u, &reasons))?),
            ("additionalModelResponseFields", field(u, |u| Ok(json!({"delta": {"stop_sequence": text(u)?}})))?),
        ]),
        "metadata" => obj(vec![("usage", field(u, usage)?), ("metrics", field(u, |u| any_json(u, 1))?)]),
        // An exception, as the framing writes it.
        "error" => json!({"type": "error", "error": obj(vec![
            ("type", field(u, |u| name(u, &["rate_limit_error", "api_error", "invalid_request_error"]))?),
            ("message", field(u, text)?),
        ])}),
        _ => any_json(u, 2)?,
    };
    Ok((kind, event))
}

/// A whole upstream stream in `backend`'s dialect.
fn stream(u: &mut Unstructured, backend: Dialect) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut n = 0;
    while !u.is_empty() && n < 40 {
        n += 1;
        let (event, converse_type) = match backend {
            Dialect::Anthropic => (anthropic_event(u)?, None),
            Dialect::OpenAiChat => (chat_chunk(u)?, None),
            Dialect::OpenAiResponses => (responses_event(u)?, None),
            Dialect::Gemini => (gemini_chunk(u)?, None),
            Dialect::BedrockConverse => {
                let (kind, event) = converse_event(u)?;
                (event, Some(kind))
            }
        };
        let mut data = event.to_string();
        match u.int_in_range(0..=31u8)? {
            // Now and then: not JSON at all, cut short, or Chat's end marker.
            0 => data = "[DONE]".into(),
            1 => data.truncate(data.floor_char_boundary(data.len() / 2)),
            _ => {}
        }
        let kind = event.get("type").and_then(Value::as_str).map(str::to_string);
        let name = match (backend, u.int_in_range(0..=15u8)?) {
            (_, 0) => Some("ping".to_string()),
            (Dialect::Anthropic | Dialect::OpenAiResponses, _) => kind,
            (Dialect::BedrockConverse, _) => converse_type,
            _ => None,
        };
        // The data may hold line breaks: each line is one `data:` field, as SSE has it.
        if let Some(name) = &name {
            out.extend_from_slice(format!("event: {name}\n").as_bytes());
        }
        for line in data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(backend) = u.choose(&DIALECTS).copied() else { return };
    let Ok(bytes) = stream(&mut u, backend) else { return };
    let mut rng = Rng::new(data);
    for client in DIALECTS {
        let chunks = pieces(&bytes, || rng.below(64));
        check_stream(client, backend, &bytes, &chunks);
    }
});
