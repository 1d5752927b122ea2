//! Streamed answers in the IR: events, the block bookkeeping every decoder shares, and the
//! normalisation every translated stream goes through.

use super::{Part, Response, Signature, StopReason, Usage};

/// What a streamed answer is made of. Content comes as blocks, numbered from 0 in the order they
/// start; a block's deltas come between its start and its stop.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start { id: String, model: String, usage: Usage },
    BlockStart { index: usize, block: BlockStart },
    Delta { index: usize, delta: Delta },
    BlockStop { index: usize },
    Finish { stop_reason: Option<StopReason>, stop_sequence: Option<String>, usage: Usage },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BlockStart {
    Text,
    /// A refusal, whose deltas are `Delta::Text`.
    Refusal,
    Thinking,
    RedactedThinking {
        data: Signature,
    },
    ToolCall {
        id: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    Thinking(String),
    Signature(Signature),
    ToolArguments(String),
}

/// The block bookkeeping of every stream decoder: IR blocks numbered from 0 in the order they
/// start, and, for dialects that have no blocks of their own, the one that is open and what kind
/// of content (`K`) it holds.
#[derive(Debug)]
pub struct Blocks<K> {
    next: usize,
    open: Option<(usize, K)>,
}

impl<K> Default for Blocks<K> {
    fn default() -> Self {
        Self { next: 0, open: None }
    }
}

impl<K: Copy + PartialEq> Blocks<K> {
    /// Starts a block, leaving the open one open; returns its index.
    pub fn start(&mut self, block: BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.next;
        self.next += 1;
        out.push(StreamEvent::BlockStart { index, block });
        index
    }

    /// The open block when it holds `kind`; otherwise the open one is stopped, and a new one,
    /// started as `block` says, is open for `kind`.
    pub fn open(&mut self, kind: K, block: impl FnOnce() -> BlockStart, out: &mut Vec<StreamEvent>) -> usize {
        match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.close(out);
                let index = self.start(block(), out);
                self.open = Some((index, kind));
                index
            }
        }
    }

    /// Stops the open block, if any.
    pub fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }
}

/// A tool called with no arguments has the empty object for them: Anthropic streams an empty
/// `input_json_delta` (or none), and Chat and Responses clients must still get `"{}"`.
#[derive(Debug, Default)]
pub struct EmptyArguments {
    /// Tool-call blocks open with no arguments yet.
    waiting: Vec<usize>,
}

impl EmptyArguments {
    /// Puts `{}` before the stop of each tool-call block in `events` that had no arguments.
    pub fn fill(&mut self, events: &mut Vec<StreamEvent>) {
        let mut i = 0;
        while i < events.len() {
            match &events[i] {
                StreamEvent::BlockStart { index, block: BlockStart::ToolCall { .. } } => self.waiting.push(*index),
                StreamEvent::Delta { index, delta: Delta::ToolArguments(arguments) }
                    if !arguments.trim().is_empty() =>
                {
                    self.waiting.retain(|w| w != index)
                }
                StreamEvent::BlockStop { index } if self.waiting.contains(index) => {
                    let index = *index;
                    self.waiting.retain(|w| *w != index);
                    events.insert(i, StreamEvent::Delta { index, delta: Delta::ToolArguments("{}".into()) });
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl Response {
    /// Tool calls with no arguments get the empty object, as in streams (see `EmptyArguments`).
    pub fn fill_empty_arguments(&mut self) {
        for part in &mut self.content {
            if let Part::ToolCall(call) = part {
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".into();
                }
            }
        }
    }
}

impl Response {
    /// The response as the events a stream of it would carry, for answers made whole (the mock).
    pub fn into_events(self) -> Vec<StreamEvent> {
        let mut events = vec![StreamEvent::Start {
            id: self.id,
            model: self.model,
            usage: Usage { output_tokens: 0, reasoning_tokens: 0, ..self.usage },
        }];
        let blocks = self.content.into_iter().filter_map(|part| match part {
            Part::Text(text) => Some((BlockStart::Text, vec![Delta::Text(text)])),
            Part::Refusal(text) => Some((BlockStart::Refusal, vec![Delta::Text(text)])),
            Part::Thinking { text, signature } => {
                let deltas = std::iter::once(Delta::Thinking(text)).chain(signature.map(Delta::Signature)).collect();
                Some((BlockStart::Thinking, deltas))
            }
            Part::RedactedThinking { data } => Some((BlockStart::RedactedThinking { data }, Vec::new())),
            Part::ToolCall(call) => Some((
                BlockStart::ToolCall { id: call.id, name: call.name },
                vec![Delta::ToolArguments(call.arguments)],
            )),
            Part::Image(_) | Part::Document { .. } | Part::ToolResult(_) => None,
        });
        for (index, (block, deltas)) in blocks.enumerate() {
            events.push(StreamEvent::BlockStart { index, block });
            events.extend(deltas.into_iter().map(|delta| StreamEvent::Delta { index, delta }));
            events.push(StreamEvent::BlockStop { index });
        }
        events.push(StreamEvent::Finish {
            stop_reason: self.stop_reason,
            stop_sequence: self.stop_sequence,
            usage: self.usage,
        });
        events
    }
}
