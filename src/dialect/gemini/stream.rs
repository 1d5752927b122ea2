//! Gemini streams (`streamGenerateContent?alt=sse`): chunks to IR events and back. Each `data:`
//! event is a whole `GenerateContentResponse` holding the parts made since the last one; Gemini
//! streams whole parts, not deltas, and the last chunk carries `finishReason`.

use super::partial_args::Arguments;
use super::response::{
    function_call_from_ir, stop_reason_from_ir, stop_reason_to_ir, usage_from_ir, usage_to_ir, CallIds,
};
use super::types::*;
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::{BlockStart, Blocks, Delta, Provider, Signature, StopReason, StreamEvent, ToolCall, Usage};
use crate::sse;
use serde_json::Value;

/// What the parts that extend the open block hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Text,
    Thinking,
}

#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    /// A function call's block is never the open one: it comes whole, or as a streamed call.
    blocks: Blocks<Run>,
    calls: CallIds,
    /// The call whose arguments are being streamed, by its block, and what has come of them.
    streamed_call: Option<(usize, Arguments)>,
    called_functions: bool,
    usage: Usage,
    done: bool,
}

impl Decoder {
    /// Starts a block after closing the open one.
    fn start(&mut self, block: BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        self.blocks.close(out);
        self.blocks.start(block, out)
    }

    /// The open block when it holds `run`, else a new one.
    fn extend(&mut self, run: Run, out: &mut Vec<StreamEvent>) -> usize {
        let block = || match run {
            Run::Text => BlockStart::Text,
            Run::Thinking => BlockStart::Thinking,
        };
        self.blocks.open(run, block, out)
    }

