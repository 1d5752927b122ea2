//! Responses streams: events to IR events and back. Codex reads this protocol, so the encoder
//! writes every event of it in order: item and content-part bookends around the deltas, and the
//! whole response again in `response.completed`.

use super::request::{reasoning_signature, NAMESPACE_SEPARATOR};
use super::response::{
    item_from_ir, output_text, reasoning_item, refusal_part, status_from_ir, stop_reason_to_ir, usage_from_ir,
    usage_to_ir,
};
use super::types::{self, ContentPart, Item, ResponseObject};
use crate::codec::{self, StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::{BlockStart, Blocks, Delta, Part, Provider, Signature, StreamEvent, ToolCall, Usage};
use crate::sse;
use crate::tagged;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Message,
    Reasoning,
    FunctionCall,
}

/// What the decoder knows of one output item.
#[derive(Debug)]
struct OpenItem {
    output_index: usize,
    kind: ItemKind,
    /// The IR block, once it started (a message's starts with its first text).
    block: Option<usize>,
    /// For reasoning: the summary part being written; for calls: whether arguments came as deltas.
    summary_index: Option<usize>,
    has_arguments: bool,
}

impl OpenItem {
    /// The item's block, for a delta that only an item of `kind` may have.
    fn block_of(&self, kind: ItemKind, what: &str) -> Result<usize, ProxyError> {
        match self.block {
            Some(index) if self.kind == kind => Ok(index),
            _ => Err(ProxyError::bad_gateway(format!(
                "the upstream sent {what} for output item {}, which is a {:?} item",
                self.output_index, self.kind
            ))),
        }
    }
}

#[derive(Debug, Default)]
pub struct Decoder {
    items: Vec<OpenItem>,
    /// Items are explicit: none is ever the open block.
    blocks: Blocks<()>,
    done: bool,
}

impl Decoder {
    fn item(&mut self, output_index: usize) -> Option<&mut OpenItem> {
        self.items.iter_mut().find(|item| item.output_index == output_index)
    }

    /// The IR block of a message item, started now as `start` if it has not yet been.
    fn block(&mut self, output_index: usize, start: BlockStart, out: &mut Vec<StreamEvent>) -> Option<usize> {
        let block = self.item(output_index)?.block;
        if block.is_some() {
            return block;
        }
        let index = self.blocks.start(start, out);
        self.item(output_index)?.block = Some(index);
        Some(index)
    }
}

