//! Streams translated event by event as bytes arrive: SSE framing → the backend dialect's decoder
//! → IR events → the client dialect's encoder → SSE bytes. Nothing waits for the whole answer,
//! but for its start when another attempt could follow a failure (see `Transcoder::hold_start`).
//! What the stream used is tallied on the way (`tally`).

pub mod framing;
mod tally;

pub use tally::{failure_class, StreamUsage};

use crate::codec::{truncated, EndMark, Framing, StreamDecoder, StreamEncoder};
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::ir::{EmptyArguments, StreamEvent};
use crate::sse;
use tally::Tally;

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
    Passthrough {
        complete: bool,
        held: Vec<u8>,
        /// Events are decoded too while a start is held, to see content or an error come, and
        /// all along when the stream is metered.
        decoder: Option<Box<dyn StreamDecoder>>,
        metered: bool,
        /// The usage events the proxy asked for are left out (see `Codec::is_unasked_usage`).
        strip_unasked_usage: bool,
    },
}

/// The start of a stream, held back until its first content.
struct Start {
    held: Vec<u8>,
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
    tally: Tally,
    /// The error the stream ended with.
    failed: Option<ProxyError>,
    /// The upstream's framing, when it is not SSE.
    unframer: Option<framing::Unframer>,
    /// The client's framing, when it is not SSE.
    reframer: Option<framing::Reframer>,
}

impl Transcoder {
    pub fn translate(client: Dialect, decoder: Box<dyn StreamDecoder>, encoder: Box<dyn StreamEncoder>) -> Self {
        let mode = Mode::Translate { decoder, encoder, events: Vec::new(), empty_arguments: EmptyArguments::default() };
        Self::new(client, mode)
    }

    pub fn passthrough(dialect: Dialect) -> Self {
        let mode = Mode::Passthrough {
            complete: false,
            held: Vec::new(),
            decoder: None,
            metered: false,
            strip_unasked_usage: false,
        };
        Self::new(dialect, mode)
    }

    fn new(client: Dialect, mode: Mode) -> Self {
        Self {
            client,
            parser: sse::Parser::new(),
            mode,
            finished: false,
            start: None,
            secrets: Vec::new(),
            tally: Tally::default(),
            failed: None,
            unframer: None,
            reframer: None,
        }
    }

    /// The upstream's stream and the client's are framed as `backend` and `client` say.
    pub fn framed(mut self, backend: Framing, client: Framing) -> Self {
        (self.unframer, self.reframer) = (framing::Unframer::new(backend), framing::Reframer::new(client));
        self
    }

    /// What the stream used is wanted (`usage`): a stream passed through is decoded as well.
    /// `strip_unasked_usage`: the proxy asked for the usage events, the client did not.
    pub fn metered(mut self, strip_unasked_usage: bool) -> Self {
        let client = self.client;
        if let Mode::Passthrough { decoder, metered, strip_unasked_usage: strip, .. } = &mut self.mode {
            decoder.get_or_insert_with(|| client.codec().decoder());
            (*metered, *strip) = (true, strip_unasked_usage);
        }
        self
    }

    /// What the stream used, from its usage events (or an estimate, when it was cut).
    pub fn usage(&self) -> Option<StreamUsage> {
        self.tally.usage()
    }

    /// How the stream failed, if it did, for the usage record.
    pub fn failure(&self) -> Option<String> {
        self.failed.as_ref().map(failure_class)
    }

    /// Holds back everything until the answer's first content (a delta, or its finish): a failure
    /// before it — an error event, the stream cut or ending early — then writes nothing and is
    /// kept for `failure_before_content`, so that another attempt can serve the client instead.
    /// Only the preamble (`message_start`, `response.created`, …) is ever held, never content.
    pub fn hold_start(mut self) -> Self {
        let client = self.client;
        if let Mode::Passthrough { decoder, .. } = &mut self.mode {
            decoder.get_or_insert_with(|| client.codec().decoder());
        }
        self.start = Some(Start { held: Vec::new(), failure: None });
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

    /// `advance_sse` in the upstream's and the client's framings.
    fn advance(&mut self, input: Option<&[u8]>) -> Vec<u8> {
        if self.finished {
            return Vec::new();
        }
        let mut unframed = Vec::new();
        let (input, unreadable) = match (input, self.unframer.as_mut()) {
            (Some(bytes), Some(unframer)) => {
                let unreadable = unframer.push(bytes, &mut unframed).err();
                (Some(&unframed[..]), unreadable)
            }
            (input, _) => (input, None),
        };
        let out = self.advance_sse(input, unreadable);
        self.in_client_framing(out)
    }

    /// SSE bytes as the client's stream frames them; its end, once the stream is finished.
    fn in_client_framing(&mut self, out: Vec<u8>) -> Vec<u8> {
        let finished = self.finished;
        match self.reframer.as_mut() {
            Some(reframer) if finished => reframer.push_last(&out),
            Some(reframer) => reframer.push(&out),
            None => out,
        }
    }

    /// Parses more input, or the end of input when `input` is None, and writes what it completes.
    /// `unreadable`: the upstream's framing could not be read.
    fn advance_sse(&mut self, input: Option<&[u8]>, unreadable: Option<ProxyError>) -> Vec<u8> {
        let mut out = Vec::new();
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
            Mode::Passthrough { complete, held, decoder, metered, strip_unasked_usage } => {
                let mut last = false;
                let holding = self.start.is_some();
                let mut seen = Vec::new();
                parse(&mut |event| {
                    let watched = holding && !content && failure.is_none();
                    if let Some(decoder) = decoder.as_mut().filter(|_| watched || *metered) {
                        // Past the start, what the client gets is the upstream's bytes: an event
                        // the decoder cannot read only goes uncounted.
                        let read = decoder.event(event.clone(), &mut seen);
                        if watched {
                            failure = read.err();
                            content = seen.iter().any(is_content);
                        }
                    }
                    match client.codec().end_mark(&event) {
                        Some(EndMark::Last) => (*complete, last) = (true, true),
                        Some(EndMark::Complete) => *complete = true,
                        None => {}
                    }
                });
                self.tally.see(&seen);
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
                if *strip_unasked_usage {
                    out = tally::without_unasked_usage(client.codec(), out);
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
                self.tally.see(events);
                empty_arguments.fill(events);
                for event in events.drain(..) {
                    encoder.event(event, &mut out);
                }
                if decoder.is_done() && failure.is_none() && too_large.is_none() {
                    self.finished = true;
                }
            }
        }
        let failure = failure.or(unreadable).or(too_large.map(|e| ProxyError::bad_gateway(e.to_string())));
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
        self.in_client_framing(out)
    }

    fn write_error(&mut self, error: &ProxyError, out: &mut Vec<u8>) {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let error = &error.clone().redacted(&secrets);
        match &mut self.mode {
            Mode::Translate { encoder, .. } => encoder.error(error, out),
            Mode::Passthrough { .. } => self.client.codec().write_stream_error(error, out),
        }
        self.failed = Some(error.clone());
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
mod tests;
