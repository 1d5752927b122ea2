//! Gemini answers (whole, not streamed) to and from the IR, and the part mapping that requests
//! share with them.

use super::types::*;
use crate::error::ProxyError;
use crate::ir::{self, Media, Provider, Signature, StopReason, ToolCall, ToolResult, Usage};
use serde_json::Value;

/// Gemini says `STOP` also when the answer calls functions; `called_functions` tells them apart.
pub fn stop_reason_to_ir(reason: &str, called_functions: bool) -> StopReason {
    match reason {
        "STOP" if called_functions => StopReason::ToolUse,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        // `MALFORMED_FUNCTION_CALL` too: the broken call is not in the answer, so a client told
        // ToolUse would look for a call that is not there.
        _ => StopReason::EndTurn,
    }
}

pub fn stop_reason_from_ir(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse | StopReason::PauseTurn => "STOP",
        StopReason::MaxTokens | StopReason::ContextWindowExceeded => "MAX_TOKENS",
        StopReason::Refusal | StopReason::ContentFilter => "SAFETY",
    }
}

/// Gemini counts reasoning apart from the answer's tokens; the IR counts it inside.
pub fn usage_to_ir(usage: &UsageMetadata) -> Usage {
    let thoughts = usage.thoughts_token_count.unwrap_or(0);
    Usage {
        input_tokens: usage.prompt_token_count,
        output_tokens: usage.candidates_token_count.saturating_add(thoughts),
        cache_read_tokens: usage.cached_content_token_count.unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

pub fn usage_from_ir(usage: &Usage) -> UsageMetadata {
    UsageMetadata {
        prompt_token_count: usage.input_tokens,
        candidates_token_count: usage.output_tokens.saturating_sub(usage.reasoning_tokens),
        total_token_count: usage.input_tokens.saturating_add(usage.output_tokens),
        cached_content_token_count: (usage.cache_read_tokens > 0).then_some(usage.cache_read_tokens),
        thoughts_token_count: (usage.reasoning_tokens > 0).then_some(usage.reasoning_tokens),
        extra: Default::default(),
    }
}

/// Ids for the function calls and responses that came without one. Gemini pairs them by name and
/// order, the IR by id: a call without id gets `prefix` and its position among the calls, and a
/// response without id answers the oldest unanswered call of its name.
#[derive(Debug, Default)]
pub struct CallIds {
    prefix: String,
    calls: usize,
    /// Id and function name of each call not answered yet.
    unanswered: Vec<(String, String)>,
}

impl CallIds {
    pub fn new(prefix: String) -> Self {
        Self { prefix, ..Self::default() }
    }

    pub fn call(&mut self, id: Option<String>, name: &str) -> String {
        let id = id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("{}{}", self.prefix, self.calls));
        self.calls += 1;
        self.unanswered.push((id.clone(), name.to_string()));
        id
    }

    /// The id of the call a response answers; None when it has no id and no call to answer.
    fn answer(&mut self, id: Option<String>, name: &str) -> Option<String> {
        let id = id.filter(|id| !id.is_empty());
        let position = match &id {
            Some(id) => self.unanswered.iter().position(|(call, _)| call == id),
            None => self.unanswered.iter().position(|(_, function)| function == name),
        };
        // An id names its call even when the call is not in view; the backend judges it.
        position.map(|p| self.unanswered.remove(p).0).or(id)
    }
}

/// Who wrote some Gemini parts. A client may give back signatures sealed by another provider, and
/// what it sends must be carried or refused; a backend's signatures are its own, and what of its
/// answer the IR has no place for is left out, as the other dialects do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Backend,
}

impl Sender {
    fn signature(self, value: String) -> Signature {
        match self {
            Self::Client => Signature::from_client(value, Provider::Gemini),
            Self::Backend => Signature::native(Provider::Gemini, value),
        }
    }
}

