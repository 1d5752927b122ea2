//! Streams framed otherwise than as server-sent events (Bedrock's AWS event streams), turned into
//! SSE on the way in and back on the way out, so that decoders, encoders and the passthrough see
//! one framing. An exception message becomes an Anthropic `error` event, which every decoder of
//! an event-stream dialect reads, and an `error` event becomes an exception message again.

use crate::bedrock;
use crate::codec::Framing;
use crate::error::ProxyError;
use crate::eventstream::{self, Message};
use crate::sse;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use std::borrow::Cow;

/// Upstream bytes in a framing other than SSE, as SSE bytes.
pub struct Unframer {
    framing: Framing,
    decoder: eventstream::Decoder,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    bytes: &'a str,
}

#[derive(Deserialize)]
struct Typed<'a> {
    #[serde(borrow, rename = "type")]
    kind: &'a str,
}

#[derive(Deserialize)]
struct ExceptionBody {
    #[serde(alias = "Message")]
    message: Option<String>,
}

impl Unframer {
    /// None for SSE, which needs no unframing.
    pub fn new(framing: Framing) -> Option<Self> {
        (framing != Framing::Sse).then(|| Self { framing, decoder: eventstream::Decoder::new() })
    }

    /// The SSE events the bytes complete.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProxyError> {
        let mut failure = None;
        let framing = self.framing;
        let result = self.decoder.feed(bytes, &mut |message| {
            if failure.is_none() {
                failure = write_as_sse(framing, &message, out).err();
            }
        });
        result.map_err(|e| ProxyError::bad_gateway(e.to_string()))?;
        failure.map_or(Ok(()), Err)
    }
}

fn write_as_sse(framing: Framing, message: &Message, out: &mut Vec<u8>) -> Result<(), ProxyError> {
    let unreadable = |what: &str| ProxyError::bad_gateway(format!("the upstream sent an event-stream {what}"));
    match message.header(":message-type") {
        Some("exception") => {
            let exception = message.header(":exception-type").unwrap_or("internalServerException");
            let body: Option<ExceptionBody> = serde_json::from_slice(&message.payload).ok();
            let text = body.and_then(|body| body.message).unwrap_or_else(|| exception.to_string());
            bedrock::write_error_event(out, bedrock::error_type_of_exception(exception), &text);
        }
        Some("error") => {
            let code = message.header(":error-code").unwrap_or("InternalServerException");
            let text = message.header(":error-message").unwrap_or(code);
            bedrock::write_error_event(out, bedrock::error_type_of_exception(code), text);
        }
        _ => {
            let event_type = message.header(":event-type").ok_or_else(|| unreadable("event with no type"))?;
            let payload = std::str::from_utf8(&message.payload).map_err(|_| unreadable("payload that is not UTF-8"))?;
            match framing {
                Framing::EventStreamChunks if event_type == "chunk" => {
                    let chunk: Chunk =
                        serde_json::from_slice(payload.as_bytes()).map_err(|_| unreadable("chunk without bytes"))?;
                    let json = STANDARD.decode(chunk.bytes).map_err(|_| unreadable("chunk that is not base64"))?;
                    let json = String::from_utf8(json).map_err(|_| unreadable("chunk that is not UTF-8"))?;
                    let json = one_line(json.into()).ok_or_else(|| unreadable("chunk that is not JSON"))?;
                    let typed: Typed =
                        serde_json::from_slice(json.as_bytes()).map_err(|_| unreadable("chunk with no type"))?;
                    sse::write_event(out, Some(event_name(typed.kind)?), &json);
                }
                // Other events of an invoke stream (none are documented) carry nothing to read.
                Framing::EventStreamChunks => {}
                _ => {
                    let json = one_line(payload.into()).ok_or_else(|| unreadable("payload that is not JSON"))?;
                    sse::write_event(out, Some(event_name(event_type)?), &json);
                }
            }
        }
    }
    Ok(())
}

/// An upstream's event name, as the name of an SSE event: a line break in it would end the
/// `event:` line and start a field of the upstream's choosing.
fn event_name(name: &str) -> Result<&str, ProxyError> {
    match name.contains(['\n', '\r']) {
        true => Err(ProxyError::bad_gateway("the upstream sent an event-stream event whose type holds a line break")),
        false => Ok(name),
    }
}

/// JSON text as one line, as an SSE `data:` field needs it: compact JSON, which is what Bedrock
/// sends, is kept as it came, without a copy.
fn one_line(json: Cow<str>) -> Option<Cow<str>> {
    if !json.contains(['\n', '\r']) {
        return Some(json);
    }
    serde_json::to_string(&serde_json::from_slice::<serde_json::Value>(json.as_bytes()).ok()?).ok().map(Cow::Owned)
}

/// SSE bytes for a client in a framing other than SSE, reframed.
pub struct Reframer {
    framing: Framing,
    parser: sse::Parser,
}

#[derive(Deserialize)]
struct ErrorEvent {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(rename = "type")]
    kind: String,
    message: String,
}

impl Reframer {
    /// None for SSE, which needs no reframing.
    pub fn new(framing: Framing) -> Option<Self> {
        (framing != Framing::Sse).then(|| Self { framing, parser: sse::Parser::new() })
    }

    /// Writes SSE bytes in the client's framing. The proxy's own encoders write them, so no
    /// event outgrows the parser.
    pub fn push(&mut self, sse_bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let framing = self.framing;
        let _ = self.parser.feed(sse_bytes, &mut |event| write_framed(framing, &event, &mut out));
        out
    }

