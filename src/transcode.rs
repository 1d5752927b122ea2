//! Streams translated event by event as bytes arrive: SSE framing → the backend dialect's decoder
//! → IR events → the client dialect's encoder → SSE bytes. Nothing waits for the whole answer,
//! but for its start when another attempt could follow a failure (see `Transcoder::hold_start`).

use crate::codec::{truncated, EndMark, StreamDecoder, StreamEncoder};
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::ir::{EmptyArguments, StreamEvent};
use crate::sse;

enum Mode {
    Translate {
        decoder: Box<dyn StreamDecoder>,
        encoder: Box<dyn StreamEncoder>,
        events: Vec<StreamEvent>,
        empty_arguments: EmptyArguments,
    },
    /// Same dialect both sides: bytes go through untouched, and the framing is only watched to
    /// tell a complete answer from a cut-off one. Bytes of an event not yet complete are held
    /// back, so an error event can never be glued to half an event.
    Passthrough { complete: bool, held: Vec<u8> },
}

/// The start of a stream, held back until its first content.
struct Start {
    held: Vec<u8>,
    /// A passthrough stream's events are decoded too while its start is held, to see content or
    /// an error come.
    watch: Option<Box<dyn StreamDecoder>>,
    failure: Option<ProxyError>,
}

pub struct Transcoder {
    client: Dialect,
    parser: sse::Parser,
    mode: Mode,
    finished: bool,
    start: Option<Start>,
    /// Values no error event may repeat (the backend's credentials).
    secrets: Vec<String>,
}

impl Transcoder {
    pub fn translate(client: Dialect, decoder: Box<dyn StreamDecoder>, encoder: Box<dyn StreamEncoder>) -> Self {
        let mode = Mode::Translate { decoder, encoder, events: Vec::new(), empty_arguments: EmptyArguments::default() };
        Self { client, parser: sse::Parser::new(), mode, finished: false, start: None, secrets: Vec::new() }
    }

    pub fn passthrough(dialect: Dialect) -> Self {
        Self {
            client: dialect,
            parser: sse::Parser::new(),
            mode: Mode::Passthrough { complete: false, held: Vec::new() },
            finished: false,
            start: None,
            secrets: Vec::new(),
        }
    }

    /// Holds back everything until the answer's first content (a delta, or its finish): a failure
    /// before it — an error event, the stream cut or ending early — then writes nothing and is
    /// kept for `failure_before_content`, so that another attempt can serve the client instead.
    /// Only the preamble (`message_start`, `response.created`, …) is ever held, never content.
    pub fn hold_start(mut self) -> Self {
        let watch = matches!(self.mode, Mode::Passthrough { .. }).then(|| self.client.codec().decoder());
        self.start = Some(Start { held: Vec::new(), watch, failure: None });
        self
    }

    /// Whether the start is still held back.
    pub fn is_holding(&self) -> bool {
        self.start.is_some() && !self.finished
    }

    /// The failure that came before any content, when the start was held.
    pub fn failure_before_content(&mut self) -> Option<ProxyError> {
        self.start.as_mut().and_then(|start| start.failure.take())
    }

    /// Error events this transcoder writes will not repeat any of `secrets`.
    pub fn redacting(mut self, secrets: Vec<String>) -> Self {
        self.secrets = secrets;
        self
    }