fn call_name(item: &Item) -> String {
    let name = item.name.clone().unwrap_or_default();
    match &item.namespace {
        Some(namespace) => format!("{namespace}{NAMESPACE_SEPARATOR}{name}"),
        None => name,
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: sse::Event, out: &mut Vec<StreamEvent>) -> Result<(), ProxyError> {
        let parsed: types::StreamEvent =
            tagged::from_slice(event.data.as_bytes(), "type").map_err(codec::unreadable_event)?;
        match parsed {
            types::StreamEvent::Created { response } => {
                out.push(StreamEvent::Start { id: response.id, model: response.model, usage: Usage::default() })
            }
            types::StreamEvent::ItemAdded { output_index, item } => {
                let (kind, block) = match item.kind.as_deref() {
                    Some("message") => (ItemKind::Message, None),
                    Some("reasoning") => (ItemKind::Reasoning, Some(self.blocks.start(BlockStart::Thinking, out))),
                    Some("function_call") => {
                        let start = BlockStart::ToolCall {
                            id: item.call_id.clone().unwrap_or_default(),
                            name: call_name(&item),
                        };
                        (ItemKind::FunctionCall, Some(self.blocks.start(start, out)))
                    }
                    // Hosted-tool items have no counterpart in other dialects.
                    _ => return Ok(()),
                };
                self.items.push(OpenItem { output_index, kind, block, summary_index: None, has_arguments: false });
            }
            types::StreamEvent::TextDelta { output_index, delta } => {
                if let Some(index) = self.block(output_index, BlockStart::Text, out) {
                    out.push(StreamEvent::Delta { index, delta: Delta::Text(delta) });
                }
            }
            types::StreamEvent::RefusalDelta { output_index, delta } => {
                if let Some(index) = self.block(output_index, BlockStart::Refusal, out) {
                    out.push(StreamEvent::Delta { index, delta: Delta::Text(delta) });
                }
            }
            types::StreamEvent::SummaryDelta { output_index, summary_index, delta } => {
                let Some(item) = self.item(output_index) else { return Ok(()) };
                let index = item.block_of(ItemKind::Reasoning, "a reasoning summary")?;
                // Summary parts are paragraphs of one reasoning text.
                let separate = item.summary_index.is_some_and(|previous| previous != summary_index);
                item.summary_index = Some(summary_index);
                let text = if separate { format!("\n\n{delta}") } else { delta };
                out.push(StreamEvent::Delta { index, delta: Delta::Thinking(text) });
            }
            types::StreamEvent::ReasoningDelta { output_index, delta } => {
                if let Some(item) = self.item(output_index) {
                    let index = item.block_of(ItemKind::Reasoning, "reasoning text")?;
                    out.push(StreamEvent::Delta { index, delta: Delta::Thinking(delta) });
                }
            }
            types::StreamEvent::ArgumentsDelta { output_index, delta } => {
                let Some(item) = self.item(output_index) else { return Ok(()) };
                let index = item.block_of(ItemKind::FunctionCall, "function call arguments")?;
                item.has_arguments = true;
                out.push(StreamEvent::Delta { index, delta: Delta::ToolArguments(delta) });
            }
            types::StreamEvent::ItemDone { output_index, item: done } => {
                let Some(position) = self.items.iter().position(|i| i.output_index == output_index) else {
                    return Ok(());
                };
                let item = self.items.remove(position);
                let Some(index) = item.block else { return Ok(()) };
                match item.kind {
                    ItemKind::Reasoning => {
                        if let Some(encrypted) = &done.encrypted_content {
                            let value = reasoning_signature(done.id.as_deref().unwrap_or(""), encrypted);
                            out.push(StreamEvent::Delta {
                                index,
                                delta: Delta::Signature(Signature::native(Provider::OpenAi, value)),
                            });
                        }
                    }
                    ItemKind::FunctionCall if !item.has_arguments => {
                        let arguments = done.arguments.unwrap_or_default();
                        if !arguments.is_empty() {
                            out.push(StreamEvent::Delta { index, delta: Delta::ToolArguments(arguments) });
                        }
                    }
                    ItemKind::FunctionCall | ItemKind::Message => {}
                }
                out.push(StreamEvent::BlockStop { index });
            }
            types::StreamEvent::Completed { response } | types::StreamEvent::Incomplete { response } => {
                self.done = true;
                out.push(StreamEvent::Finish {
                    stop_reason: Some(stop_reason_to_ir(&response)),
                    stop_sequence: None,
                    usage: response.usage.as_ref().map(usage_to_ir).unwrap_or_default(),
                });
            }
            types::StreamEvent::Failed { response } => {
                let error = response.error.unwrap_or_else(|| json!({"message": "the upstream response failed"}));
                return Err(ProxyError::from_stream_error(&error));
            }
            types::StreamEvent::Error(error) => return Err(ProxyError::from_stream_error(&error)),
            types::StreamEvent::Other => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// One output item being written.
#[derive(Debug)]
struct WrittenItem {
    block: usize,
    output_index: usize,
    id: String,
    part: Part,
    summary_started: bool,
}

/// The fields of the events about one item, written as borrowed so that the deltas, the bulk of a
/// stream, cost one small serialization each.
#[derive(Serialize, Default)]
struct ItemEvent<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<&'a ContentPart>,
}

#[derive(Serialize)]
struct OutputItemEvent<'a> {
    output_index: usize,
    item: &'a Item,
}

#[derive(Serialize)]
struct ResponseEvent<'a> {
    response: &'a ResponseObject,
}

/// Writes IR events as a Responses stream.
#[derive(Debug)]
pub struct Encoder {
    sequence: u64,
    created_at: u64,
    response: ResponseObject,
    namespaces: Vec<String>,
    open: Vec<WrittenItem>,
    fields: Vec<u8>,
}