    /// `push` of the stream's last SSE bytes, and its end: an event the bytes left unterminated.
    pub fn push_last(&mut self, sse_bytes: &[u8]) -> Vec<u8> {
        let mut out = self.push(sse_bytes);
        let framing = self.framing;
        self.parser.finish(&mut |event| write_framed(framing, &event, &mut out));
        out
    }
}

/// A whole SSE stream (a local answer's) in `framing`.
pub fn reframe(framing: Framing, sse_bytes: Vec<u8>) -> Vec<u8> {
    match Reframer::new(framing) {
        Some(mut reframer) => reframer.push_last(&sse_bytes),
        None => sse_bytes,
    }
}

fn write_framed(framing: Framing, event: &sse::Event, out: &mut Vec<u8>) {
    if event.event == "error" {
        let (exception, message) = match serde_json::from_slice::<ErrorEvent>(event.data.as_bytes()) {
            Ok(ErrorEvent { error }) => (bedrock::exception_of_error_type(&error.kind), error.message),
            Err(_) => ("internalServerException", event.data.clone()),
        };
        let payload = serde_json::json!({"message": message}).to_string();
        eventstream::write_exception(out, exception, payload.as_bytes());
        return;
    }
    match framing {
        Framing::EventStreamChunks => {
            let payload = serde_json::json!({"bytes": STANDARD.encode(&event.data)}).to_string();
            eventstream::write_event(out, "chunk", payload.as_bytes());
        }
        _ => eventstream::write_event(out, &event.event, event.data.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(bytes: &[u8]) -> Vec<Message> {
        let mut messages = Vec::new();
        eventstream::Decoder::new().feed(bytes, &mut |m| messages.push(m)).unwrap();
        messages
    }

    #[test]
    fn invoke_chunks_become_named_events_and_back() {
        let sse =
            b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n";
        let framed = reframe(Framing::EventStreamChunks, sse.to_vec());
        let decoded = messages(&framed);
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].header(":event-type"), Some("chunk"));
        let mut unframer = Unframer::new(Framing::EventStreamChunks).unwrap();
        for piece in [1, 7, framed.len()] {
            let mut back = Vec::new();
            let mut unframer_at = Unframer::new(Framing::EventStreamChunks).unwrap();
            for chunk in framed.chunks(piece) {
                unframer_at.push(chunk, &mut back).unwrap();
            }
            assert_eq!(back, sse, "piece {piece}");
        }
        let mut back = Vec::new();
        unframer.push(&framed, &mut back).unwrap();
        assert_eq!(back, sse);
    }

    #[test]
    fn converse_events_keep_their_type() {
        let sse = b"event: contentBlockDelta\ndata: {\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}\n\n";
        let framed = reframe(Framing::EventStreamEvents, sse.to_vec());
        assert_eq!(messages(&framed)[0].header(":event-type"), Some("contentBlockDelta"));
        let mut back = Vec::new();
        Unframer::new(Framing::EventStreamEvents).unwrap().push(&framed, &mut back).unwrap();
        assert_eq!(back, sse);
    }

    #[test]
    fn exceptions_and_error_events_map_to_each_other() {
        let mut framed = Vec::new();
        eventstream::write_exception(&mut framed, "throttlingException", br#"{"message":"Too many requests"}"#);
        let mut sse = Vec::new();
        Unframer::new(Framing::EventStreamEvents).unwrap().push(&framed, &mut sse).unwrap();
        let text = String::from_utf8(sse.clone()).unwrap();
        assert!(text.starts_with("event: error\n"), "{text}");
        assert!(text.contains(r#""type":"rate_limit_error""#) && text.contains("Too many requests"), "{text}");
        let again = messages(&reframe(Framing::EventStreamChunks, sse));
        assert_eq!(again[0].header(":message-type"), Some("exception"));
        assert_eq!(again[0].header(":exception-type"), Some("throttlingException"));
        assert_eq!(again[0].payload, br#"{"message":"Too many requests"}"#);
    }

    #[test]
    fn hostile_chunks_fail_the_stream_instead_of_passing_as_events() {
        for payload in [&b"{}"[..], b"{\"bytes\":\"%%%\"}", b"{\"bytes\":\"bm90IGpzb24=\"}", b"\xff"] {
            let mut framed = Vec::new();
            eventstream::write_event(&mut framed, "chunk", payload);
            let mut out = Vec::new();
            let result = Unframer::new(Framing::EventStreamChunks).unwrap().push(&framed, &mut out);
            assert_eq!(result.map_err(|e| e.status), Err(502), "{payload:?}");
        }
        // An event type that would break out of its SSE line.
        let mut framed = Vec::new();
        eventstream::write_event(&mut framed, "messageStop\ndata: {\"forged\":true}\n", b"{}");
        let result = Unframer::new(Framing::EventStreamEvents).unwrap().push(&framed, &mut Vec::new());
        assert_eq!(result.map_err(|e| e.status), Err(502));
        let chunk = serde_json::json!({"bytes": STANDARD.encode(r#"{"type":"ping\n\ndata: x"}"#)}).to_string();
        let mut framed = Vec::new();
        eventstream::write_event(&mut framed, "chunk", chunk.as_bytes());
        let result = Unframer::new(Framing::EventStreamChunks).unwrap().push(&framed, &mut Vec::new());
        assert_eq!(result.map_err(|e| e.status), Err(502));
        // A multi-line JSON payload is written as one SSE line.
        let mut framed = Vec::new();
        eventstream::write_event(&mut framed, "messageStop", b"{\n\"stopReason\":\r\"end_turn\"}");
        let mut out = Vec::new();
        Unframer::new(Framing::EventStreamEvents).unwrap().push(&framed, &mut out).unwrap();
        assert_eq!(out, b"event: messageStop\ndata: {\"stopReason\":\"end_turn\"}\n\n");
    }
}
