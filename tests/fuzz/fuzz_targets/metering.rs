//! Metering a stream passed through. The first byte picks the dialect, the second the chunking
//! (0: the whole input at once); the rest is the upstream's stream, fed to three passthrough
//! transcoders of that dialect: plain, `.metered(false)` and `.metered(true)`.
//!
//! - Metered or not, the client gets the very same bytes at the same time, and the stream ends the
//!   same way (finished, failed).
//! - Stripping the usage the client did not ask for only takes whole events out of what each read
//!   gives the client, each one the dialect's `is_unasked_usage` says yes to (so none but in Chat);
//!   read as SSE, the stripped stream is the unstripped one without some of those events. What was
//!   used is tallied the same either way, and `usage()` and `failure()` never panic.
//!
//! The rest is also a Chat request body for `with_usage_reported`: it errs, or says the body asks
//! for usage already (`stream_options.include_usage: true`), or gives back a JSON object that asks
//! for it, with every other field of the body as it was (the same JSON text), and the body's other
//! `stream_options` too. For a backend that takes no `stream_options` (vLLM) it is always left as
//! it came.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::codec::Codec;
use llmproxy::config::{Backend, Config};
use llmproxy::dialect::Dialect;
use llmproxy::sse;
use llmproxy::transcode::Transcoder;
use llmproxy_fuzz::{assert_json_text, pieces, Rng, DIALECTS};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// A plain `openai` backend and a vLLM one.
fn backends() -> &'static [Backend] {
    static BACKENDS: OnceLock<Vec<Backend>> = OnceLock::new();
    BACKENDS.get_or_init(|| {
        let config = r#"{"backends": [{"name": "openai", "kind": "openai", "models": ["*"]},
            {"name": "vllm", "kind": "openai", "compat": "vllm", "models": ["*"]}]}"#;
        Config::from_json(config).expect("the config is valid").backends
    })
}

/// One read's worth of a transcoder's output, and its state after it.
#[derive(Debug, PartialEq)]
struct Step {
    out: Vec<u8>,
    finished: bool,
}

fn run(mut transcoder: Transcoder, chunks: &[&[u8]]) -> (Vec<Step>, Transcoder) {
    let mut steps = Vec::new();
    for chunk in chunks {
        let out = transcoder.push(chunk);
        let _ = (transcoder.usage(), transcoder.failure());
        steps.push(Step { out, finished: transcoder.is_finished() });
    }
    let out = transcoder.end();
    steps.push(Step { out, finished: transcoder.is_finished() });
    (steps, transcoder)
}

/// The events of `bytes`, each with the blank line that ends it (`\n`, `\r\n` or `\r`); the last
/// one runs to the end. Written here from the SSE grammar, not taken from the proxy.
fn event_spans(bytes: &[u8]) -> Vec<&[u8]> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let line_end = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        if i == line_start {
            spans.push(&bytes[start..line_end]);
            start = line_end;
        }
        i = line_end;
        line_start = line_end;
    }
    if start < bytes.len() {
        spans.push(&bytes[start..]);
    }
    spans
}

fn parse(bytes: &[u8]) -> Vec<sse::Event> {
    let mut parser = sse::Parser::new();
    let mut events = Vec::new();
    let _ = parser.feed(bytes, &mut |event| events.push(event));
    parser.finish(&mut |event| events.push(event));
    events
}

/// Whether `span`, read on its own, is one or more events that all only report usage not asked.
fn is_unasked(codec: &dyn Codec, span: &[u8]) -> bool {
    let events = parse(span);
    !events.is_empty() && events.iter().all(|event| codec.is_unasked_usage(event))
}

/// Panics unless `stripped` is `whole` with zero or more of its events taken out, each of them
/// unasked usage.
fn check_stripped(codec: &dyn Codec, whole: &[u8], stripped: &[u8]) {
    // The places in `stripped` that the events so far can reach, keeping or dropping each.
    let mut reached = BTreeSet::from([0usize]);
    for span in event_spans(whole) {
        let droppable = is_unasked(codec, span);
        let mut next = BTreeSet::new();
        for &at in &reached {
            if stripped[at..].starts_with(span) {
                next.insert(at + span.len());
            }
            if droppable {
                next.insert(at);
            }
        }
        reached = next;
        if reached.is_empty() {
            break;
        }
    }
    assert!(
        reached.contains(&stripped.len()),
        "the stripped output is not the output without some unasked usage events:\nwhole:    {:?}\nstripped: {:?}",
        String::from_utf8_lossy(whole),
        String::from_utf8_lossy(stripped)
    );
}

