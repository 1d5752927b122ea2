//! Upstream stream bytes through the transcoder of every (client, backend) pair: the first byte
//! picks the pair, the second the chunk size (0 for the whole input at once). The client always
//! gets well-formed SSE ending in its dialect's last event, the same whatever the chunking, and
//! nothing once the stream is finished.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy_fuzz::{check_stream, DIALECTS};

fuzz_target!(|data: &[u8]| {
    let [pair, size, input @ ..] = data else { return };
    // Three bits each: the client, then the backend.
    let dialect = |bits: u8| DIALECTS[usize::from(bits & 7) % DIALECTS.len()];
    let (client, backend) = (dialect(*pair), dialect(pair >> 3));
    let chunks: Vec<&[u8]> = match usize::from(*size) {
        0 => vec![input],
        size => input.chunks(size).collect(),
    };
    check_stream(client, backend, input, &chunks);
});
