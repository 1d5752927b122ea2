//! AWS event streams (`application/vnd.amazon.eventstream`), the binary framing of Bedrock's
//! streamed answers: an incremental decoder that accepts bytes split at any boundary and checks
//! both CRCs of every message, and the encoder for the streams the proxy writes.
//!
//! A message is a 12-byte prelude (total length, headers length, the prelude's CRC32, all
//! big-endian), its headers, its payload and a CRC32 of everything before it.

/// The most one message may hold, unless a decoder is made with another bound; AWS caps messages
/// at 16 MiB, and a hostile length must not make the isolate reserve it.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

const PRELUDE: usize = 12;
/// The prelude and the message CRC: the size of a message with no headers and no payload.
const OVERHEAD: usize = PRELUDE + 4;

/// A header value; only strings matter to Bedrock, the other types are read to be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    String(String),
    Other,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The string header `name` (`:event-type`, `:message-type`, …).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, value)| match value {
            HeaderValue::String(value) if n == name => Some(value.as_str()),
            _ => None,
        })
    }
}

/// Why a stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    /// A length that cannot be a message's, or headers that overrun their section.
    Malformed(&'static str),
    PreludeCrc,
    MessageCrc,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(limit) => write!(f, "the upstream sent an event-stream message larger than {limit} bytes"),
            Self::Malformed(what) => write!(f, "the upstream sent a malformed event-stream message: {what}"),
            Self::PreludeCrc => write!(f, "an event-stream message's prelude failed its CRC check"),
            Self::MessageCrc => write!(f, "an event-stream message failed its CRC check"),
        }
    }
}

#[derive(Debug)]
pub struct Decoder {
    max_message_bytes: usize,
    /// Bytes of messages not yet whole.
    buffer: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE_BYTES)
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limit(max_message_bytes: usize) -> Self {
        Self { max_message_bytes, buffer: Vec::new() }
    }

    /// Feeds bytes and calls `on_message` for every message they complete. After an error the
    /// stream is broken and the decoder should not be fed again.
    pub fn feed(&mut self, bytes: &[u8], on_message: &mut impl FnMut(Message)) -> Result<(), DecodeError> {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            let rest = &self.buffer[start..];
            if rest.len() < PRELUDE {
                break Ok(());
            }
            let total = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let headers_len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let prelude_crc = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
            // The prelude is checked before its length is trusted.
            if crc32fast::hash(&rest[..8]) != prelude_crc {
                break Err(DecodeError::PreludeCrc);
            }
            if total > self.max_message_bytes {
                break Err(DecodeError::TooLarge(self.max_message_bytes));
            }
            if total < OVERHEAD || headers_len > total - OVERHEAD {
                break Err(DecodeError::Malformed("its lengths do not fit"));
            }
            if rest.len() < total {
                break Ok(());
            }
            let message = &rest[..total];
            let crc =
                u32::from_be_bytes([message[total - 4], message[total - 3], message[total - 2], message[total - 1]]);
            if crc32fast::hash(&message[..total - 4]) != crc {
                break Err(DecodeError::MessageCrc);
            }
            let headers = match read_headers(&message[PRELUDE..PRELUDE + headers_len]) {
                Ok(headers) => headers,
                Err(error) => break Err(error),
            };
            on_message(Message { headers, payload: message[PRELUDE + headers_len..total - 4].to_vec() });
            start += total;
        };
        self.buffer.drain(..start);
        result
    }

    /// Whether bytes of a message not yet whole are held: at the stream's end, a cut message.
    pub fn is_mid_message(&self) -> bool {
        !self.buffer.is_empty()
    }
}

