//! ConverseStream events to IR events and back. Each AWS event-stream message reaches the decoder
//! (and leaves the encoder) as one SSE event named by its `:event-type`, its payload the data
//! (see `transcode::framing`). A stream is `messageStart`, blocks (`contentBlockStart`, which
//! text blocks may go without, `contentBlockDelta`, `contentBlockStop`), `messageStop` with the
//! stop reason, and `metadata` with the usage, which Bedrock sends last.

use super::response::{stop_reason_from_ir, stop_reason_to_ir, stop_sequence_of, usage_from_ir, usage_to_ir};
use super::types::*;
use crate::bedrock;
use crate::codec::{parse_event, truncated, StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::{self, Blocks, Delta, Provider, Signature, StopReason, StreamEvent, Usage};
use crate::sse;
use serde::Serialize;
use serde_json::{json, Value};

/// What a Converse block holds, which its deltas must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    RedactedThinking,
    ToolCall,
}

#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    /// The open blocks: the upstream's index (its number, never used as a position), the IR
    /// block and what it holds.
    open: Vec<(usize, usize, Kind)>,
    /// Converse's blocks are explicit (or implied by their deltas): none is ever the open one.
    ir_blocks: Blocks<()>,
    /// The stop reason and sequence, once `messageStop` has come.
    stopped: Option<(StopReason, Option<String>)>,
    /// The usage, once `metadata` has come.
    usage: Option<Usage>,
    done: bool,
}

impl Decoder {
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            // Converse names neither the answer nor the model, and tells the usage at the end.
            out.push(StreamEvent::Start { id: String::new(), model: String::new(), usage: Usage::default() });
        }
    }

    /// Stops the IR block open at the upstream's `index`, if any.
    fn stop_block(&mut self, index: usize, out: &mut Vec<StreamEvent>) {
        if let Some(position) = self.open.iter().position(|(open, ..)| *open == index) {
            let (_, ir_index, _) = self.open.remove(position);
            out.push(StreamEvent::BlockStop { index: ir_index });
        }
    }

    /// Starts an IR block at the upstream's `index`, stopping the one open there.
    fn start_block(&mut self, index: usize, kind: Kind, block: ir::BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        self.stop_block(index, out);
        let ir_index = self.ir_blocks.start(block, out);
        self.open.push((index, ir_index, kind));
        ir_index
    }

    /// The IR block open at `index` when it holds `kind`; otherwise one started for it.
    fn block(&mut self, index: usize, kind: Kind, out: &mut Vec<StreamEvent>) -> usize {
        match self.open.iter().find(|(open, _, open_kind)| *open == index && *open_kind == kind) {
            Some((_, ir_index, _)) => *ir_index,
            None => {
                let block = if kind == Kind::Text { ir::BlockStart::Text } else { ir::BlockStart::Thinking };
                self.start_block(index, kind, block, out)
            }
        }
    }

    fn delta(&mut self, event: ContentBlockDelta, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        let index = event.content_block_index;
        let (ir_index, delta) = match event.delta {
            BlockDelta::Text(text) if text.is_empty() => return Ok(()),
            BlockDelta::Text(text) => (self.block(index, Kind::Text, out), Delta::Text(text)),
            BlockDelta::ToolUse(tool_use) => {
                let call = self.open.iter().find(|(open, _, kind)| *open == index && *kind == Kind::ToolCall);
                let Some(&(_, ir_index, _)) = call else {
                    return Err(ProxyError::bad_gateway("the upstream sent tool input outside a tool call"));
                };
                if tool_use.input.is_empty() {
                    return Ok(());
                }
                (ir_index, Delta::ToolArguments(tool_use.input))
            }
            BlockDelta::ReasoningContent(ReasoningDelta::Text(text)) if text.is_empty() => return Ok(()),
            BlockDelta::ReasoningContent(ReasoningDelta::Text(text)) => {
                (self.block(index, Kind::Thinking, out), Delta::Thinking(text))
            }
            BlockDelta::ReasoningContent(ReasoningDelta::Signature(signature)) => {
                let signature = Signature::native(Provider::Bedrock, signature);
                (self.block(index, Kind::Thinking, out), Delta::Signature(signature))
            }
            // Redacted reasoning is whole in its one delta, which starts a block of its own.
            BlockDelta::ReasoningContent(ReasoningDelta::RedactedContent(data)) => {
                let data = Signature::native(Provider::Bedrock, data);
                self.start_block(index, Kind::RedactedThinking, ir::BlockStart::RedactedThinking { data }, out);
                return Ok(());
            }
            // Citations and the like have no counterpart in other dialects.
            BlockDelta::ReasoningContent(ReasoningDelta::Other(_)) | BlockDelta::Other(_) => return Ok(()),
        };
        out.push(StreamEvent::Delta { index: ir_index, delta });
        Ok(())
    }

    /// The stream's end: once it has both its stop reason and its usage, or its stop reason and
    /// no more events.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((stop_reason, stop_sequence)) = self.stopped.take() {
            self.done = true;
            let usage = self.usage.unwrap_or_default();
            out.push(StreamEvent::Finish { stop_reason: Some(stop_reason), stop_sequence, usage });
        }
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        let stopped = self.stopped.is_some();
        match event.event.as_str() {
            // An exception, as the framing writes it (see `bedrock::write_error_event`).
            "error" => return Err(ProxyError::from_stream_error(&parse_event::<Value>(&event.data)?)),
            "messageStart" => {
                parse_event::<MessageStart>(&event.data)?;
                self.start(out);
            }
            // Nothing of the answer comes after its stop reason.
            "contentBlockStart" | "contentBlockDelta" | "contentBlockStop" if stopped => {}
            "contentBlockStart" => {
                let start: ContentBlockStart = parse_event(&event.data)?;
                self.start(out);
                // Other blocks start with their first delta.
                if let Some(ToolUseStart { tool_use_id, name }) = start.start.tool_use {
                    let block = ir::BlockStart::ToolCall { id: tool_use_id, name };
                    self.start_block(start.content_block_index, Kind::ToolCall, block, out);
                }
            }
            "contentBlockDelta" => {
                let delta: ContentBlockDelta = parse_event(&event.data)?;
                self.start(out);
                self.delta(delta, out)?;
            }
            "contentBlockStop" => {
                let stop: ContentBlockStop = parse_event(&event.data)?;
                self.stop_block(stop.content_block_index, out);
            }
            "messageStop" => {
                let stop: MessageStop = parse_event(&event.data)?;
                self.start(out);
                for (_, ir_index, _) in std::mem::take(&mut self.open) {
                    out.push(StreamEvent::BlockStop { index: ir_index });
                }
                let sequence = stop_sequence_of(stop.additional_model_response_fields.as_ref());
                self.stopped = Some((stop_reason_to_ir(&stop.stop_reason), sequence));
                if self.usage.is_some() {
                    self.finish(out);
                }
            }
            "metadata" => {
                let metadata: Metadata = parse_event(&event.data)?;
                self.usage = Some(usage_to_ir(&metadata.usage));
                self.finish(out);
            }
            // Event types added after this was written are skipped.
            _ => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// A stream that stopped without its usage is complete all the same.
    fn end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        self.finish(out);
        if self.done {
            Ok(())
        } else {
            Err(truncated())
        }
    }
}

