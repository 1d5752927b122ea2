//! Server-sent events: an incremental parser that accepts bytes split at any boundary, and the
//! encoder used for every SSE stream the proxy writes.
//!
//! The parser follows the WHATWG event-stream rules that matter for LLM APIs: `\n`, `\r\n` and `\r`
//! line endings, `:` comment lines, multi-line `data:` joined with `\n`, an optional single space
//! after the colon, and dispatch on a blank line.

/// The most one event may hold (its data and any one line of it), unless a parser is made with
/// another bound: an upstream that never sends a newline must not fill the isolate's memory.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// An event outgrew the parser's bound; the stream cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge(pub usize);

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the upstream sent a stream event larger than {} bytes", self.0)
    }
}

/// One dispatched event. `event` is empty when the stream gave no `event:` field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: String,
    pub data: String,
}

#[derive(Debug)]
pub struct Parser {
    max_event_bytes: usize,
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// A `\r` ended the previous chunk: a `\n` starting the next one belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that refuses events holding more than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
        }
    }

    /// Feeds bytes and calls `on_event` for every event completed by them. Past the bound the
    /// stream is broken: the error comes back and the parser should not be fed again.
    pub fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(Event)) -> Result<(), EventTooLarge> {
        self.feed_lines(bytes, on_event);
        if self.line.len() + self.data.len() > self.max_event_bytes {
            return Err(EventTooLarge(self.max_event_bytes));
        }
        Ok(())
    }

    fn feed_lines(&mut self, mut bytes: &[u8], on_event: &mut impl FnMut(Event)) {
        // An empty chunk says nothing of whether a `\n` follows the `\r`.
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if let Some(b'\n') = bytes.first() {
                bytes = &bytes[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', bytes) {
            if self.data.len() > self.max_event_bytes {
                // The caller is told once this chunk is parsed; nothing more of it is needed.
                return;
            }
            let ending = bytes[pos];
            if self.line.is_empty() {
                self.take_line(&bytes[..pos], on_event);
            } else {
                self.line.extend_from_slice(&bytes[..pos]);
                let line = std::mem::take(&mut self.line);
                self.take_line(&line, on_event);
            }
            bytes = &bytes[pos + 1..];
            if ending == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    _ => {}
                }
            }
        }
        self.line.extend_from_slice(bytes);
    }

    /// Ends the stream: an unterminated last event is dispatched as if a blank line followed,
    /// which is what the OpenAI and Anthropic SDKs do too. One that outgrew the bound as its last
    /// line was read (invalid UTF-8 grows threefold as replacement characters) is dropped, as
    /// `feed` would have refused it: the stream then ends incomplete.
    pub fn finish(&mut self, on_event: &mut impl FnMut(Event)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, on_event);
        }
        if self.data.len() <= self.max_event_bytes {
            self.dispatch(on_event);
        }
    }

    fn take_line(&mut self, line: &[u8], on_event: &mut impl FnMut(Event)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(Event)) {
        if self.has_data {
            on_event(Event { event: std::mem::take(&mut self.event), data: std::mem::take(&mut self.data) });
        }
        self.event.clear();
        self.has_data = false;
    }
}

/// Appends one event. `data` must not contain a newline (JSON from serde_json never does).
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    write_event_parts(out, event, &[data.as_bytes()]);
}

/// Appends one event whose data is the concatenation of `data`, written without joining it first.
pub fn write_event_parts(out: &mut Vec<u8>, event: Option<&str>, data: &[&[u8]]) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    for part in data {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<Event> {
        let mut parser = Parser::new();
        let mut events = Vec::new();
        for chunk in input.chunks(piece) {
            parser.feed(chunk, &mut |e| events.push(e)).unwrap();
        }
        parser.finish(&mut |e| events.push(e));
        events
    }

    fn ev(event: &str, data: &str) -> Event {
        Event { event: event.into(), data: data.into() }
    }

    #[test]
    fn same_events_for_every_chunk_size_and_line_ending() {
        let lf = "event: a\ndata: {\"x\":1}\n\n: keep-alive comment\n\ndata: first\ndata: second\n\ndata:nospace\n\n";
        let expected = vec![ev("a", "{\"x\":1}"), ev("", "first\nsecond"), ev("", "nospace")];
        for input in [lf.to_string(), lf.replace('\n', "\r\n"), lf.replace('\n', "\r")] {
            for piece in 1..input.len() {
                assert_eq!(parse_in_pieces(input.as_bytes(), piece), expected, "piece {piece} of {input:?}");
            }
        }
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        assert_eq!(parse_in_pieces(b"data: [DONE]", 4), vec![ev("", "[DONE]")]);
        assert_eq!(parse_in_pieces(b"data: x\n", 3), vec![ev("", "x")]);
    }

    #[test]
    fn event_name_without_data_is_not_dispatched_and_does_not_leak() {
        assert_eq!(parse_in_pieces(b"event: ping\n\ndata: y\n\n", 5), vec![ev("", "y")]);
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_is_no_line_end() {
        let mut parser = Parser::new();
        let mut events = Vec::new();
        for chunk in [&b"event: ping\r"[..], b"", b"\ndata: {}\r\n\r\n"] {
            parser.feed(chunk, &mut |e| events.push(e)).unwrap();
        }
        assert_eq!(events, vec![ev("ping", "{}")]);
    }

    #[test]
    fn utf8_split_across_chunks_survives() {
        let input = "data: héllo ✓\n\n".as_bytes();
        assert_eq!(parse_in_pieces(input, 1), vec![ev("", "héllo ✓")]);
    }

    #[test]
    fn an_event_past_the_bound_is_an_error_not_a_growing_buffer() {
        // No newline at all: the line buffer is what grows.
        let mut parser = Parser::with_limit(64);
        let mut seen = 0;
        assert!(parser.feed(&[b'x'; 40], &mut |_| seen += 1).is_ok());
        assert_eq!(parser.feed(&[b'x'; 40], &mut |_| seen += 1), Err(EventTooLarge(64)));
        // Many short data lines with no blank line: the event's data is what grows.
        let mut parser = Parser::with_limit(64);
        let lines = "data: 0123456789\n".repeat(8);
        assert_eq!(parser.feed(lines.as_bytes(), &mut |_| seen += 1), Err(EventTooLarge(64)));
        assert_eq!(seen, 0);
        // Events within the bound pass, however many there are.
        let mut parser = Parser::with_limit(64);
        let events = "data: 0123456789\n\n".repeat(100);
        assert!(parser.feed(events.as_bytes(), &mut |_| seen += 1).is_ok());
        assert_eq!(seen, 100);
    }

    #[test]
    fn an_unterminated_last_event_past_the_bound_is_not_dispatched() {
        // Within the bound as bytes, past it once each invalid byte is a replacement character.
        let mut parser = Parser::with_limit(12);
        let mut events = Vec::new();
        assert!(parser.feed(b"data: \xff\xff\xff\xff\xff", &mut |e| events.push(e)).is_ok());
        parser.finish(&mut |e| events.push(e));
        assert!(events.iter().all(|e| e.data.len() <= 12), "{events:?}");
    }

    #[test]
    fn writes_named_and_unnamed_events() {
        let mut out = Vec::new();
        write_event(&mut out, Some("message_stop"), "{}");
        write_event(&mut out, None, "[DONE]");
        assert_eq!(out, b"event: message_stop\ndata: {}\n\ndata: [DONE]\n\n");
    }
}