fn check_stream(dialect: Dialect, chunks: &[&[u8]]) {
    let codec = dialect.codec();
    let (plain, plain_t) = run(Transcoder::passthrough(dialect), chunks);
    let (counted, counted_t) = run(Transcoder::passthrough(dialect).metered(false), chunks);
    let (stripped, stripped_t) = run(Transcoder::passthrough(dialect).metered(true), chunks);
    if plain != counted {
        panic!("{dialect:?}: metering changed the stream:\nplain:   {plain:?}\nmetered: {counted:?}");
    }
    assert_eq!(plain_t.failure(), counted_t.failure(), "{dialect:?}: metering changed how the stream failed");
    assert_eq!(plain_t.usage(), None, "{dialect:?}: a stream not metered was tallied");
    assert_eq!(stripped.len(), counted.len());
    for (counted, stripped) in counted.iter().zip(&stripped) {
        assert_eq!(counted.finished, stripped.finished, "{dialect:?}: stripping changed when the stream ended");
        if dialect == Dialect::OpenAiChat {
            check_stripped(codec, &counted.out, &stripped.out);
        } else {
            assert_eq!(counted.out, stripped.out, "{dialect:?}: stripped what only Chat asks for");
        }
    }
    assert_eq!(counted_t.failure(), stripped_t.failure(), "{dialect:?}: stripping changed how the stream failed");
    assert_eq!(counted_t.usage(), stripped_t.usage(), "{dialect:?}: stripping changed the usage tallied");
    // Read as a client reads it, the stripped stream lacks only unasked usage events.
    let whole: Vec<u8> = counted.iter().flat_map(|step| step.out.iter().copied()).collect();
    let kept: Vec<u8> = stripped.iter().flat_map(|step| step.out.iter().copied()).collect();
    let (whole, kept) = (parse(&whole), parse(&kept));
    let mut rest = kept.iter().peekable();
    for event in &whole {
        if rest.peek() == Some(&event) {
            rest.next();
        } else {
            assert!(codec.is_unasked_usage(event), "{dialect:?}: stripping took out {event:?}");
        }
    }
    assert!(rest.next().is_none(), "{dialect:?}: stripping added events: {kept:?} from {whole:?}");
}

/// A JSON object's fields, the last of a name winning (as the proxy and serde_json read them).
fn fields(text: &[u8]) -> Option<BTreeMap<String, Box<RawValue>>> {
    serde_json::from_slice(text).ok()
}

fn check_with_usage_reported(body: &[u8]) {
    let codec = Dialect::OpenAiChat.codec();
    let asks = |options: Option<&Box<RawValue>>| -> Option<Map<String, Value>> {
        options.and_then(|raw| serde_json::from_str::<Map<String, Value>>(raw.get()).ok())
    };
    let [openai, vllm] = backends() else { unreachable!("two backends") };
    assert!(matches!(codec.with_usage_reported(body, vllm), Ok(None)), "vLLM was asked for usage");
    match codec.with_usage_reported(body, openai) {
        Err(error) => assert!((400..600).contains(&error.status), "an error status of {}", error.status),
        Ok(None) => {
            let input = fields(body).expect("a body that asks for usage is a JSON object");
            let options = asks(input.get("stream_options"));
            assert_eq!(
                options.and_then(|o| o.get("include_usage").cloned()),
                Some(Value::Bool(true)),
                "left unchanged, but does not ask for usage: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        Ok(Some(out)) => {
            assert_json_text(&out, "a body asking for usage");
            let input = fields(body).expect("a body changed was a JSON object");
            let output = fields(&out).expect("a body changed is a JSON object");
            let mut options = asks(output.get("stream_options")).expect("stream_options is an object");
            assert_eq!(options.remove("include_usage"), Some(Value::Bool(true)), "usage not asked for");
            let mut before = asks(input.get("stream_options")).unwrap_or_default();
            before.remove("include_usage");
            assert_eq!(options, before, "the client's other stream options changed");
            for (name, value) in &input {
                if name != "stream_options" {
                    let sent = output.get(name).map(|v| v.get());
                    assert_eq!(sent, Some(value.get()), "the field `{name}` changed");
                }
            }
            for name in output.keys() {
                assert!(name == "stream_options" || input.contains_key(name), "a field `{name}` was added");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [pick, size, input @ ..] = data else { return };
    check_with_usage_reported(input);
    let dialect = DIALECTS[usize::from(*pick) % DIALECTS.len()];
    let mut rng = Rng::new(data);
    let chunks = match usize::from(*size) {
        0 => vec![input],
        size => pieces(input, || rng.below(size + 1)),
    };
    check_stream(dialect, &chunks);
});