    /// True once the stream has ended: its last event was written, or an error event. Later input
    /// is ignored, and the client's stream can be closed at once.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds upstream bytes; returns the bytes to send to the client now.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.advance(Some(bytes))
    }

    /// The upstream closed the stream.
    pub fn end(&mut self) -> Vec<u8> {
        self.advance(None)
    }

    /// Parses more input, or the end of input when `input` is None, and writes what it completes.
    fn advance(&mut self, input: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        let client = self.client;
        let parser = &mut self.parser;
        let mut too_large = None;
        let mut parse = |on_event: &mut dyn FnMut(sse::Event)| match input {
            Some(bytes) => too_large = parser.feed(bytes, &mut |event| on_event(event)).err(),
            None => parser.finish(&mut |event| on_event(event)),
        };
        let mut failure = None;
        // Whether the answer's content has begun, for a held start.
        let mut content = false;
        match &mut self.mode {
            Mode::Passthrough { complete, held } => {
                let mut last = false;
                let mut watch = self.start.as_mut().and_then(|start| start.watch.as_mut());
                let mut seen = Vec::new();
                parse(&mut |event| {
                    if let Some(decoder) = watch.as_mut().filter(|_| failure.is_none() && !content) {
                        failure = decoder.event(event.clone(), &mut seen).err();
                        content = seen.iter().any(is_content);
                    }
                    match client.codec().end_mark(&event) {
                        Some(EndMark::Last) => (*complete, last) = (true, true),
                        Some(EndMark::Complete) => *complete = true,
                        None => {}
                    }
                });
                content |= input.is_none() && *complete;
                match input {
                    Some(bytes) => {
                        let searched_from = held.len().saturating_sub(3);
                        held.extend_from_slice(bytes);
                        match last_event_end(held, searched_from) {
                            Some(end) if end == held.len() => out = std::mem::take(held),
                            Some(end) => out.extend(held.drain(..end)),
                            None => {}
                        }
                        // Comment lines never end an event: what is held back needs its own bound.
                        if held.len() > sse::MAX_EVENT_BYTES {
                            too_large = Some(sse::EventTooLarge(sse::MAX_EVENT_BYTES));
                        }
                    }
                    None if *complete => out = std::mem::take(held),
                    None => failure = Some(truncated()),
                }
                if last && failure.is_none() && too_large.is_none() {
                    // The parser has the last event whole, even if its blank line ended in a lone
                    // `\r` whose `\n` is still to come: it goes out now, and nothing after it.
                    out.append(held);
                    self.finished = true;
                }
            }
            Mode::Translate { decoder, encoder, events, empty_arguments } => {
                // Whatever follows the end marker or a failure is not read.
                parse(&mut |event| {
                    if failure.is_none() && !decoder.is_done() {
                        failure = decoder.event(event, events).err();
                    }
                });
                if input.is_none() && failure.is_none() {
                    failure = decoder.end(events).err();
                }
                content = events.iter().any(is_content);
                empty_arguments.fill(events);
                for event in events.drain(..) {
                    encoder.event(event, &mut out);
                }
                if decoder.is_done() && failure.is_none() && too_large.is_none() {
                    self.finished = true;
                }
            }
        }
        let failure = failure.or(too_large.map(|e| ProxyError::bad_gateway(e.to_string())));
        if let Some(start) = self.start.as_mut() {
            if let Some(error) = failure {
                // Nothing reached the client: the failure is the caller's to act on.
                start.failure = Some(error);
                self.finished = true;
                return Vec::new();
            }
            if !content {
                start.held.append(&mut out);
                return out;
            }
            let mut held = std::mem::take(&mut start.held);
            held.append(&mut out);
            out = held;
            self.start = None;
        }
        match failure {
            Some(error) => self.write_error(&error, &mut out),
            None if input.is_none() => self.finished = true,
            None => {}
        }
        out
    }

    /// Reading the upstream failed midway.
    pub fn fail(&mut self, error: &ProxyError) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.finished {
            self.write_error(error, &mut out);
        }
        out
    }

    fn write_error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let error = &error.clone().redacted(&secrets);
        match &mut self.mode {
            Mode::Translate { encoder, .. } => encoder.error(error, out),
            Mode::Passthrough { .. } => self.client.codec().write_stream_error(error, out),
        }
        self.finished = true;
    }
}

/// Whether an IR event is the answer's content (or its end), which releases a held start.
fn is_content(event: &StreamEvent) -> bool {
    matches!(event, StreamEvent::Delta { .. } | StreamEvent::Finish { .. })
}