impl Encoder {
    pub fn new(created_at: u64, namespaces: Vec<String>) -> Self {
        Self {
            sequence: 0,
            created_at,
            response: ResponseObject::default(),
            namespaces,
            open: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Writes an event: its `type` and `sequence_number`, then the fields of `fields`.
    fn write(&mut self, out: &mut Vec<u8>, kind: &str, fields: &impl Serialize) {
        // The fields go straight after the event's own two, so the (often large) item or
        // response is serialized once, into a buffer kept for the next event.
        self.fields.clear();
        serde_json::to_writer(&mut self.fields, fields).expect("events serialize");
        let data = format!("{{\"type\":\"{kind}\",\"sequence_number\":{}", self.sequence);
        self.sequence += 1;
        let rest = &self.fields[1..];
        sse::write_event_parts(out, Some(kind), &[data.as_bytes(), if rest.len() > 1 { b"," } else { b"" }, rest]);
    }

    fn write_response(&mut self, out: &mut Vec<u8>, kind: &str) {
        let response = std::mem::take(&mut self.response);
        self.write(out, kind, &ResponseEvent { response: &response });
        self.response = response;
    }

    fn write_item(&mut self, out: &mut Vec<u8>, kind: &str, output_index: usize, item: &Item) {
        self.write(out, kind, &OutputItemEvent { output_index, item });
    }

    fn start_item(&mut self, block: usize, start: BlockStart, out: &mut Vec<u8>) {
        let output_index = self.response.output.len() + self.open.len();
        let (prefix, part) = match start {
            BlockStart::Text => ("msg", Part::Text(String::new())),
            BlockStart::Refusal => ("msg", Part::Refusal(String::new())),
            BlockStart::Thinking => ("rs", Part::Thinking { text: String::new(), signature: None }),
            BlockStart::RedactedThinking { data } => ("rs", Part::RedactedThinking { data }),
            BlockStart::ToolCall { id, name } => {
                ("fc", Part::ToolCall(ToolCall { id, name, arguments: String::new() }))
            }
        };
        let id = format!("{prefix}_{}_{output_index}", self.response.id);
        let mut item = item_from_ir(part.clone(), id.clone(), &self.namespaces)
            .expect("written items are text, reasoning or calls");
        match part {
            Part::Text(_) | Part::Refusal(_) => {
                item.status = Some("in_progress".into());
                // A message starts empty; its text part is announced next.
                item.content = Some(types::Content::Parts(Vec::new()));
            }
            Part::ToolCall(_) => item.status = Some("in_progress".into()),
            _ => {}
        }
        self.write_item(out, "response.output_item.added", output_index, &item);
        let empty = match part {
            Part::Text(_) => Some(output_text(String::new())),
            Part::Refusal(_) => Some(refusal_part(String::new())),
            _ => None,
        };
        if let Some(empty) = empty {
            let event = ItemEvent {
                item_id: &id,
                output_index,
                content_index: Some(0),
                part: Some(&empty),
                ..Default::default()
            };
            self.write(out, "response.content_part.added", &event);
        }
        self.open.push(WrittenItem { block, output_index, id, part, summary_started: false });
    }

    fn delta(&mut self, block: usize, delta: Delta, out: &mut Vec<u8>) {
        let Some(position) = self.open.iter().position(|w| w.block == block) else { return };
        let mut written = self.open.remove(position);
        let (id, output_index) = (written.id.as_str(), written.output_index);
        match (&mut written.part, delta) {
            (Part::Text(text), Delta::Text(delta)) => {
                text.push_str(&delta);
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    delta: Some(&delta),
                    ..Default::default()
                };
                self.write(out, "response.output_text.delta", &event);
            }
            (Part::Refusal(refusal), Delta::Text(delta)) => {
                refusal.push_str(&delta);
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    delta: Some(&delta),
                    ..Default::default()
                };
                self.write(out, "response.refusal.delta", &event);
            }
            (Part::Thinking { text, .. }, Delta::Thinking(delta)) => {
                text.push_str(&delta);
                if !std::mem::replace(&mut written.summary_started, true) {
                    let empty = ContentPart {
                        kind: "summary_text".into(),
                        text: Some(String::new()),
                        ..ContentPart::default()
                    };
                    let event = ItemEvent {
                        item_id: id,
                        output_index,
                        summary_index: Some(0),
                        part: Some(&empty),
                        ..Default::default()
                    };
                    self.write(out, "response.reasoning_summary_part.added", &event);
                }
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    summary_index: Some(0),
                    delta: Some(&delta),
                    ..Default::default()
                };
                self.write(out, "response.reasoning_summary_text.delta", &event);
            }
            (Part::Thinking { signature, .. }, Delta::Signature(delta)) => *signature = Some(delta),
            (Part::ToolCall(call), Delta::ToolArguments(delta)) => {
                call.arguments.push_str(&delta);
                let event = ItemEvent { item_id: id, output_index, delta: Some(&delta), ..Default::default() };
                self.write(out, "response.function_call_arguments.delta", &event);
            }
            _ => {}
        }
        self.open.insert(position, written);
    }

    fn finish_item(&mut self, block: usize, out: &mut Vec<u8>) {
        let Some(position) = self.open.iter().position(|w| w.block == block) else { return };
        let written = self.open.remove(position);
        let (id, output_index) = (written.id.as_str(), written.output_index);
        match &written.part {
            Part::Text(text) => {
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    text: Some(text),
                    ..Default::default()
                };
                self.write(out, "response.output_text.done", &event);
                let part = output_text(text.clone());
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    part: Some(&part),
                    ..Default::default()
                };
                self.write(out, "response.content_part.done", &event);
            }
            Part::Refusal(refusal) => {
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    refusal: Some(refusal),
                    ..Default::default()
                };
                self.write(out, "response.refusal.done", &event);
                let part = refusal_part(refusal.clone());
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    content_index: Some(0),
                    part: Some(&part),
                    ..Default::default()
                };
                self.write(out, "response.content_part.done", &event);
            }
            Part::Thinking { text, .. } if written.summary_started => {
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    summary_index: Some(0),
                    text: Some(text),
                    ..Default::default()
                };
                self.write(out, "response.reasoning_summary_text.done", &event);
                let part =
                    ContentPart { kind: "summary_text".into(), text: Some(text.clone()), ..ContentPart::default() };
                let event = ItemEvent {
                    item_id: id,
                    output_index,
                    summary_index: Some(0),
                    part: Some(&part),
                    ..Default::default()
                };
                self.write(out, "response.reasoning_summary_part.done", &event);
            }
            Part::ToolCall(call) => {
                let event =
                    ItemEvent { item_id: id, output_index, arguments: Some(&call.arguments), ..Default::default() };
                self.write(out, "response.function_call_arguments.done", &event);
            }
            _ => {}
        }
        let item = match written.part {
            Part::Thinking { text, signature } => reasoning_item(written.id, text, signature.as_ref()),
            part => {
                item_from_ir(part, written.id, &self.namespaces).expect("written items are text, reasoning or calls")
            }
        };
        self.write_item(out, "response.output_item.done", output_index, &item);
        self.response.output.push(item);
    }
}

