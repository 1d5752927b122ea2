//! Anthropic Messages streams: events to IR events and back.

use super::response::{stop_reason_for, stop_reason_to_ir, usage_from_ir, usage_to_ir};
use super::types::{self, AnthropicUsage, Block, BlockDelta, MessageDeltaBody, MessagesResponse};
use crate::codec::{self, StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::{BlockStart, Blocks, Delta, Provider, Signature, StopReason, StreamEvent, Usage};
use crate::sse;
use serde_json::{json, Map};

#[derive(Debug, Default)]
pub struct Decoder {
    /// IR block index per Anthropic block index (the upstream's number, never used as a position);
    /// None for blocks with no IR counterpart.
    blocks: Vec<(usize, Option<usize>)>,
    /// Anthropic's blocks are explicit: none is ever the open one.
    ir_blocks: Blocks<()>,
    usage: Usage,
    stop_reason: Option<StopReason>,
    stop_sequence: Option<String>,
    done: bool,
}

impl Decoder {
    fn block(&self, index: usize) -> Option<usize> {
        self.blocks.iter().rev().find(|(i, _)| *i == index).and_then(|(_, block)| *block)
    }

    fn start_block(&mut self, index: usize, block: Block, out: &mut Vec<StreamEvent>) {
        let (start, first) = match block {
            Block::Text { text, .. } => (BlockStart::Text, Some(Delta::Text(text))),
            Block::Thinking { thinking, .. } => (BlockStart::Thinking, Some(Delta::Thinking(thinking))),
            Block::RedactedThinking { data } => {
                (BlockStart::RedactedThinking { data: Signature::native(Provider::Anthropic, data) }, None)
            }
            Block::ToolUse { id, name, input, .. } => {
                let arguments = input
                    .as_object()
                    .filter(|o| !o.is_empty())
                    .map(|o| serde_json::Value::Object(o.clone()).to_string());
                (BlockStart::ToolCall { id, name }, arguments.map(Delta::ToolArguments))
            }
            // Server tools and their results have no counterpart in other dialects.
            Block::Image { .. } | Block::Document { .. } | Block::ToolResult { .. } | Block::Other(_) => {
                self.set_block(index, None);
                return;
            }
        };
        let ir_index = self.ir_blocks.start(start, out);
        self.set_block(index, Some(ir_index));
        if let Some(delta) = first.filter(|d| !matches!(d, Delta::Text(t) | Delta::Thinking(t) if t.is_empty())) {
            out.push(StreamEvent::Delta { index: ir_index, delta });
        }
    }

    fn set_block(&mut self, index: usize, ir_index: Option<usize>) {
        self.blocks.push((index, ir_index));
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        let parsed = types::StreamEvent::from_json(event.data.as_bytes()).map_err(codec::unreadable_event)?;
        match parsed {
            types::StreamEvent::MessageStart { message } => {
                self.usage = usage_to_ir(&message.usage);
                out.push(StreamEvent::Start { id: message.id, model: message.model, usage: self.usage });
            }
            types::StreamEvent::ContentBlockStart { index, content_block } => {
                self.start_block(index, content_block, out)
            }
            types::StreamEvent::ContentBlockDelta { index, delta } => {
                let Some(index) = self.block(index) else {
                    return Ok(());
                };
                let delta = match delta {
                    BlockDelta::TextDelta { text } => Delta::Text(text),
                    BlockDelta::InputJsonDelta { partial_json } if partial_json.is_empty() => return Ok(()),
                    BlockDelta::InputJsonDelta { partial_json } => Delta::ToolArguments(partial_json),
                    BlockDelta::ThinkingDelta { thinking } => Delta::Thinking(thinking),
                    BlockDelta::SignatureDelta { signature } => {
                        Delta::Signature(Signature::native(Provider::Anthropic, signature))
                    }
                    // Citations and the like have no counterpart in other dialects.
                    BlockDelta::Other(_) => return Ok(()),
                };
                out.push(StreamEvent::Delta { index, delta });
            }
            types::StreamEvent::ContentBlockStop { index } => {
                if let Some(index) = self.block(index) {
                    out.push(StreamEvent::BlockStop { index });
                }
            }
            types::StreamEvent::MessageDelta { delta, usage } => {
                self.stop_reason = delta.stop_reason.as_deref().map(stop_reason_to_ir);
                self.stop_sequence = delta.stop_sequence;
                self.usage.output_tokens = usage.output_tokens;
                if usage.input_tokens.is_some() {
                    self.usage = Usage { output_tokens: usage.output_tokens, ..usage_to_ir(&usage) };
                }
            }
            types::StreamEvent::MessageStop => {
                self.done = true;
                out.push(StreamEvent::Finish {
                    stop_reason: self.stop_reason.take(),
                    stop_sequence: self.stop_sequence.take(),
                    usage: self.usage,
                });
            }
            types::StreamEvent::Error { error } => return Err(ProxyError::from_stream_error(&error)),
            types::StreamEvent::Ping | types::StreamEvent::Unknown => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// An error as the event Anthropic's SDKs raise on.
pub fn write_error(error: &ProxyError, out: &mut Vec<u8>) {
    sse::write_event(out, Some("error"), &error.anthropic_body().to_string());
}

/// Writes IR events as a Messages stream.
#[derive(Debug, Default)]
pub struct Encoder {
    /// A refusal was written, which the stop reason then tells.
    refused: bool,
}

fn write(out: &mut Vec<u8>, event: &types::StreamEvent) {
    let data = serde_json::to_string(event).expect("events serialize");
    let name = match event {
        types::StreamEvent::MessageStart { .. } => "message_start",
        types::StreamEvent::ContentBlockStart { .. } => "content_block_start",
        types::StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
        types::StreamEvent::ContentBlockStop { .. } => "content_block_stop",
        types::StreamEvent::MessageDelta { .. } => "message_delta",
        types::StreamEvent::MessageStop => "message_stop",
        types::StreamEvent::Ping => "ping",
        types::StreamEvent::Error { .. } => "error",
        types::StreamEvent::Unknown => return,
    };
    sse::write_event(out, Some(name), &data);
}

impl StreamEncoder for Encoder {
    fn event(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        let event = match event {
            StreamEvent::Start { id, model, usage } => types::StreamEvent::MessageStart {
                message: MessagesResponse {
                    id,
                    kind: "message".into(),
                    role: "assistant".into(),
                    model,
                    content: Vec::new(),
                    stop_reason: None,
                    stop_sequence: None,
                    usage: AnthropicUsage { output_tokens: 0, ..usage_from_ir(&usage) },
                },
            },
            StreamEvent::BlockStart { index, block } => types::StreamEvent::ContentBlockStart {
                index,
                content_block: match block {
                    BlockStart::Text => Block::Text { text: String::new(), extra: Map::new() },
                    BlockStart::Refusal => {
                        self.refused = true;
                        Block::Text { text: String::new(), extra: Map::new() }
                    }
                    BlockStart::Thinking => Block::Thinking { thinking: String::new(), signature: String::new() },
                    BlockStart::RedactedThinking { data } => {
                        Block::RedactedThinking { data: data.for_client(Some(Provider::Anthropic)) }
                    }
                    BlockStart::ToolCall { id, name } => {
                        Block::ToolUse { id, name, input: json!({}), extra: Map::new() }
                    }
                },
            },
            StreamEvent::Delta { index, delta } => types::StreamEvent::ContentBlockDelta {
                index,
                delta: match delta {
                    Delta::Text(text) => BlockDelta::TextDelta { text },
                    Delta::Thinking(thinking) => BlockDelta::ThinkingDelta { thinking },
                    Delta::Signature(signature) => {
                        BlockDelta::SignatureDelta { signature: signature.for_client(Some(Provider::Anthropic)) }
                    }
                    Delta::ToolArguments(partial_json) => BlockDelta::InputJsonDelta { partial_json },
                },
            },
            StreamEvent::BlockStop { index } => types::StreamEvent::ContentBlockStop { index },
            StreamEvent::Finish { stop_reason, stop_sequence, usage } => {
                let reason = stop_reason_for(stop_reason.as_ref(), self.refused);
                write(
                    out,
                    &types::StreamEvent::MessageDelta {
                        delta: MessageDeltaBody { stop_reason: Some(reason.into()), stop_sequence },
                        usage: usage_from_ir(&usage),
                    },
                );
                types::StreamEvent::MessageStop
            }
        };
        write(out, &event);
    }

    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        write_error(error, out);
    }
}
