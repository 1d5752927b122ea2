//! A request body through `proxy::plan` as each client dialect, routed to every kind of backend,
//! for answers and token counts: every request parser and every `from_ir` runs. An error is fine;
//! a planned upstream call has a JSON body, an http(s) URL and headers that cannot be split, and
//! a local answer is JSON or well-formed SSE.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::proxy::{plan, Inbound, Operation, Plan};
use llmproxy_fuzz::{assert_json, assert_json_text, written_events, DIALECTS, SECRET};
use serde_json::Value;
use std::sync::OnceLock;

const CONFIG: &str = r#"{
  "backends": [
    {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"],
     "headers": {"OpenAI-Organization": "org-1"}},
    {"name": "responses", "kind": "openresponses", "api_key_env": "OPENAI_API_KEY", "models": ["o[0-9]*"]},
    {"name": "vertex", "kind": "vertex", "project": "p", "location": "us-east5",
     "service_account_env": "SA", "models": ["claude-*@*", "vgemini-*"]},
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
    {"name": "gemini", "kind": "gemini", "api_key_env": "GEMINI_API_KEY", "models": ["gemini-*"]},
    {"name": "mock", "kind": "mock", "models": ["mock-*"]}
  ],
  "aliases": {"fast": "gpt-4o-mini", "smart": "claude-sonnet-4-5", "echo": "mock-echo", "loop": "loop"}
}"#;

/// One model per backend (Vertex twice: Claude and Gemini), and an alias.
const MODELS: [&str; 8] = [
    "gpt-4o",
    "o3",
    "claude-sonnet-4-5@20250929",
    "vgemini-2.5-pro",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "mock-1",
    "fast",
];

fn config() -> &'static Config {
    static CONFIG_ONCE: OnceLock<Config> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| Config::from_json(CONFIG).expect("the fuzz config is valid"))
}

fn run(dialect: Dialect, operation: Operation, model: Option<&str>, stream: Option<bool>, body: &[u8]) {
    let header = |name: &str| match name {
        "anthropic-version" => Some("2023-06-01".to_string()),
        "anthropic-beta" => Some("tools-2024-04-04".to_string()),
        _ => None,
    };
    let secret = |_: &str| Some(SECRET.to_string());
    let inbound = Inbound {
        dialect,
        operation,
        model,
        stream,
        body,
        query: "beta=true&key=client-key",
        header: &header,
        secret: &secret,
        now: 1_700_000_000,
    };
    match plan(config(), &inbound) {
        Err(error) => assert!((400..600).contains(&error.status), "an error status of {}", error.status),
        Ok(Plan::Upstream(call)) => {
            assert_json_text(&call.body, "the upstream request body");
            let url =
                url::Url::parse(&call.url).unwrap_or_else(|e| panic!("unparsable upstream URL {:?}: {e}", call.url));
            assert!(matches!(url.scheme(), "https" | "http") && url.fragment().is_none(), "{url}");
            assert!(!call.url.contains("client-key"), "the client's key went upstream: {}", call.url);
            for (name, value) in &call.headers {
                assert!(
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
                    "header name {name:?}"
                );
                assert!(!value.contains(['\r', '\n', '\0']), "header {name}: {value:?}");
            }
        }
        Ok(Plan::Local(answer)) => {
            if answer.stream {
                written_events(&answer.body);
            } else {
                assert_json(&answer.body, "a local answer");
            }
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_slice(body).ok();
    // Gemini clients' stream flag is in the URL; the body's length decides it here.
    let url_stream = Some(body.len() % 2 == 0);
    for dialect in DIALECTS {
        let operations: &[Operation] = match dialect {
            Dialect::Anthropic | Dialect::Gemini => &[Operation::Generate, Operation::CountTokens],
            _ => &[Operation::Generate],
        };
        for &operation in operations {
            // The body as it came, with the model it names.
            run(dialect, operation, None, None, body);
            let Some(fields) = &parsed else { continue };
            for model in MODELS {
                if dialect == Dialect::Gemini {
                    // Gemini names the model in the URL.
                    run(dialect, operation, Some(model), url_stream, body);
                } else {
                    let mut fields = fields.clone();
                    fields.insert("model".into(), model.into());
                    run(dialect, operation, None, None, &serde_json::to_vec(&fields).unwrap());
                }
            }
        }
    }
    // Vertex-shaped Claude paths name the model in the URL too.
    if parsed.is_some() {
        run(Dialect::Anthropic, Operation::Generate, Some("claude-sonnet-4-5@20250929"), Some(true), body);
        run(Dialect::Anthropic, Operation::Generate, Some("claude-sonnet-4-5"), Some(false), body);
    }
});