fn read_headers(mut bytes: &[u8]) -> Result<Vec<(String, HeaderValue)>, DecodeError> {
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = take(&mut bytes, 1)?[0] as usize;
        let name = String::from_utf8_lossy(take(&mut bytes, name_len)?).into_owned();
        // Booleans have no value bytes; byte, short, int, long, timestamp and uuid a fixed size;
        // byte arrays and strings a 16-bit length.
        let value = match take(&mut bytes, 1)?[0] {
            0 | 1 => HeaderValue::Other,
            kind @ (2..=5 | 8 | 9) => {
                take(&mut bytes, [1, 2, 4, 8, 0, 0, 8, 16][kind as usize - 2])?;
                HeaderValue::Other
            }
            kind @ (6 | 7) => {
                let len = take(&mut bytes, 2)?;
                let value = take(&mut bytes, u16::from_be_bytes([len[0], len[1]]) as usize)?;
                match kind {
                    7 => HeaderValue::String(String::from_utf8_lossy(value).into_owned()),
                    _ => HeaderValue::Other,
                }
            }
            _ => return Err(DecodeError::Malformed("a header has an unknown value type")),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// The next `n` bytes of a headers section.
fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    let (taken, rest) = bytes.split_at_checked(n).ok_or(DecodeError::Malformed("a header overruns its section"))?;
    *bytes = rest;
    Ok(taken)
}

/// Appends one message with string headers. Names and values longer than their length fields
/// allow are cut: the proxy writes only its own short header values.
pub fn write_message(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; PRELUDE]);
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(u8::MAX as usize)];
        let value = &value.as_bytes()[..value.len().min(u16::MAX as usize)];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.push(7);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
    }
    let headers_len = out.len() - start - PRELUDE;
    out.extend_from_slice(payload);
    let total = out.len() - start + 4;
    out[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..start + 8]);
    out[start + 8..start + PRELUDE].copy_from_slice(&prelude_crc.to_be_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Appends an event message (`:message-type: event`) of type `event_type`, with a JSON payload.
pub fn write_event(out: &mut Vec<u8>, event_type: &str, payload: &[u8]) {
    let headers = [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")];
    write_message(out, &headers, payload);
}

/// Appends an exception message, which AWS SDKs raise as the modeled exception `exception_type`.
pub fn write_exception(out: &mut Vec<u8>, exception_type: &str, payload: &[u8]) {
    let headers =
        [(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")];
    write_message(out, &headers, payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Result<Vec<Message>, DecodeError> {
        let mut decoder = Decoder::new();
        let mut messages = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.feed(chunk, &mut |m| messages.push(m))?;
        }
        assert!(!decoder.is_mid_message());
        Ok(messages)
    }

    fn two_messages() -> Vec<u8> {
        let mut out = Vec::new();
        write_event(&mut out, "chunk", br#"{"bytes":"eyJ0eXBlIjoicGluZyJ9"}"#);
        write_exception(&mut out, "throttlingException", br#"{"message":"slow down"}"#);
        out
    }

    #[test]
    fn the_same_messages_at_every_chunk_boundary() {
        let input = two_messages();
        for piece in 1..=input.len() {
            let messages = decode_in_pieces(&input, piece).unwrap();
            assert_eq!(messages.len(), 2, "piece {piece}");
            assert_eq!(messages[0].header(":event-type"), Some("chunk"));
            assert_eq!(messages[0].header(":message-type"), Some("event"));
            assert_eq!(messages[0].payload, br#"{"bytes":"eyJ0eXBlIjoicGluZyJ9"}"#);
            assert_eq!(messages[1].header(":exception-type"), Some("throttlingException"));
        }
    }

    /// Messages from the AWS event-stream test data (awslabs/aws-c-event-stream,
    /// `tests/message_deserializer_test.c`): payload `{'foo':'bar'}`, without headers and with a
    /// `content-type` string header.
    #[test]
    fn decodes_and_writes_the_published_vectors() {
        let no_headers: [u8; 29] = [
            0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xFD, 0x52, 0x8C, 0x5A, 0x7B, 0x27, 0x66, 0x6F, 0x6F, 0x27,
            0x3A, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7D, 0xC3, 0x65, 0x39, 0x36,
        ];
        let mut with_header = vec![0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C];
        with_header.extend_from_slice(b"content-type\x07\x00\x10application/json{'foo':'bar'}");
        with_header.extend_from_slice(&[0x8D, 0x9C, 0x08, 0xB1]);
        let payload = b"{'foo':'bar'}".to_vec();
        assert_eq!(
            decode_in_pieces(&no_headers, 3).unwrap(),
            vec![Message { headers: vec![], payload: payload.clone() }]
        );
        let content_type = ("content-type".to_string(), HeaderValue::String("application/json".into()));
        assert_eq!(decode_in_pieces(&with_header, 5).unwrap(), vec![Message { headers: vec![content_type], payload }]);
        let mut written = Vec::new();
        write_message(&mut written, &[], b"{'foo':'bar'}");
        write_message(&mut written, &[("content-type", "application/json")], b"{'foo':'bar'}");
        assert_eq!(written, [&no_headers[..], &with_header].concat());
    }

    #[test]
    fn every_header_type_is_read_or_skipped() {
        // A message written by hand with one header of each type, then a string one.
        let mut headers = Vec::new();
        let mut push = |name: &str, kind: u8, value: &[u8]| {
            headers.push(name.len() as u8);
            headers.extend_from_slice(name.as_bytes());
            headers.push(kind);
            headers.extend_from_slice(value);
        };
        push("t", 0, &[]);
        push("f", 1, &[]);
        push("b", 2, &[1]);
        push("s", 3, &[0, 1]);
        push("i", 4, &[0, 0, 0, 1]);
        push("l", 5, &[0; 8]);
        push("a", 6, &[0, 2, 0xff, 0xfe]);
        push("ts", 8, &[0; 8]);
        push("u", 9, &[0; 16]);
        push(":event-type", 7, &[0, 5, b'c', b'h', b'u', b'n', b'k']);
        let mut message = vec![0; PRELUDE];
        message.extend_from_slice(&headers);
        message.extend_from_slice(b"{}");
        let total = message.len() + 4;
        message[..4].copy_from_slice(&(total as u32).to_be_bytes());
        message[4..8].copy_from_slice(&(headers.len() as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&message[..8]);
        message[8..12].copy_from_slice(&prelude_crc.to_be_bytes());
        let crc = crc32fast::hash(&message);
        message.extend_from_slice(&crc.to_be_bytes());
        let decoded = decode_in_pieces(&message, 7).unwrap();
        assert_eq!(decoded[0].headers.len(), 10);
        assert_eq!(decoded[0].header(":event-type"), Some("chunk"));
        assert_eq!(decoded[0].header("a"), None, "a byte array is not a string");
        assert_eq!(decoded[0].payload, b"{}");
    }

    #[test]
    fn a_flipped_bit_anywhere_fails_a_crc() {
        let input = two_messages();
        for at in 0..input.len() {
            let mut broken = input.clone();
            broken[at] ^= 0x10;
            let mut decoder = Decoder::new();
            let result = decoder.feed(&broken, &mut |_| {});
            // A flipped length bit may also make the first message look longer than the input.
            assert!(result.is_err() || decoder.is_mid_message(), "byte {at}: {result:?}");
        }
    }

    #[test]
    fn hostile_lengths_are_refused_before_anything_is_reserved() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&u32::MAX.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        prelude.extend_from_slice(&crc32fast::hash(&prelude).to_be_bytes());
        assert_eq!(Decoder::new().feed(&prelude, &mut |_| {}), Err(DecodeError::TooLarge(MAX_MESSAGE_BYTES)));
        for (total, headers_len) in [(0u32, 0u32), (15, 0), (16, 1), (20, u32::MAX)] {
            let mut prelude = Vec::new();
            prelude.extend_from_slice(&total.to_be_bytes());
            prelude.extend_from_slice(&headers_len.to_be_bytes());
            prelude.extend_from_slice(&crc32fast::hash(&prelude).to_be_bytes());
            let result = Decoder::new().feed(&prelude, &mut |_| {});
            assert!(matches!(result, Err(DecodeError::Malformed(_))), "{total} {headers_len}: {result:?}");
        }
    }

    #[test]
    fn headers_that_overrun_their_section_are_refused() {
        // A string header claiming 200 bytes of value in a section of a few.
        let mut message = Vec::new();
        write_message(&mut message, &[("n", "v")], b"");
        let value_len_at = PRELUDE + 1 + 1 + 1;
        message[value_len_at..value_len_at + 2].copy_from_slice(&200u16.to_be_bytes());
        let end = message.len() - 4;
        let crc = crc32fast::hash(&message[..end]);
        message[end..].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(Decoder::new().feed(&message, &mut |_| {}), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn a_cut_message_is_held_not_dispatched() {
        let input = two_messages();
        let mut decoder = Decoder::new();
        let mut seen = 0;
        decoder.feed(&input[..input.len() - 1], &mut |_| seen += 1).unwrap();
        assert_eq!(seen, 1);
        assert!(decoder.is_mid_message());
    }
}