fn write(out: &mut Vec<u8>, event_type: &str, payload: &impl Serialize) {
    sse::write_event(out, Some(event_type), &serde_json::to_string(payload).expect("events serialize"));
}

/// An error as the event the reframer turns into the exception AWS SDKs raise.
pub fn write_error(error: &ProxyError, out: &mut Vec<u8>) {
    bedrock::write_error_event(out, error.kind.anthropic_type(), &error.message);
}

/// Writes IR events as ConverseStream events, IR block indices as `contentBlockIndex`.
#[derive(Debug, Default)]
pub struct Encoder;

impl Encoder {
    fn delta(out: &mut Vec<u8>, index: usize, delta: BlockDelta) {
        write(out, "contentBlockDelta", &ContentBlockDelta { content_block_index: index, delta });
    }
}

impl StreamEncoder for Encoder {
    fn event(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { .. } => write(out, "messageStart", &MessageStart { role: "assistant".into() }),
            StreamEvent::BlockStart { index, block: ir::BlockStart::ToolCall { id, name } } => {
                let start = BlockStart { tool_use: Some(ToolUseStart { tool_use_id: id, name }) };
                write(out, "contentBlockStart", &ContentBlockStart { content_block_index: index, start });
            }
            StreamEvent::BlockStart { index, block: ir::BlockStart::RedactedThinking { data } } => {
                let data = data.for_client(Some(Provider::Bedrock));
                Self::delta(out, index, BlockDelta::ReasoningContent(ReasoningDelta::RedactedContent(data)));
            }
            // Text and reasoning blocks start with their first delta, as Bedrock sends them.
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::Delta { index, delta } => {
                let delta = match delta {
                    Delta::Text(text) => BlockDelta::Text(text),
                    Delta::Thinking(text) => BlockDelta::ReasoningContent(ReasoningDelta::Text(text)),
                    Delta::Signature(signature) => BlockDelta::ReasoningContent(ReasoningDelta::Signature(
                        signature.for_client(Some(Provider::Bedrock)),
                    )),
                    Delta::ToolArguments(input) => BlockDelta::ToolUse(ToolUseDelta { input }),
                };
                Self::delta(out, index, delta);
            }
            StreamEvent::BlockStop { index } => {
                write(out, "contentBlockStop", &ContentBlockStop { content_block_index: index })
            }
            StreamEvent::Finish { stop_reason, stop_sequence, usage } => {
                let stop = MessageStop {
                    stop_reason: stop_reason_from_ir(stop_reason.as_ref().unwrap_or(&StopReason::EndTurn)).into(),
                    additional_model_response_fields: stop_sequence
                        .map(|sequence| json!({"delta": {"stop_sequence": sequence}})),
                };
                write(out, "messageStop", &stop);
                write(out, "metadata", &Metadata { usage: usage_from_ir(&usage), metrics: Metrics::default() });
            }
        }
    }

    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        write_error(error, out);
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
