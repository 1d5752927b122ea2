//! The core as a library, through its public API only, as `examples/translate.rs` uses it: a
//! request routed and encoded for its backend, and the backend's answer and stream translated back.

use llmproxy::codec::{Framing, Operation};
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::proxy::{self, Attempt, Exchange, Inbound};
use llmproxy::sse;
use serde_json::Value;

const CONFIG: &str = r#"{"backends": [
  {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
  {"name": "gemini", "kind": "gemini", "api_key_env": "GEMINI_API_KEY", "models": ["gemini-*"]}
], "aliases": {"sonnet": "claude-sonnet-4-5"}}"#;

fn wire(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn a_chat_request_is_routed_by_alias_and_encoded_for_anthropic_with_its_key() {
    let config = Config::from_json(CONFIG).unwrap();
    let body = br#"{"model": "sonnet", "messages": [{"role": "user", "content": "Hello"}]}"#;
    let secret = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-library".to_string());
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
        now: 1,
        random: 0,
        policy: None,
        metered: false,
    };
    let plan = proxy::plan(&config, &inbound).unwrap();
    assert_eq!((plan.requested(), plan.model()), ("sonnet", "claude-sonnet-4-5"));
    let Ok(Attempt::Upstream(call)) = plan.attempt(0, Some("ANTHROPIC_API_KEY")) else {
        panic!("not an upstream call")
    };
    assert_eq!(call.url, "https://api.anthropic.com/v1/messages");
    assert!(call.headers.contains(&("x-api-key".into(), "sk-ant-library".into())));
    assert_eq!(call.secrets, ["sk-ant-library"]);
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        (sent["model"].as_str(), sent["messages"][0]["content"][0]["text"].as_str()),
        (Some("claude-sonnet-4-5"), Some("Hello"))
    );
    assert!(sent["max_tokens"].as_u64().is_some(), "Anthropic requires an output limit");

    let (answer, usage) = call.exchange.answer(wire("anthropic-text.vercel.json")).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert!(answer["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello! I'm doing well"));
    assert_eq!(usage.map(|u| (u.input_tokens, u.output_tokens)), Some((12, 29)));
}

#[test]
fn a_stream_is_translated_as_its_bytes_arrive() {
    let mut transcoder = Exchange::between(Dialect::OpenAiChat, Dialect::Anthropic).transcoder();
    let mut out = Vec::new();
    for piece in wire("anthropic-tool-use.sdkpy.sse").chunks(7) {
        out.extend(transcoder.push(piece));
    }
    out.extend(transcoder.end());
    let mut parser = sse::Parser::new();
    let (mut text, mut arguments, mut finish) = (String::new(), String::new(), None);
    parser
        .feed(&out, &mut |event| {
            let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else { return };
            let delta = &chunk["choices"][0]["delta"];
            text.push_str(delta["content"].as_str().unwrap_or_default());
            arguments.push_str(delta["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or_default());
            finish = chunk["choices"][0]["finish_reason"].as_str().map(str::to_string).or(finish.take());
        })
        .unwrap();
    assert_eq!(text, "I'll check the current weather in Paris for you.");
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), serde_json::json!({"location": "Paris"}));
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert!(out.ends_with(b"data: [DONE]\n\n"));
}

#[test]
fn a_model_routes_to_the_backend_whose_glob_matches() {
    let config = Config::from_json(CONFIG).unwrap();
    assert_eq!(config.route("gemini-2.5-flash").unwrap().name, "gemini");
    assert_eq!(config.route(config.resolve_alias("sonnet").unwrap()).unwrap().name, "anthropic");
    assert_eq!(config.route("gpt-5").unwrap_err().status, 404);
}
