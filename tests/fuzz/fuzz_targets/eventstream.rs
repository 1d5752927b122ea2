//! AWS event streams: raw bytes never panic the decoder or the unframer, whatever their split;
//! messages the proxy writes from the input decode to themselves at any chunk boundary; and a
//! flipped byte in them is refused or held, never read as another message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::codec::Framing;
use llmproxy::eventstream::{self, Decoder, HeaderValue, Message};
use llmproxy::transcode::framing::Unframer;
use llmproxy_fuzz::{pieces, Rng};

/// The messages of `chunks`, and the error that ended them.
fn decode(chunks: &[&[u8]]) -> (Vec<Message>, Option<eventstream::DecodeError>) {
    let mut decoder = Decoder::with_limit(1 << 16);
    let mut messages = Vec::new();
    for chunk in chunks {
        if let Err(error) = decoder.feed(chunk, &mut |m| messages.push(m)) {
            return (messages, Some(error));
        }
    }
    (messages, None)
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(data);
    // Raw input, whole and in pieces: the same messages up to the same error.
    let whole = decode(&[data]);
    let chunks = pieces(data, || rng.below(24));
    assert_eq!(decode(&chunks), whole, "fed in pieces");
    for framing in [Framing::EventStreamChunks, Framing::EventStreamEvents] {
        let mut unframer = Unframer::new(framing).expect("an event-stream framing");
        let mut out = Vec::new();
        for chunk in &chunks {
            if unframer.push(chunk, &mut out).is_err() {
                break;
            }
        }
    }

    // The input cut into headers and payloads, written as messages, read back in pieces.
    let mut written = Vec::new();
    let mut expected = Vec::new();
    for part in data.split(|&b| b == 0xff).take(8) {
        let split = rng.below(part.len() + 1);
        let (name, payload) = part.split_at(split);
        let name = String::from_utf8_lossy(&name[..name.len().min(40)]).into_owned();
        let value = format!("v{}", rng.below(1000));
        eventstream::write_message(&mut written, &[(name.as_str(), value.as_str())], payload);
        let headers = vec![(name.clone(), HeaderValue::String(value))];
        expected.push(Message { headers, payload: payload.to_vec() });
    }
    let chunks = pieces(&written, || rng.below(32));
    assert_eq!(decode(&chunks), (expected.clone(), None), "written messages read back");

    if !written.is_empty() {
        let at = rng.below(written.len());
        written[at] ^= 1 << rng.below(8);
        // CRC32 catches every one-bit error: the messages read are those before the broken one.
        let (messages, _) = decode(&[&written]);
        assert!(messages.len() < expected.len() && expected.starts_with(&messages), "bit flipped at {at}");
    }
});
