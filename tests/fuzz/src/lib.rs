//! What the fuzz targets share: the dialects, and the checks that what the proxy writes is what
//! its clients can read.

use llmproxy::codec::EndMark;
use llmproxy::dialect::Dialect;
use llmproxy::proxy::Exchange;
use llmproxy::sse;

pub const DIALECTS: [Dialect; 5] = Dialect::ALL;

/// The one value a test backend's key has: no answer may repeat it.
pub const SECRET: &str = "sk-proj-Zq8XvT3wLmN5";

/// A small, fast, deterministic generator for choices derived from the input itself.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: &[u8]) -> Self {
        // FNV-1a over the input, so the same input always makes the same choices.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for &b in seed {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(hash | 1)
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `bytes` cut into pieces of the lengths `lengths` gives (empty pieces included), the last
/// piece holding whatever is left.
pub fn pieces<'a>(bytes: &'a [u8], mut lengths: impl FnMut() -> usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = lengths().min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// One event as the proxy writes it: `event: NAME\n` (optional), `data: DATA\n`, then `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub event: Option<String>,
    pub data: String,
}

impl Written {
    pub fn as_sse(&self) -> sse::Event {
        sse::Event { event: self.event.clone().unwrap_or_default(), data: self.data.clone() }
    }
}

/// Reads `out` as a stream the proxy wrote: whole events only, each with at most one `event:`
/// line and exactly one `data:` line holding JSON (or Chat's `[DONE]`), in UTF-8. Panics on
/// anything else, naming what is wrong.
pub fn written_events(out: &[u8]) -> Vec<Written> {
    try_written_events(out).unwrap_or_else(|why| panic!("{why}"))
}

/// `written_events`, telling what is wrong instead of panicking.
pub fn try_written_events(out: &[u8]) -> Result<Vec<Written>, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("the stream is not UTF-8: {e}"))?;
    if !(out.is_empty() || text.ends_with("\n\n")) {
        return Err(format!("the stream ends inside an event: {text:?}"));
    }
    let mut events = Vec::new();
    for block in text.split_terminator("\n\n") {
        let mut lines = block.split('\n');
        let first = lines.next().unwrap_or_default();
        let (event, data_line) = match first.strip_prefix("event: ") {
            Some(name) => (Some(name.to_string()), lines.next().unwrap_or_default()),
            None => (None, first),
        };
        let data = data_line.strip_prefix("data: ").ok_or_else(|| format!("an event without data: {block:?}"))?;
        if lines.next().is_some() {
            return Err(format!("an event with extra lines: {block:?}"));
        }
        if data.contains('\r') {
            return Err(format!("a carriage return inside data: {block:?}"));
        }
        if data != "[DONE]" {
            serde_json::from_str::<serde_json::Value>(data)
                .map_err(|e| format!("an event whose data is not JSON ({e}): {block:?}"))?;
        }
        events.push(Written { event, data: data.to_string() });
    }
    // The parser clients use reads the same events.
    let mut parser = sse::Parser::new();
    let mut parsed = Vec::new();
    parser.feed(out, &mut |e| parsed.push(e)).map_err(|e| e.to_string())?;
    parser.finish(&mut |e| parsed.push(e));
    let expected: Vec<sse::Event> = events.iter().map(Written::as_sse).collect();
    if parsed != expected {
        return Err(format!("the SSE parser reads other events than were written: {parsed:?} vs {expected:?}"));
    }
    Ok(events)
}

/// Runs `input` through a transcoder in the given pieces, checking the transcoder's contract on
/// the way: nothing comes out once it is finished, and `end` always finishes it.
pub fn transcode(exchange: &Exchange, chunks: &[&[u8]]) -> Vec<u8> {
    let mut transcoder = exchange.transcoder();
    let mut out = Vec::new();
    for chunk in chunks {
        let finished = transcoder.is_finished();
        let more = transcoder.push(chunk);
        assert!(!finished || more.is_empty(), "bytes came out after the stream was finished");
        out.extend(more);
    }
    let finished = transcoder.is_finished();
    let last = transcoder.end();
    assert!(!finished || last.is_empty(), "bytes came out of end() after the stream was finished");
    out.extend(last);
    assert!(transcoder.is_finished(), "end() left the stream unfinished");
    assert!(transcoder.push(b"data: {}\n\n").is_empty(), "push after end() wrote bytes");
    assert!(transcoder.end().is_empty(), "a second end() wrote bytes");
    out
}