impl StreamEncoder for Encoder {
    fn event(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, model, .. } => {
                self.response = ResponseObject {
                    id,
                    object: "response".into(),
                    created_at: self.created_at,
                    status: Some("in_progress".into()),
                    model,
                    ..ResponseObject::default()
                };
                self.write_response(out, "response.created");
                self.write_response(out, "response.in_progress");
            }
            StreamEvent::BlockStart { index, block } => self.start_item(index, block, out),
            StreamEvent::Delta { index, delta } => self.delta(index, delta, out),
            StreamEvent::BlockStop { index } => self.finish_item(index, out),
            StreamEvent::Finish { stop_reason, usage, .. } => {
                let open: Vec<usize> = self.open.iter().map(|w| w.block).collect();
                for block in open {
                    self.finish_item(block, out);
                }
                let (status, incomplete_details) = status_from_ir(stop_reason.as_ref());
                self.response.status = Some(status.into());
                self.response.incomplete_details = incomplete_details;
                self.response.usage = Some(usage_from_ir(&usage));
                self.write_response(
                    out,
                    if status == "completed" { "response.completed" } else { "response.incomplete" },
                );
            }
        }
    }

    /// Codex and the SDKs read a failure as the response, by its id, turning `failed`.
    fn error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        self.response.status = Some("failed".into());
        self.response.error = Some(error.openai_object());
        self.write_response(out, "response.failed");
    }
}

/// The function names that came from a `namespace` tool, split back for the client.
pub fn namespaces_of(tools: &[types::Tool]) -> Vec<String> {
    tools.iter().filter(|t| t.kind == "namespace").filter_map(|t| t.name.clone()).collect()
}