/// IR parts for the parts of one Gemini turn; `at` names them in errors. A thought signature on a
/// part that is not a thought comes first, as an empty thinking part, so that `parts_from_ir` puts
/// it back on the part after it. Thoughts in a row are one thought until a signature ends it: a
/// streamed thought comes in pieces, and its signature signs the whole text.
pub fn parts_to_ir(
    parts: Vec<Part>,
    at: &str,
    sender: Sender,
    calls: &mut CallIds,
) -> Result<Vec<ir::Part>, ProxyError> {
    let mut out = Vec::new();
    for (j, mut part) in parts.into_iter().enumerate() {
        let signature = part.thought_signature.take().map(|value| sender.signature(value));
        if part.thought {
            let text = part.text.unwrap_or_default();
            match out.last_mut() {
                Some(ir::Part::Thinking { text: thought, signature: open @ None }) => {
                    thought.push_str(&text);
                    *open = signature;
                }
                _ => out.push(ir::Part::Thinking { text, signature }),
            }
            continue;
        }
        if let Some(signature) = signature {
            out.push(ir::Part::Thinking { text: String::new(), signature: Some(signature) });
        }
        match (data_to_ir(part, calls), sender) {
            (Ok(data), _) => out.extend(data),
            (Err(why), Sender::Client) => return Err(ProxyError::unsupported(&format!("{at}[{j}]"), why)),
            (Err(_), Sender::Backend) => {}
        }
    }
    Ok(out)
}

/// The IR part for what a Gemini part holds besides reasoning: None for empty text or a part that
/// only carried a signature, Err with why the IR has no place for it.
fn data_to_ir(part: Part, calls: &mut CallIds) -> Result<Option<ir::Part>, String> {
    Ok(Some(match part {
        Part { text: Some(text), .. } if text.is_empty() => return Ok(None),
        Part { text: Some(text), .. } => ir::Part::Text(text),
        Part { inline_data: Some(Blob { mime_type, data }), .. } if mime_type.starts_with("image/") => {
            ir::Part::Image(Media::Base64 { media_type: mime_type, data })
        }
        Part { inline_data: Some(Blob { mime_type, data }), .. } => {
            ir::Part::Document { source: Media::Base64 { media_type: mime_type, data }, name: None }
        }
        Part { file_data: Some(FileData { mime_type: Some(mime_type), file_uri }), .. }
            if mime_type.starts_with("image/")
                && (file_uri.starts_with("https://") || file_uri.starts_with("http://")) =>
        {
            ir::Part::Image(Media::Url(file_uri))
        }
        Part { file_data: Some(FileData { file_uri, .. }), .. }
            if file_uri.starts_with("https://") || file_uri.starts_with("http://") =>
        {
            ir::Part::Document { source: Media::Url(file_uri), name: None }
        }
        Part { file_data: Some(file), .. } => {
            return Err(format!("file `{}`: only files at http(s) URLs are carried", file.file_uri))
        }
        Part { function_call: Some(call), .. } => ir::Part::ToolCall(ToolCall {
            id: calls.call(call.id, &call.name),
            name: call.name,
            arguments: ToolCall::arguments_of(&call.args),
        }),
        Part { function_response: Some(response), .. } => ir::Part::ToolResult(tool_result_to_ir(response, calls)?),
        Part { extra, .. } => match extra.into_iter().find(|(_, value)| !value.is_null()) {
            Some((kind, _)) => return Err(format!("part `{kind}`")),
            None => return Ok(None),
        },
    }))
}

/// An IR tool call as Gemini's whole function call.
pub fn function_call_from_ir(call: ToolCall) -> FunctionCall {
    FunctionCall {
        args: call.arguments_object(),
        id: Some(call.id).filter(|id| !id.is_empty()),
        name: call.name,
        ..FunctionCall::default()
    }
}

fn tool_result_to_ir(response: FunctionResponse, calls: &mut CallIds) -> Result<ToolResult, String> {
    let call_id = calls
        .answer(response.id, &response.name)
        .ok_or_else(|| format!("the response of `{}` answers no earlier functionCall", response.name))?;
    let (text, is_error) = result_text(response.response);
    let mut content: Vec<ir::Part> = Some(text).filter(|t| !t.is_empty()).map(ir::Part::Text).into_iter().collect();
    for part in response.parts {
        match data_to_ir(part, calls)? {
            Some(image @ ir::Part::Image(_)) => content.push(image),
            Some(_) => return Err("a function response carries images only beside its `response`".into()),
            None => {}
        }
    }
    Ok(ToolResult { call_id, content, is_error })
}