/// The checks on what a client gets for `input`, an upstream stream, fed in `chunks`.
pub fn check_stream(client: Dialect, backend: Dialect, input: &[u8], chunks: &[&[u8]]) {
    let exchange = Exchange::between(client, backend);
    let out = transcode(&exchange, chunks);
    if exchange.is_passthrough() {
        check_passthrough(client, input, &out);
        return;
    }
    let events = written_events(&out);
    // A translated stream always ends with its dialect's last event: the answer's end or an error.
    let last = events.last().expect("a translated stream is never empty");
    assert_eq!(
        client.codec().end_mark(&last.as_sse()),
        Some(EndMark::Last),
        "the stream to a {client:?} client from a {backend:?} backend ends without its last event: {last:?}"
    );
    if client == Dialect::Anthropic {
        check_anthropic_blocks(&events);
    }
    // Chunk boundaries are the network's, never the answer's.
    let whole = transcode(&exchange, &[input]);
    if whole != out {
        panic!(
            "{backend:?} → {client:?}: in pieces\n{}\nwhole\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole)
        );
    }
}

/// What the Anthropic SDKs need of a stream's content blocks: each starts at the next index (they
/// append it), and deltas and stops only name blocks that started.
fn check_anthropic_blocks(events: &[Written]) {
    let mut started = 0u64;
    for event in events {
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        let kind = data["type"].as_str().unwrap_or_default();
        assert_eq!(event.event.as_deref(), Some(kind), "the event's name is not its type: {event:?}");
        let index = data["index"].as_u64();
        match kind {
            "content_block_start" => {
                assert_eq!(index, Some(started), "a block started out of order: {event:?}");
                started += 1;
            }
            "content_block_delta" | "content_block_stop" => {
                assert!(index.is_some_and(|i| i < started), "{kind} for a block that never started: {event:?}")
            }
            _ => {}
        }
    }
}

/// A passthrough gives the client the upstream's bytes unchanged, up to an event's end, then at
/// most one event of its own (the error that ends a broken stream).
fn check_passthrough(client: Dialect, input: &[u8], out: &[u8]) {
    let candidates = (0..=out.len())
        .rev()
        .filter(|&k| k == out.len() || out[k..].starts_with(b"event: error\n") || out[k..].starts_with(b"data: {"));
    for k in candidates {
        if !input.starts_with(&out[..k]) {
            continue;
        }
        if k == out.len() {
            return;
        }
        if let Ok(events) = try_written_events(&out[k..]) {
            if events.len() == 1 {
                let error: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
                let is_error =
                    error.get("error").is_some() || error.get("type").and_then(|t| t.as_str()) == Some("error");
                assert!(is_error, "{client:?} passthrough added an event that is not an error: {:?}", events[0]);
                return;
            }
        }
    }
    panic!(
        "{client:?} passthrough changed the upstream's bytes:\nin:  {:?}\nout: {:?}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(out)
    );
}

/// Panics unless `bytes` is one JSON text as RFC 8259 has it: UTF-8, and the grammar (which lets
/// a `\\u` escape name a lone surrogate, as serde_json's `Value` does not).
pub fn assert_json_text(bytes: &[u8], what: &str) {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{what} is not UTF-8 ({e}): {:?}", String::from_utf8_lossy(bytes)));
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {text:?}"));
}

/// Panics unless `bytes` is one JSON document.
pub fn assert_json(bytes: &[u8], what: &str) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {:?}", String::from_utf8_lossy(bytes)))
}
