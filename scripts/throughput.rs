//! Native transcoding throughput: each recorded stream translated into every other client dialect,
//! in MB/s of SSE in, next to plain serde_json parse + serialize of the same events (the floor of
//! doing anything with JSON events). Run by `scripts/bench`, or `cargo bench --bench throughput`.

use llmproxy::dialect::Dialect;
use llmproxy::proxy::Exchange;
use llmproxy::sse;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Each rate is the best of several short runs: a virtual machine's neighbours only ever slow a
/// run down, so the fastest run is the one closest to the code's own speed.
const RUNS: u32 = 5;
const RUN_FOR: Duration = Duration::from_millis(200);
/// Upstreams send a stream in network-sized pieces; the transcoder sees them one at a time.
const PIECE: usize = 512;

/// A `*.chunks.jsonl` recording as SSE, each event named after its payload's `type` when it has
/// one (Gemini's chunks have none).
fn framed(jsonl: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let payload: serde_json::Value = serde_json::from_str(line).expect("recordings are JSON");
        sse::write_event(&mut out, payload["type"].as_str(), line);
    }
    out
}

/// Runs `work` over `bytes` repeatedly; returns the best MB/s of input over `RUNS` runs.
fn throughput(bytes: &[u8], mut work: impl FnMut(&[u8])) -> f64 {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut rounds = 0u64;
            while start.elapsed() < RUN_FOR {
                work(bytes);
                rounds += 1;
            }
            (bytes.len() as u64 * rounds) as f64 / start.elapsed().as_secs_f64() / 1e6
        })
        .fold(0.0, f64::max)
}

fn translate(exchange: &Exchange, bytes: &[u8]) {
    let mut transcoder = exchange.transcoder();
    for piece in bytes.chunks(PIECE) {
        black_box(transcoder.push(piece));
    }
    black_box(transcoder.end());
}

/// The baseline: every event's data parsed into a `serde_json::Value` and written back.
fn parse_and_serialize(bytes: &[u8]) {
    let mut parser = sse::Parser::new();
    let mut on_event = |event: sse::Event| {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&event.data) {
            black_box(serde_json::to_string(&value).expect("values serialize"));
        }
    };
    for piece in bytes.chunks(PIECE) {
        parser.feed(piece, &mut on_event).expect("recorded events are small");
    }
    parser.finish(&mut on_event);
}

fn main() {
    let recordings: [(&str, Dialect, Vec<u8>); 5] = [
        (
            "anthropic tool use",
            Dialect::Anthropic,
            include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse").to_vec(),
        ),
        (
            "anthropic thinking",
            Dialect::Anthropic,
            framed(include_str!("../fixtures/wire/anthropic-thinking-signature.vercel.chunks.jsonl")),
        ),
        (
            "chat parallel tools",
            Dialect::OpenAiChat,
            include_bytes!("../fixtures/wire/openai-chat-parallel-tools.sdkpy.sse").to_vec(),
        ),
        (
            "responses reasoning+calls",
            Dialect::OpenAiResponses,
            framed(include_str!("../fixtures/wire/openai-responses-reasoning-fc.vercel.chunks.jsonl")),
        ),
        (
            "gemini call+signature",
            Dialect::Gemini,
            framed(include_str!("../fixtures/wire/gemini-functioncall-thoughtsig.vercel.chunks.jsonl")),
        ),
    ];
    let clients = [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::OpenAiResponses, Dialect::Gemini];
    println!("{:<28} {:<18} {:>12} {:>14} {:>7}", "recording", "client", "MB/s", "serde MB/s", "ratio");
    let mut worst = f64::INFINITY;
    for (name, backend, bytes) in &recordings {
        let baseline = throughput(bytes, parse_and_serialize);
        for client in clients.iter().copied().filter(|c| c != backend) {
            let exchange = Exchange::between(client, *backend);
            let rate = throughput(bytes, |b| translate(&exchange, b));
            worst = worst.min(rate / baseline);
            println!("{name:<28} {:<18} {rate:>12.1} {baseline:>14.1} {:>7.2}", format!("{client:?}"), rate / baseline);
        }
    }
    println!("worst ratio {worst:.2} (target: at least 0.5 of serde_json parse + serialize)");
}