    fn part(&mut self, mut part: Part, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        if let Some((index, mut arguments)) = self.streamed_call.take() {
            // Until the call's last part, every part is one of its pieces.
            let Some(call) = part.function_call else {
                return Err(ProxyError::bad_gateway("the upstream sent another part inside a streamed function call"));
            };
            arguments.apply(&call.partial_args)?;
            if call.will_continue {
                self.streamed_call = Some((index, arguments));
            } else {
                out.push(StreamEvent::Delta { index, delta: Delta::ToolArguments(arguments.into_json()) });
                out.push(StreamEvent::BlockStop { index });
            }
            return Ok(());
        }
        let signature =
            part.thought_signature.take().map(|value| Delta::Signature(Signature::native(Provider::Gemini, value)));
        if part.thought {
            let index = self.extend(Run::Thinking, out);
            if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Delta { index, delta: Delta::Thinking(text) });
            }
            if let Some(signature) = signature {
                out.push(StreamEvent::Delta { index, delta: signature });
                // The signature signs the thought so far: a thought after it is another block.
                self.blocks.close(out);
            }
            return Ok(());
        }
        if let Some(signature) = signature {
            // On a part that is not a thought, the signature is an empty thinking block just
            // before that part, as `parts_to_ir` has it for whole answers.
            let index = self.start(BlockStart::Thinking, out);
            out.push(StreamEvent::Delta { index, delta: signature });
            out.push(StreamEvent::BlockStop { index });
        }
        if let Some(text) = part.text.filter(|t| !t.is_empty()) {
            let index = self.extend(Run::Text, out);
            out.push(StreamEvent::Delta { index, delta: Delta::Text(text) });
        } else if let Some(call) = part.function_call {
            if call.name.is_empty() {
                return Err(ProxyError::bad_gateway("the upstream sent a function call without a name"));
            }
            self.called_functions = true;
            let id = self.calls.call(call.id, &call.name);
            let index = self.start(BlockStart::ToolCall { id, name: call.name }, out);
            if call.will_continue {
                let mut arguments = Arguments::new(&call.args);
                arguments.apply(&call.partial_args)?;
                self.streamed_call = Some((index, arguments));
                return Ok(());
            }
            out.push(StreamEvent::Delta { index, delta: Delta::ToolArguments(ToolCall::arguments_of(&call.args)) });
            out.push(StreamEvent::BlockStop { index });
        }
        // Images and the parts of Gemini's own tools have no stream block in the IR.
        Ok(())
    }

    fn chunk(&mut self, chunk: GenerateContentResponse, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        if let Some(usage) = &chunk.usage_metadata {
            self.usage = usage_to_ir(usage);
        }
        if !self.started {
            self.started = true;
            self.calls = CallIds::new(format!("call_{}_", chunk.response_id));
            let usage = Usage { output_tokens: 0, reasoning_tokens: 0, ..self.usage };
            out.push(StreamEvent::Start { id: chunk.response_id, model: chunk.model_version, usage });
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            // A prompt Gemini blocked gets no candidate, only the reason.
            if chunk.prompt_feedback.is_some_and(|f| f.block_reason.is_some()) {
                self.finish(StopReason::ContentFilter, out)?;
            }
            return Ok(());
        };
        for part in candidate.content.map(|content| content.parts).unwrap_or_default() {
            self.part(part, out)?;
        }
        if let Some(reason) = candidate.finish_reason {
            self.finish(stop_reason_to_ir(&reason, self.called_functions), out)?;
        }
        Ok(())
    }

    fn finish(&mut self, stop_reason: StopReason, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        if self.streamed_call.is_some() {
            return Err(ProxyError::bad_gateway("the upstream finished inside a streamed function call"));
        }
        self.blocks.close(out);
        self.done = true;
        out.push(StreamEvent::Finish { stop_reason: Some(stop_reason), stop_sequence: None, usage: self.usage });
        Ok(())
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        let chunk: GenerateContentResponse = crate::codec::parse_event(&event.data)?;
        if let Some(error) = &chunk.error {
            // Gemini reports a failure inside a stream as it does in an error body.
            let status = error.get("code").and_then(Value::as_u64).and_then(|code| u16::try_from(code).ok());
            let status = status.filter(|code| (400..600).contains(code)).unwrap_or(502);
            return Err(ProxyError::from_upstream(status, event.data.as_bytes()));
        }
        self.chunk(chunk, out)
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Writes IR events as Gemini stream chunks, one per delta. Gemini has no partial function calls,
/// so a call's arguments are gathered and written whole when its block stops. A signature that
/// came on an empty thinking block belongs to the part after it (see `parts_to_ir`), so it waits
/// and is written on the next part, as Gemini itself sends it.
#[derive(Debug, Default)]
pub struct Encoder {
    id: String,
    model: String,
    /// The calls being gathered, by block index.
    calls: Vec<(usize, ToolCall)>,
    /// Whether the open thinking block has written text, which its signature then signs.
    thought_written: bool,
    /// The signature waiting for the next part.
    signature: Option<String>,
}

impl Encoder {
    /// Writes one chunk holding `part`, which takes the waiting signature unless it has its own.
    fn write(&mut self, out: &mut Vec<u8>, mut part: Part, finish: Option<(StopReason, Usage)>) {
        part.thought_signature = part.thought_signature.or_else(|| self.signature.take());
        let (finish_reason, usage_metadata) = match finish {
            Some((reason, usage)) => (Some(stop_reason_from_ir(&reason).into()), Some(usage_from_ir(&usage))),
            None => (None, None),
        };
        let chunk = GenerateContentResponse {
            candidates: vec![Candidate {
                content: Some(Content { role: Some("model".into()), parts: vec![part] }),
                finish_reason,
                index: Some(0),
                ..Candidate::default()
            }],
            usage_metadata,
            model_version: self.model.clone(),
            response_id: self.id.clone(),
            ..GenerateContentResponse::default()
        };
        sse::write_event(out, None, &serde_json::to_string(&chunk).expect("chunks serialize"));
    }
}

impl StreamEncoder for Encoder {
    fn event(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        match event {
            // There is no opening chunk: every chunk carries the id and model.
            StreamEvent::Start { id, model, .. } => {
                self.id = id;
                self.model = model;
            }
            StreamEvent::BlockStart { index, block: BlockStart::ToolCall { id, name } } => {
                self.calls.push((index, ToolCall { id, name, arguments: String::new() }))
            }
            StreamEvent::BlockStart { block: BlockStart::Thinking, .. } => self.thought_written = false,
            // Text is written as its deltas come; Gemini has no encrypted reasoning to hold
            // another provider's.
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::Delta { index, delta } => match delta {
                Delta::Text(text) => self.write(out, Part { text: Some(text), ..Part::default() }, None),
                Delta::Thinking(text) => {
                    self.thought_written = true;
                    self.write(out, Part { text: Some(text), thought: true, ..Part::default() }, None);
                }
                Delta::Signature(signature) => {
                    let value = signature.for_client(Some(Provider::Gemini));
                    if self.thought_written {
                        let part = Part {
                            text: Some(String::new()),
                            thought: true,
                            thought_signature: Some(value),
                            ..Part::default()
                        };
                        self.write(out, part, None);
                    } else {
                        self.signature = Some(value);
                    }
                }
                Delta::ToolArguments(arguments) => {
                    if let Some((_, call)) = self.calls.iter_mut().find(|(block, _)| *block == index) {
                        call.arguments.push_str(&arguments);
                    }
                }
            },
            StreamEvent::BlockStop { index } => {
                if let Some(position) = self.calls.iter().position(|(block, _)| *block == index) {
                    let (_, call) = self.calls.remove(position);
                    let part = Part { function_call: Some(function_call_from_ir(call)), ..Part::default() };
                    self.write(out, part, None);
                }
            }
            StreamEvent::Finish { stop_reason, usage, .. } => {
                // Gemini's last chunk holds empty text beside the finish reason.
                let part = Part { text: Some(String::new()), ..Part::default() };
                self.write(out, part, Some((stop_reason.unwrap_or(StopReason::EndTurn), usage)));
            }
        }
    }

    /// Gemini SDKs raise on a chunk holding `error`, shaped as Gemini's error bodies.
    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        sse::write_event(out, None, &error.gemini_body().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support;
    use crate::dialect::gemini::request;
    use crate::error::ErrorKind;
    use crate::ir::{self, Message, Role};
    use serde_json::json;

    const RECORDED: &str = include_str!("../../../fixtures/wire/gemini-functioncall-thoughtsig.vercel.chunks.jsonl");

    /// A `*.chunks.jsonl` recording as the SSE stream Gemini sends: one `data:` event per line.
    fn framed(jsonl: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for line in jsonl.lines().filter(|line| !line.trim().is_empty()) {
            sse::write_event(&mut out, None, line);
        }
        out
    }

    fn decode_until_end(bytes: &[u8], piece: usize) -> (Vec<StreamEvent>, Result<(), ProxyError>) {
        test_support::decode_until_end(&mut Decoder::default(), bytes, piece)
    }

    fn decode(bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
        test_support::decode(&mut Decoder::default(), bytes, piece)
    }

    fn encode(events: Vec<StreamEvent>) -> Vec<u8> {
        test_support::encode(&mut Encoder::default(), events)
    }

    /// The chunks of an encoded stream.
    fn chunks(bytes: &[u8]) -> Vec<GenerateContentResponse> {
        let mut parser = sse::Parser::new();
        let mut chunks = Vec::new();
        parser.feed(bytes, &mut |event| chunks.push(serde_json::from_slice(event.data.as_bytes()).unwrap())).unwrap();
        chunks
    }

    #[test]
    fn the_recorded_call_and_its_signature_decode_alike_in_any_pieces() {
        let first: Value = serde_json::from_slice(RECORDED.lines().next().unwrap().as_bytes()).unwrap();
        let signature = first["candidates"][0]["content"]["parts"][0]["thoughtSignature"].as_str().unwrap().to_string();
        let usage = Usage { input_tokens: 29, output_tokens: 15 + 804, reasoning_tokens: 804, ..Usage::default() };
        let expected = vec![
            StreamEvent::Start {
                id: "QHiLaa6LBrb8vdIPoNztsAg".into(),
                model: "gemini-3-pro-preview".into(),
                usage: Usage { input_tokens: 29, ..Usage::default() },
            },
            StreamEvent::BlockStart { index: 0, block: BlockStart::Thinking },
            StreamEvent::Delta { index: 0, delta: Delta::Signature(Signature::native(Provider::Gemini, signature)) },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockStart::ToolCall { id: "call_QHiLaa6LBrb8vdIPoNztsAg_0".into(), name: "weather".into() },
            },
            StreamEvent::Delta { index: 1, delta: Delta::ToolArguments(r#"{"location":"San Francisco"}"#.into()) },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::Finish { stop_reason: Some(StopReason::ToolUse), stop_sequence: None, usage },
        ];
        let stream = framed(RECORDED);
        for piece in [1, 7, stream.len()] {
            assert_eq!(decode(&stream, piece), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn a_stream_encoded_for_gemini_clients_decodes_to_the_same_answer() {
        let decoded = decode(&framed(RECORDED), 7);
        let encoded = encode(decoded.clone());
        let written = chunks(&encoded);
        let call = &written[0].candidates[0].content.as_ref().unwrap().parts[0];
        assert_eq!(call.function_call.as_ref().unwrap().args, serde_json::json!({"location": "San Francisco"}));
        assert!(call.thought_signature.as_deref().unwrap().starts_with("EpEgCo4gAb4+"), "signed as Gemini signed it");
        let last = written.last().unwrap();
        assert_eq!(last.candidates[0].finish_reason.as_deref(), Some("STOP"));
        assert_eq!(
            last.usage_metadata.as_ref().map(|u| (u.prompt_token_count, u.thoughts_token_count)),
            Some((29, Some(804)))
        );

        let again = decode(&encoded, 5);
        // Usage comes with the last chunk only, so the start knows no prompt tokens.
        assert_eq!(again[1..], decoded[1..]);
        assert!(matches!(&again[0], StreamEvent::Start { id, .. } if id == "QHiLaa6LBrb8vdIPoNztsAg"));
    }

    #[test]
    fn a_thought_signed_elsewhere_comes_back_whole_from_a_gemini_client() {
        let signature = Signature::native(Provider::Anthropic, "EqQBCkYIBxgC".into());
        let events = vec![
            StreamEvent::Start { id: "msg_1".into(), model: "claude".into(), usage: Usage::default() },
            StreamEvent::BlockStart { index: 0, block: BlockStart::Thinking },
            StreamEvent::Delta { index: 0, delta: Delta::Thinking("Let me ".into()) },
            StreamEvent::Delta { index: 0, delta: Delta::Thinking("think.".into()) },
            StreamEvent::Delta { index: 0, delta: Delta::Signature(signature.clone()) },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockStart::ToolCall { id: "toolu_1".into(), name: "ls".into() },
            },
            StreamEvent::Delta { index: 1, delta: Delta::ToolArguments(r#"{"pa"#.into()) },
            StreamEvent::Delta { index: 1, delta: Delta::ToolArguments(r#"th":"."}"#.into()) },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::Finish {
                stop_reason: Some(StopReason::ToolUse),
                stop_sequence: None,
                usage: Usage::default(),
            },
        ];
        // The client keeps the parts of every chunk as the model's turn and sends them back.
        let parts: Vec<Part> = chunks(&encode(events))
            .into_iter()
            .flat_map(|chunk| chunk.candidates.into_iter().flat_map(|c| c.content.unwrap().parts))
            .collect();
        let body = GenerateContentRequest {
            contents: vec![
                Content { role: Some("user".into()), parts: vec![Part { text: Some("ls".into()), ..Part::default() }] },
                Content { role: Some("model".into()), parts },
            ],
            ..GenerateContentRequest::default()
        };
        let request = request::to_ir(body).unwrap();
        assert_eq!(
            request.messages[1],
            Message {
                role: Role::Assistant,
                content: vec![
                    ir::Part::Thinking { text: "Let me think.".into(), signature: Some(signature) },
                    ir::Part::ToolCall(ir::ToolCall {
                        id: "toolu_1".into(),
                        name: "ls".into(),
                        arguments: r#"{"path":"."}"#.into()
                    }),
                ],
            }
        );
    }

    /// The calls of a decoded stream: name and parsed arguments.
    fn calls_of(events: &[StreamEvent]) -> Vec<(String, Value)> {
        let mut calls: Vec<(usize, String, String)> = Vec::new();
        for event in events {
            match event {
                StreamEvent::BlockStart { index, block: BlockStart::ToolCall { name, .. } } => {
                    calls.push((*index, name.clone(), String::new()))
                }
                StreamEvent::Delta { index, delta: Delta::ToolArguments(a) } => {
                    calls.iter_mut().find(|(i, ..)| i == index).unwrap().2.push_str(a)
                }
                _ => {}
            }
        }
        calls.into_iter().map(|(_, name, args)| (name, serde_json::from_slice(args.as_bytes()).unwrap())).collect()
    }

    #[test]
    fn streamed_function_arguments_assemble_into_whole_calls() {
        let recorded = [
            (
                include_str!("../../../fixtures/wire/gemini-partial-args.vercel.chunks.jsonl"),
                vec![
                    ("getWeather", json!({"location": "Boston"})),
                    ("getWeather", json!({"location": "San Francisco"})),
                ],
            ),
            (
                include_str!("../../../fixtures/wire/gemini-partial-args-no-args.vercel.chunks.jsonl"),
                vec![
                    ("read_theme", json!({})),
                    ("read_screen", json!({"id": "A"})),
                    ("read_screen", json!({"id": "B"})),
                    ("read_screen", json!({"id": "C"})),
                ],
            ),
        ];
        for (recording, expected) in recorded {
            let stream = framed(recording);
            for piece in [1, 7, stream.len()] {
                let events = decode(&stream, piece);
                let calls = calls_of(&events);
                let expected: Vec<(String, Value)> = expected.iter().map(|(n, a)| (n.to_string(), a.clone())).collect();
                assert_eq!(calls, expected, "pieces of {piece}");
                assert!(matches!(
                    events.last(),
                    Some(StreamEvent::Finish { stop_reason: Some(StopReason::ToolUse), .. })
                ));
            }
        }
        let nested =
            decode(&framed(include_str!("../../../fixtures/wire/vertex-partial-args-nested.vercel.chunks.jsonl")), 64);
        let calls = calls_of(&nested);
        assert_eq!(calls.len(), 1);
        let (name, recipe) = &calls[0];
        assert_eq!(name, "cookRecipe");
        assert_eq!(recipe["recipe"]["ingredients"][0], json!({"amount": "16 oz", "name": "Lasagna noodles"}));
        assert_eq!(recipe["recipe"]["ingredients"].as_array().unwrap().len(), 10);
        assert_eq!(recipe["recipe"]["steps"].as_array().unwrap().len(), 10);
        assert_eq!(recipe["recipe"]["steps"][9], "Let stand for 15 minutes before serving.");
    }

    #[test]
    fn a_cut_stream_fails_and_an_error_chunk_is_the_upstreams_error() {
        let cut = framed(RECORDED.lines().next().unwrap());
        let (events, ended) = decode_until_end(&cut, cut.len());
        assert!(matches!(events.last(), Some(StreamEvent::BlockStop { .. })));
        assert_eq!(ended.unwrap_err(), crate::codec::truncated());

        let error = br#"data: {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}"#;
        let (_, ended) = decode_until_end(error, 9);
        let error = ended.unwrap_err();
        assert_eq!(
            (error.status, error.kind, error.message.as_str()),
            (429, ErrorKind::RateLimit, "Resource has been exhausted")
        );

        let mut out = Vec::new();
        Encoder::default().error(&ProxyError::bad_gateway("cut"), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"error\":{\"code\":502,\"message\":\"cut\",\"status\":\"INTERNAL\"}}\n\n"
        );
    }
}
