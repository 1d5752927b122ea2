//! What the dialects' stream tests share: a stream decoded as the transcoder decodes it — in
//! pieces of any size, nothing fed after its end mark or a failure — and events encoded.

use super::{StreamDecoder, StreamEncoder};
use crate::error::ProxyError;
use crate::ir::StreamEvent;
use crate::sse;

/// The events `decoder` makes of `bytes` fed `piece` bytes at a time, and how the stream ended.
pub fn decode_until_end(
    decoder: &mut dyn StreamDecoder,
    bytes: &[u8],
    piece: usize,
) -> (Vec<StreamEvent>, Result<(), ProxyError>) {
    let mut parser = sse::Parser::new();
    let mut events = Vec::new();
    let mut failure = Ok(());
    let mut feed = |event: sse::Event, events: &mut Vec<StreamEvent>| {
        if failure.is_ok() && !decoder.is_done() {
            failure = decoder.event(event, events);
        }
    };
    for chunk in bytes.chunks(piece) {
        parser.feed(chunk, &mut |event| feed(event, &mut events)).unwrap();
    }
    parser.finish(&mut |event| feed(event, &mut events));
    let ended = failure.and_then(|()| decoder.end(&mut events));
    (events, ended)
}

/// `decode_until_end` of a stream that must end well.
pub fn decode(decoder: &mut dyn StreamDecoder, bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
    let (events, ended) = decode_until_end(decoder, bytes, piece);
    ended.unwrap();
    events
}

/// What `encoder` writes for `events`.
pub fn encode(encoder: &mut dyn StreamEncoder, events: Vec<StreamEvent>) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    out
}
