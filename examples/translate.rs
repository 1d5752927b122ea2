//! The proxy's core embedded in a plain Rust program, no worker: route an OpenAI Chat request by
//! model, get the Anthropic request to send, and translate the answer — whole, then streamed in
//! small pieces — back into Chat. The answers are recordings from `fixtures/wire/`.
//!
//!   cargo run --example translate

use llmproxy::codec::{Framing, Operation};
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::proxy::{self, Attempt, Inbound};
use std::error::Error;

const CONFIG: &str = r#"{
  "backends": [
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]}
  ],
  "aliases": {"sonnet": "claude-sonnet-4-5"}
}"#;

fn main() -> Result<(), Box<dyn Error>> {
    let config = Config::from_json(CONFIG)?;
    let body = br#"{"model": "sonnet", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 100}"#;
    // Where the embedding program keeps its keys; the proxy asks for them by the config's names.
    let secret = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-example".to_string());
    let inbound = Inbound {
        dialect: Dialect::OpenAiChat,
        operation: Operation::Generate,
        model: None,
        stream: None,
        framing: Framing::Sse,
        body,
        query: "",
        header: &|_| None,
        secret: &secret,
        own_key: None,
        now: 1_700_000_000,
        random: 0,
        policy: None,
        metered: false,
    };

    // Routing: the alias resolves, the first backend whose glob matches serves it.
    let plan = proxy::plan(&config, &inbound)?;
    let target = &plan.chain.targets[0];
    println!("`{}` is `{}` on backend `{}`", plan.requested(), plan.model(), target.backend.name);

    // The request as the backend takes it.
    let Attempt::Upstream(call) = plan.attempt(0, target.backend.api_key_env.first().map(String::as_str))? else {
        return Err("an anthropic backend is called over the network".into());
    };
    println!("POST {}", call.url);
    for (name, value) in &call.headers {
        let shown = if call.secrets.contains(value) { "[the key]" } else { value };
        println!("{name}: {shown}");
    }
    println!("{}\n", String::from_utf8_lossy(&call.body));

    // A whole answer, translated back into the client's dialect.
    let answer = std::fs::read("fixtures/wire/anthropic-text.vercel.json")?;
    let (chat, usage) = call.exchange.answer(answer)?;
    println!("{}\nusage: {usage:?}\n", String::from_utf8_lossy(&chat));

    // A stream, translated as its bytes arrive, here seven at a time.
    let stream = std::fs::read("fixtures/wire/anthropic-tool-use.sdkpy.sse")?;
    let mut transcoder = proxy::Exchange::between(Dialect::OpenAiChat, Dialect::Anthropic).transcoder();
    let mut out = Vec::new();
    for piece in stream.chunks(7) {
        out.extend(transcoder.push(piece));
    }
    out.extend(transcoder.end());
    print!("{}", String::from_utf8_lossy(&out));
    Ok(())
}