/// A function's result as text. Gemini's convention is `{"output": …}` for a result and
/// `{"error": …}` for a failure; any other object goes as its JSON text.
fn result_text(response: Value) -> (String, bool) {
    let text = |value: &Value| value.as_str().map_or_else(|| value.to_string(), str::to_string);
    match &response {
        Value::Null => (String::new(), false),
        Value::Object(fields) if fields.len() == 1 => match fields.iter().next() {
            Some((key, value)) if key == "output" => (text(value), false),
            Some((key, value)) if key == "error" => (text(value), true),
            _ => (response.to_string(), false),
        },
        _ => (response.to_string(), false),
    }
}

/// Gemini parts for IR parts; `signature` is the text to send for a signature. An empty thinking
/// part only holds the signature of the part after it (see `parts_to_ir`), so its signature goes
/// onto that part. Tool results are left to the request, which knows the names of the functions
/// they answer.
pub fn parts_from_ir(parts: Vec<ir::Part>, signature: impl Fn(Signature) -> String) -> Vec<Part> {
    let mut out = Vec::new();
    // The signature of an empty thinking part, waiting for the part it belongs to.
    let mut waiting: Option<String> = None;
    for part in parts {
        let mut part = match part {
            ir::Part::Thinking { text, signature: Some(value) } if text.is_empty() => {
                out.extend(waiting.replace(signature(value)).map(signature_part));
                continue;
            }
            ir::Part::Thinking { text, signature: own } => {
                out.extend(waiting.take().map(signature_part));
                Part { text: Some(text), thought: true, thought_signature: own.map(&signature), ..Part::default() }
            }
            ir::Part::Text(text) | ir::Part::Refusal(text) if text.is_empty() => continue,
            // Gemini has no refusal of its own: the model's refusal is its answer.
            ir::Part::Text(text) | ir::Part::Refusal(text) => Part { text: Some(text), ..Part::default() },
            ir::Part::Image(image) => media_from_ir(image, None),
            // Documents linked by URL are PDFs: what Anthropic links, and the usual document.
            ir::Part::Document { source, .. } => media_from_ir(source, Some("application/pdf")),
            ir::Part::ToolCall(call) => Part { function_call: Some(function_call_from_ir(call)), ..Part::default() },
            // Gemini has no encrypted reasoning to hold another provider's.
            ir::Part::RedactedThinking { .. } | ir::Part::ToolResult(_) => continue,
        };
        part.thought_signature = part.thought_signature.or(waiting.take());
        out.push(part);
    }
    out.extend(waiting.map(signature_part));
    out
}

/// A signature with no part after it to sit on, as Gemini itself ends an answer: on empty text.
fn signature_part(signature: String) -> Part {
    Part { text: Some(String::new()), thought_signature: Some(signature), ..Part::default() }
}

/// An image or document as a part: inline data, or a file by URL with `url_type` as its type.
pub fn media_from_ir(media: Media, url_type: Option<&str>) -> Part {
    match media {
        Media::Base64 { media_type, data } => {
            Part { inline_data: Some(Blob { mime_type: media_type, data }), ..Part::default() }
        }
        Media::Url(url) => Part {
            file_data: Some(FileData { mime_type: url_type.map(str::to_string), file_uri: url }),
            ..Part::default()
        },
    }
}

pub fn to_ir(response: GenerateContentResponse) -> Result<ir::Response, ProxyError> {
    let usage = response.usage_metadata.as_ref().map(usage_to_ir).unwrap_or_default();
    let (content, stop_reason) = match response.candidates.into_iter().next() {
        Some(candidate) => {
            let mut calls = CallIds::new(format!("call_{}_", response.response_id));
            let parts = candidate.content.map(|content| content.parts).unwrap_or_default();
            let content = parts_to_ir(parts, "candidates[0].content.parts", Sender::Backend, &mut calls)?;
            let called_functions = content.iter().any(|part| matches!(part, ir::Part::ToolCall(_)));
            let stop_reason = candidate.finish_reason.map(|reason| stop_reason_to_ir(&reason, called_functions));
            (content, stop_reason)
        }
        // A prompt Gemini blocked gets no candidate, only the reason.
        None if response.prompt_feedback.is_some_and(|f| f.block_reason.is_some()) => {
            (Vec::new(), Some(StopReason::ContentFilter))
        }
        None => return Err(ProxyError::bad_gateway("the upstream answered with no candidates")),
    };
    Ok(ir::Response {
        id: response.response_id,
        model: response.model_version,
        content,
        stop_reason,
        stop_sequence: None,
        usage,
    })
}

