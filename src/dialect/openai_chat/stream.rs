//! Chat Completions streams: chunks to IR events and back.

use super::response::{stop_reason_from_ir, stop_reason_to_ir, usage_from_ir, usage_to_ir};
use super::types::*;
use crate::codec::{StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::{BlockStart, Blocks, Delta, StopReason, StreamEvent, Usage};
use crate::sse;

/// What kind of block a Chat delta belongs to; Chat has no blocks, so the decoder makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Reasoning,
    Text,
    Refusal,
    Tool(usize),
}

#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    blocks: Blocks<Source>,
    /// Block index per Chat tool-call index, for arguments that come back to an earlier call.
    tools: Vec<(usize, usize)>,
    stop_reason: Option<StopReason>,
    usage: Usage,
    done: bool,
}

impl Decoder {
    /// The block a delta from `source` belongs to: a call's block is its own wherever its
    /// arguments come, anything else extends the open block of its kind or starts one.
    fn block_for(&mut self, source: Source, start: impl FnOnce() -> BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        let Source::Tool(tool) = source else {
            return self.blocks.open(source, start, out);
        };
        if let Some(&(_, index)) = self.tools.iter().find(|(t, _)| *t == tool) {
            return index;
        }
        let index = self.blocks.open(source, start, out);
        self.tools.push((tool, index));
        index
    }

    fn chunk(&mut self, chunk: ChatChunk, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: chunk.id, model: chunk.model, usage: Usage::default() });
        }
        if let Some(usage) = &chunk.usage {
            self.usage = usage_to_ir(usage);
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return;
        };
        let delta = choice.delta;
        if let Some(text) = delta.reasoning_content.or(delta.reasoning).filter(|t| !t.is_empty()) {
            let index = self.block_for(Source::Reasoning, || BlockStart::Thinking, out);
            out.push(StreamEvent::Delta { index, delta: Delta::Thinking(text) });
        }
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            let index = self.block_for(Source::Text, || BlockStart::Text, out);
            out.push(StreamEvent::Delta { index, delta: Delta::Text(text) });
        }
        if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
            let index = self.block_for(Source::Refusal, || BlockStart::Refusal, out);
            out.push(StreamEvent::Delta { index, delta: Delta::Text(text) });
        }
        for call in delta.tool_calls {
            let function = call.function.unwrap_or_default();
            let (id, name) = (call.id.unwrap_or_default(), function.name.unwrap_or_default());
            let index = self.block_for(Source::Tool(call.index), || BlockStart::ToolCall { id, name }, out);
            if let Some(arguments) = function.arguments.filter(|a| !a.is_empty()) {
                out.push(StreamEvent::Delta { index, delta: Delta::ToolArguments(arguments) });
            }
        }
        // Older Ollama sends `"finish_reason": ""` on every chunk before the last.
        if let Some(reason) = choice.finish_reason.filter(|reason| !reason.is_empty()) {
            self.blocks.close(out);
            self.stop_reason = Some(stop_reason_to_ir(&reason));
        }
    }

    fn finish_events(&mut self, out: &mut Vec<StreamEvent>) {
        self.blocks.close(out);
        self.done = true;
        out.push(StreamEvent::Finish { stop_reason: self.stop_reason.take(), stop_sequence: None, usage: self.usage });
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        if event.data == "[DONE]" {
            self.finish_events(out);
            return Ok(());
        }
        let chunk: ChatChunk = crate::codec::parse_event(&event.data)?;
        if let Some(error) = &chunk.error {
            return Err(ProxyError::from_stream_error(error));
        }
        self.chunk(chunk, out);
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        if self.done {
            return Ok(());
        }
        // Some compatible servers end without `[DONE]`; a finish reason still marks a whole answer.
        if self.stop_reason.is_some() {
            self.finish_events(out);
            return Ok(());
        }
        Err(crate::codec::truncated())
    }
}

/// An error as the chunk OpenAI's SDKs raise on: one holding `error`.
pub fn write_error(error: &ProxyError, out: &mut Vec<u8>) {
    sse::write_event(out, None, &serde_json::json!({"error": error.openai_object()}).to_string());
}

/// Writes IR events as Chat Completions chunks.
#[derive(Debug)]
pub struct Encoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Chat tool-call index per block index.
    tool_index: Vec<(usize, usize)>,
    /// The blocks that are refusals, whose text goes in `refusal`.
    refusals: Vec<usize>,
}

impl Encoder {
    pub fn new(created: u64, include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            include_usage,
            tool_index: Vec::new(),
            refusals: Vec::new(),
        }
    }

    fn write(&self, out: &mut Vec<u8>, delta: ChunkDelta, finish_reason: Option<String>, usage: Option<ChatUsage>) {
        let choice = [ChunkChoice { index: 0, delta, finish_reason }];
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            // The usage chunk is the one with no choices.
            choices: if usage.is_some() { &[] } else { &choice },
            usage: usage.as_ref(),
        };
        sse::write_event(out, None, &serde_json::to_string(&chunk).expect("chunks serialize"));
    }
}

/// A chunk as written: borrowed, so each delta costs one small serialization.
#[derive(serde::Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a ChatUsage>,
}

impl StreamEncoder for Encoder {
    fn event(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, model, .. } => {
                self.id = id;
                self.model = model;
                let delta =
                    ChunkDelta { role: Some("assistant".into()), content: Some(String::new()), ..Default::default() };
                self.write(out, delta, None, None);
            }
            StreamEvent::BlockStart { index, block: BlockStart::ToolCall { id, name } } => {
                let tool = self.tool_index.len();
                self.tool_index.push((index, tool));
                let call = ToolCallDelta {
                    index: tool,
                    id: Some(id),
                    kind: Some("function".into()),
                    function: Some(FunctionCallDelta { name: Some(name), arguments: Some(String::new()) }),
                };
                self.write(out, ChunkDelta { tool_calls: vec![call], ..Default::default() }, None, None);
            }
            StreamEvent::BlockStart { index, block: BlockStart::Refusal } => self.refusals.push(index),
            StreamEvent::BlockStart { .. } | StreamEvent::BlockStop { .. } => {}
            StreamEvent::Delta { index, delta } => {
                let delta = match delta {
                    Delta::Text(text) if self.refusals.contains(&index) => {
                        ChunkDelta { refusal: Some(text), ..Default::default() }
                    }
                    Delta::Text(text) => ChunkDelta { content: Some(text), ..Default::default() },
                    Delta::Thinking(text) => ChunkDelta { reasoning_content: Some(text), ..Default::default() },
                    // Chat Completions has no place for a reasoning signature.
                    Delta::Signature(_) => return,
                    Delta::ToolArguments(arguments) => {
                        let Some(&(_, tool)) = self.tool_index.iter().find(|(block, _)| *block == index) else {
                            return;
                        };
                        let call = ToolCallDelta {
                            index: tool,
                            function: Some(FunctionCallDelta { name: None, arguments: Some(arguments) }),
                            ..Default::default()
                        };
                        ChunkDelta { tool_calls: vec![call], ..Default::default() }
                    }
                };
                self.write(out, delta, None, None);
            }
            StreamEvent::Finish { stop_reason, usage, .. } => {
                let reason = stop_reason_from_ir(stop_reason.as_ref().unwrap_or(&StopReason::EndTurn));
                self.write(out, ChunkDelta::default(), Some(reason.into()), None);
                if self.include_usage {
                    self.write(out, ChunkDelta::default(), None, Some(usage_from_ir(&usage)));
                }
                sse::write_event(out, None, "[DONE]");
            }
        }
    }

    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        write_error(error, out);
    }
}