/// Where the last complete event in `bytes` ends (just after its blank line), looking at
/// `bytes[from..]` only; None when no event ends there.
fn last_event_end(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = &bytes[from..];
    (1..tail.len()).rev().find_map(|i| match (tail[i - 1], tail[i]) {
        (b'\n', b'\n') | (b'\r', b'\r') => Some(from + i + 1),
        (b'\n', b'\r') if tail.get(i + 1) == Some(&b'\n') => Some(from + i + 2),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(transcoder: &mut Transcoder, bytes: &[u8], piece: usize) -> Vec<u8> {
        let mut out: Vec<u8> = bytes.chunks(piece).flat_map(|chunk| transcoder.push(chunk)).collect();
        out.extend(transcoder.end());
        out
    }

    #[test]
    fn a_passthrough_stream_ends_at_its_last_event_whatever_the_cut_and_line_ends() {
        let lf = include_bytes!("../fixtures/wire/openai-chat-tool.sdkpy.sse");
        let crlf = String::from_utf8_lossy(lf).replace('\n', "\r\n").into_bytes();
        for recording in [lf.to_vec(), crlf] {
            for piece in 1..8 {
                let mut transcoder = Transcoder::passthrough(Dialect::OpenAiChat);
                let out = through(&mut transcoder, &recording, piece);
                // All of it, but for the `\n` of a CRLF blank line that came after `[DONE]` was read.
                assert!(recording.starts_with(&out) && out.len() + 1 >= recording.len(), "pieces of {piece}");
                assert!(transcoder.is_finished());
            }
        }
        // The chunk that held the last event goes out as it came; nothing after it is read.
        let mut transcoder = Transcoder::passthrough(Dialect::OpenAiChat);
        let out = transcoder.push(b"data: [DONE]\n\ndata: {\"x\":1}\n\n");
        assert_eq!(out, b"data: [DONE]\n\ndata: {\"x\":1}\n\n".to_vec());
        assert!(transcoder.is_finished() && transcoder.push(b"data: more\n\n").is_empty());
    }

    #[test]
    fn comment_lines_without_an_event_cannot_fill_a_passthrough_stream() {
        let mut transcoder = Transcoder::passthrough(Dialect::Anthropic);
        let comments = b": keep-alive\n".repeat(1024);
        let mut out = Vec::new();
        for _ in 0..(sse::MAX_EVENT_BYTES / comments.len() + 2) {
            out.extend(transcoder.push(&comments));
            if transcoder.is_finished() {
                break;
            }
        }
        assert!(transcoder.is_finished());
        assert!(String::from_utf8_lossy(&out).contains("event: error"), "ends with an error event");
    }

    const MESSAGE_START: &[u8] = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n";
    const OVERLOADED: &[u8] =
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

    #[test]
    fn a_held_start_gives_up_an_error_before_content_and_writes_nothing() {
        let translated = || {
            let encoder = Dialect::OpenAiChat.codec().encoder(&Default::default());
            Transcoder::translate(Dialect::OpenAiChat, Dialect::Anthropic.codec().decoder(), encoder)
        };
        for mut transcoder in [Transcoder::passthrough(Dialect::Anthropic).hold_start(), translated().hold_start()] {
            assert!(through(&mut transcoder, &[MESSAGE_START, OVERLOADED].concat(), 9).is_empty());
            let failure = transcoder.failure_before_content().expect("the error, for another attempt");
            assert_eq!((failure.status, failure.message.as_str()), (529, "Overloaded"));
            assert!(transcoder.is_finished() && !transcoder.is_holding());
        }
        // Cut before any content: the same.
        let mut transcoder = translated().hold_start();
        assert!(through(&mut transcoder, MESSAGE_START, 5).is_empty());
        assert_eq!(transcoder.failure_before_content(), Some(truncated()));
    }

    #[test]
    fn a_held_start_is_released_whole_with_the_first_content() {
        let recording = include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse");
        let mut transcoder = Transcoder::passthrough(Dialect::Anthropic).hold_start();
        let mut out = Vec::new();
        for chunk in recording.chunks(7) {
            let piece = transcoder.push(chunk);
            if transcoder.is_holding() {
                assert!(piece.is_empty(), "nothing before the content");
            }
            out.extend(piece);
        }
        out.extend(transcoder.end());
        assert_eq!(out, recording.to_vec(), "then every byte, in order");
        assert_eq!(transcoder.failure_before_content(), None);
        // An error after content is the client's error event, as without a held start.
        let cut = &recording[..recording.len() / 2];
        let mut transcoder = Transcoder::passthrough(Dialect::Anthropic).hold_start();
        let out = through(&mut transcoder, cut, 64);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("event: message_start") && text.contains("\n\nevent: error\n"), "{text}");
        assert_eq!(transcoder.failure_before_content(), None);
    }
}