pub fn from_ir(response: ir::Response) -> GenerateContentResponse {
    let parts = parts_from_ir(response.content, |signature| signature.for_client(Some(Provider::Gemini)));
    let reason = stop_reason_from_ir(response.stop_reason.as_ref().unwrap_or(&StopReason::EndTurn));
    GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content { role: Some("model".into()), parts }),
            finish_reason: Some(reason.into()),
            index: Some(0),
            ..Candidate::default()
        }],
        usage_metadata: Some(usage_from_ir(&response.usage)),
        model_version: response.model,
        response_id: response.id,
        ..GenerateContentResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded_text() -> GenerateContentResponse {
        serde_json::from_slice(include_bytes!("../../../fixtures/wire/gemini-text.vercel.json")).unwrap()
    }

    #[test]
    fn a_recorded_answer_is_its_text_after_its_signature() {
        let response = to_ir(recorded_text()).unwrap();
        assert_eq!(
            (response.id.as_str(), response.model.as_str()),
            ("Un6LacrVMcjUxs0PmJfWoQc", "gemini-3-pro-preview")
        );
        let [ir::Part::Thinking { text, signature: Some(signature) }, ir::Part::Text(answer)] =
            response.content.as_slice()
        else {
            panic!("expected a signature, then text: {:?}", response.content);
        };
        assert!(text.is_empty());
        assert_eq!(signature.provider, Provider::Gemini);
        assert!(signature.value.starts_with("EtoFCtcFAb4+9vtfe4MX"));
        assert_eq!(answer, "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.");
        assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: 9,
                output_tokens: 28 + 244,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                reasoning_tokens: 244
            }
        );
    }

    #[test]
    fn a_recorded_answer_written_back_for_a_gemini_client_is_unchanged() {
        let recorded = recorded_text();
        let written = from_ir(to_ir(recorded.clone()).unwrap());
        assert_eq!(written.candidates[0].content, recorded.candidates[0].content);
        assert_eq!(written.candidates[0].finish_reason.as_deref(), Some("STOP"));
        let usage = written.usage_metadata.unwrap();
        assert_eq!(
            (
                usage.prompt_token_count,
                usage.candidates_token_count,
                usage.total_token_count,
                usage.thoughts_token_count
            ),
            (9, 28, 281, Some(244))
        );
        assert_eq!((written.response_id, written.model_version), (recorded.response_id, recorded.model_version));
    }

    #[test]
    fn calls_without_ids_get_ids_and_signatures_stay_on_their_part() {
        let recorded: GenerateContentResponse = serde_json::from_slice(
            br#"{"candidates": [{"content": {"role": "model", "parts": [
                  {"text": "Two cities: ", "thought": true},
                  {"text": "Paris and Rome.", "thought": true},
                  {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig1"},
                  {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "totalTokenCount": 30,
                                  "cachedContentTokenCount": 5},
                "responseId": "r1", "modelVersion": "gemini-2.5-flash"}"#,
        )
        .unwrap();
        let response = to_ir(recorded.clone()).unwrap();
        let call = |id: &str, city: &str| {
            ir::Part::ToolCall(ToolCall {
                id: id.into(),
                name: "weather".into(),
                arguments: format!(r#"{{"city":"{city}"}}"#),
            })
        };
        assert_eq!(
            response.content,
            vec![
                ir::Part::Thinking { text: "Two cities: Paris and Rome.".into(), signature: None },
                ir::Part::Thinking {
                    text: String::new(),
                    signature: Some(Signature::native(Provider::Gemini, "sig1".into())),
                },
                call("call_r1_0", "Paris"),
                call("call_r1_1", "Rome"),
            ]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
        assert_eq!((response.usage.input_tokens, response.usage.cache_read_tokens), (20, 5));

        let parts = from_ir(response).candidates.remove(0).content.unwrap().parts;
        let mut expected = recorded.candidates[0].content.clone().unwrap().parts;
        expected.splice(
            0..2,
            [Part { text: Some("Two cities: Paris and Rome.".into()), thought: true, ..Part::default() }],
        );
        for (part, id) in expected[1..].iter_mut().zip(["call_r1_0", "call_r1_1"]) {
            part.function_call.as_mut().unwrap().id = Some(id.into());
        }
        assert_eq!(parts, expected);
    }

    #[test]
    fn a_blocked_prompt_ends_with_a_content_filter() {
        let blocked: GenerateContentResponse = serde_json::from_slice(
            br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}, "responseId": "b"}"#,
        )
        .unwrap();
        let response = to_ir(blocked).unwrap();
        assert_eq!((response.content.len(), response.stop_reason), (0, Some(StopReason::ContentFilter)));
        assert_eq!(to_ir(GenerateContentResponse::default()).unwrap_err().status, 502);
    }

    #[test]
    fn other_providers_signatures_reach_gemini_clients_sealed() {
        let signature = Signature::native(Provider::Anthropic, "EqQB".into());
        let response = ir::Response {
            content: vec![
                ir::Part::Thinking { text: "Hmm.".into(), signature: Some(signature.clone()) },
                ir::Part::Text("Hi".into()),
            ],
            ..ir::Response::default()
        };
        let parts = from_ir(response).candidates.remove(0).content.unwrap().parts;
        assert_eq!(parts[0].thought_signature, Some(signature.for_client(Some(Provider::Gemini))));
        assert_ne!(parts[0].thought_signature.as_deref(), Some("EqQB"), "sealed, not Anthropic's own");
        let back = parts_to_ir(parts, "contents[1].parts", Sender::Client, &mut CallIds::default()).unwrap();
        assert_eq!(back[0], ir::Part::Thinking { text: "Hmm.".into(), signature: Some(signature) });
    }

    #[test]
    fn finish_reasons_map_both_ways() {
        assert_eq!(stop_reason_to_ir("STOP", false), StopReason::EndTurn);
        assert_eq!(stop_reason_to_ir("STOP", true), StopReason::ToolUse);
        assert_eq!(stop_reason_to_ir("MAX_TOKENS", true), StopReason::MaxTokens);
        for filtered in ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"] {
            assert_eq!(stop_reason_to_ir(filtered, false), StopReason::ContentFilter);
        }
        assert_eq!(stop_reason_to_ir("MALFORMED_FUNCTION_CALL", false), StopReason::EndTurn);
        assert_eq!(stop_reason_to_ir("OTHER", false), StopReason::EndTurn);
        assert_eq!(stop_reason_from_ir(&StopReason::ToolUse), "STOP");
        assert_eq!(stop_reason_from_ir(&StopReason::ContextWindowExceeded), "MAX_TOKENS");
        assert_eq!(stop_reason_from_ir(&StopReason::Refusal), "SAFETY");
    }

    #[test]
    fn usage_counts_reasoning_inside_the_output_and_back() {
        let usage = Usage {
            input_tokens: 100,
            output_tokens: 50,
            cache_read_tokens: 40,
            cache_write_tokens: 0,
            reasoning_tokens: 30,
        };
        let gemini = usage_from_ir(&usage);
        assert_eq!(
            (
                gemini.prompt_token_count,
                gemini.candidates_token_count,
                gemini.thoughts_token_count,
                gemini.total_token_count
            ),
            (100, 20, Some(30), 150)
        );
        assert_eq!(gemini.cached_content_token_count, Some(40));
        assert_eq!(usage_to_ir(&gemini), usage);
    }

    #[test]
    fn token_counts_past_u64_saturate() {
        let gemini = UsageMetadata {
            candidates_token_count: u64::MAX,
            thoughts_token_count: Some(1),
            ..UsageMetadata::default()
        };
        assert_eq!(usage_to_ir(&gemini).output_tokens, u64::MAX);
        let usage = Usage { input_tokens: u64::MAX, output_tokens: 1, ..Usage::default() };
        assert_eq!(usage_from_ir(&usage).total_token_count, u64::MAX);
    }
}
