//! The SSE parser: whatever the split of the bytes into chunks (empty chunks included), the events
//! are those of the whole input, and no event outgrows the parser's bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::sse::{self, Event, Parser};
use llmproxy_fuzz::{pieces, Rng};

/// The events of `chunks`, and whether the parser refused the stream (then it is not fed again).
fn parse(mut parser: Parser, chunks: &[&[u8]]) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    for chunk in chunks {
        if parser.feed(chunk, &mut |e| events.push(e)).is_err() {
            return (events, true);
        }
    }
    parser.finish(&mut |e| events.push(e));
    (events, false)
}

fuzz_target!(|data: &[u8]| {
    let (whole, refused) = parse(Parser::new(), &[data]);
    assert!(!refused, "an input this small is within the bound");
    assert!(whole.iter().all(|e| e.data.len() <= sse::MAX_EVENT_BYTES));

    let bytewise: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(parse(Parser::new(), &bytewise).0, whole, "fed a byte at a time");

    let mut rng = Rng::new(data);
    for _ in 0..3 {
        // Pieces of 0 to 15 bytes: empty reads happen on real connections too.
        let chunks = pieces(data, || rng.below(16));
        assert_eq!(parse(Parser::new(), &chunks).0, whole, "fed in pieces {chunks:?}");
    }

    // A small bound: the events before a refusal are the stream's first ones, each within it.
    let limit = 1 + rng.below(96);
    let chunks = pieces(data, || rng.below(24));
    let (bounded, refused) = parse(Parser::with_limit(limit), &chunks);
    assert!(bounded.iter().all(|e| e.data.len() <= limit), "an event over the bound of {limit}: {bounded:?}");
    if refused {
        assert!(whole.starts_with(&bounded), "events before the refusal are not the stream's first");
    } else if bounded != whole {
        // Only an unterminated last event that outgrew the bound as it was read may be missing.
        let dropped = whole.len() == bounded.len() + 1 && whole.last().is_some_and(|e| e.data.len() > limit);
        assert!(dropped && whole.starts_with(&bounded), "a bound that was never hit changed the events");
    }
});
