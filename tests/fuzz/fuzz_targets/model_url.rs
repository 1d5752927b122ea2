//! A model name is only ever one URL path segment. Arbitrary strings as the model given to the
//! `url` of Gemini and Vertex backends, and inside the client paths `Dialect::endpoint` reads
//! (and as a whole path), whose model then goes through `plan` and its attempt: whenever a URL
//! comes out,
//! it has the backend's fixed path, then exactly one segment holding the model (decoding back to
//! it, never `.` or `..`, never holding `/`, `?` or `#`), the query only `alt=sse` when streaming,
//! and no fragment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::backend;
use llmproxy::codec::Operation;
use llmproxy::config::{Backend, Config};
use llmproxy::dialect::Dialect;
use llmproxy::proxy::{plan, Attempt, Inbound};
use llmproxy::vertex::Publisher;
use std::sync::OnceLock;

const GEMINI: &str = r#"{"backends": [{"name": "g", "kind": "gemini", "api_key_env": "K", "models": ["**"]}]}"#;
const VERTEX: &str = r#"{"backends": [{"name": "v", "kind": "vertex", "project": "proj", "location": "us-east5",
    "service_account_env": "SA", "models": ["**"]}]}"#;

fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| [Config::from_json(GEMINI).unwrap(), Config::from_json(VERTEX).unwrap()])
}

/// Checks `url`, made for `model`, against the fixed path a backend puts a model in.
fn check(backend: &Backend, operation: Operation, stream: bool, model: &str, url: &str) {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("unparsable URL {url:?}: {e}"));
    assert_eq!(parsed.fragment(), None, "{url}");
    let vertex_claude = backend.vertex.is_some() && Publisher::of(model) == Publisher::Anthropic;
    // Gemini's streaming method takes `alt=sse`; Claude's on Vertex has a method of its own.
    let alt_sse = stream && operation == Operation::Generate && !vertex_claude;
    assert_eq!(parsed.query(), alt_sse.then_some("alt=sse"), "{url}");
    let (prefix, method, in_url): (&[&str], &str, &str) = match (backend.vertex.is_some(), vertex_claude, operation) {
        (false, _, Operation::CountTokens) => (&["v1beta", "models"], "countTokens", model),
        (false, _, Operation::Generate) => {
            (&["v1beta", "models"], if stream { "streamGenerateContent" } else { "generateContent" }, model)
        }
        (true, true, Operation::CountTokens) => (VERTEX_ANTHROPIC, "rawPredict", "count-tokens"),
        (true, true, Operation::Generate) => {
            (VERTEX_ANTHROPIC, if stream { "streamRawPredict" } else { "rawPredict" }, model)
        }
        (true, false, Operation::CountTokens) => (VERTEX_GOOGLE, "countTokens", model),
        (true, false, Operation::Generate) => {
            (VERTEX_GOOGLE, if stream { "streamGenerateContent" } else { "generateContent" }, model)
        }
    };
    let segments: Vec<&str> = parsed.path_segments().expect("an http URL has a path").collect();
    assert_eq!(segments.len(), prefix.len() + 1, "not one segment for the model: {url}");
    assert_eq!(&segments[..prefix.len()], prefix, "{url}");
    let last = segments[prefix.len()];
    let encoded = last.strip_suffix(&format!(":{method}")).unwrap_or_else(|| panic!("no `:{method}` in {url}"));
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8().expect("UTF-8 model");
    assert!(decoded != "." && decoded != "..", "a dot segment: {url}");
    assert!(!decoded.contains(['/', '?', '#']), "the model leaves its segment: {url}");
    assert_eq!(decoded, in_url, "the URL names another model: {url}");
}

const VERTEX_ANTHROPIC: &[&str] =
    &["v1", "projects", "proj", "locations", "us-east5", "publishers", "anthropic", "models"];
const VERTEX_GOOGLE: &[&str] = &["v1", "projects", "proj", "locations", "us-east5", "publishers", "google", "models"];

fn plan_path(path: &str) {
    let Some(endpoint) = Dialect::endpoint(path) else { return };
    let call = &endpoint.call;
    let body: &[u8] = match endpoint.dialect {
        Dialect::Anthropic => {
            br#"{"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}"#
        }
        Dialect::BedrockConverse => br#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}"#,
        _ => br#"{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}"#,
    };
    for config in configs() {
        let (header, secret) = (|_: &str| None, |_: &str| Some("key-0123456789".to_string()));
        let inbound = Inbound {
            dialect: endpoint.dialect,
            operation: call.operation,
            model: call.model.as_deref(),
            stream: call.stream,
            framing: call.framing,
            body,
            query: "alt=sse",
            header: &header,
            secret: &secret,
            own_key: None,
            now: 0,
            random: 0,
            policy: None,
            metered: false,
        };
        let Ok(plan) = plan(config, &inbound) else { continue };
        let backend = &config.backends[0];
        let key = backend.api_key_env.first().map(String::as_str);
        if let Ok(Attempt::Upstream(upstream)) = plan.attempt(0, key) {
            let model = call.model.as_deref().unwrap_or("claude-x");
            check(backend, call.operation, call.stream.unwrap_or(false), model, &upstream.url);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let model = String::from_utf8_lossy(data);
    for config in configs() {
        let backend = &config.backends[0];
        for (operation, stream) in
            [(Operation::Generate, false), (Operation::Generate, true), (Operation::CountTokens, false)]
        {
            let upstream = backend::of(backend.kind).expect("a remote backend");
            if let Ok(url) = upstream.url(backend, operation, stream, &model) {
                check(backend, operation, stream, &model, &url);
            }
        }
    }
    plan_path(&model);
    plan_path(&format!("/v1beta/models/{model}:streamGenerateContent"));
    plan_path(&format!("/v1/models/{model}:countTokens"));
    plan_path(&format!("/v1/projects/p/locations/l/publishers/google/models/{model}:generateContent"));
    plan_path(&format!("/v1beta1/publishers/anthropic/models/{model}:rawPredict"));
    plan_path(&format!("/model/{model}/converse-stream"));
});
