//! A request body through `proxy::plan` as each client dialect, routed to every kind of backend
//! (and along a route of several), for answers and token counts, metered or not, with or without
//! an issued key's policy; every target of the chain is attempted: every request parser and every
//! `from_ir` runs. An error is fine; a planned upstream call has a JSON body, an http(s) URL and
//! headers that cannot be split, a local answer is JSON or well-formed SSE, and a key's policy is
//! never bypassed. A body whose model comes first, as agents write it (which a request every target
//! translates is read into the IR at once for), is made into the same calls and the same errors as
//! the same body with its model after its other fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::codec::Operation;
use llmproxy::config::{BackendKind, Config};
use llmproxy::dialect::Dialect;
use llmproxy::error::ProxyError;
use llmproxy::keys::KeyPolicy;
use llmproxy::proxy::{plan, Attempt, Inbound};
use llmproxy_fuzz::{assert_json, assert_json_text, written_events, Rng, DIALECTS, SECRET};
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
    {"name": "mock", "kind": "mock", "models": ["mock-*"]},
    {"name": "bedrock", "kind": "bedrock", "region": "us-east-1", "models": ["anthropic.claude-*", "amazon.*"]},
    {"name": "spare", "kind": "openai", "base_url": "http://localhost:8080/v1",
     "api_key_env": ["SPARE_KEY_1", "SPARE_KEY_2"], "models": ["spare-*"]}
  ],
  "aliases": {"fast": "gpt-4o-mini", "smart": "claude-sonnet-4-5", "echo": "mock-echo", "loop": "loop"},
  "routes": {
    "everywhere": {"balance": true, "targets": [
      {"backend": "anthropic", "model": "claude-sonnet-4-5", "weight": 3},
      {"backend": "openai", "model": "gpt-4o"},
      {"backend": "spare"},
      {"backend": "gemini", "model": "gemini-2.5-flash"},
      {"backend": "vertex", "model": "claude-sonnet-4-5@20250929"},
      {"backend": "responses", "model": "o3"},
      {"backend": "mock", "model": "mock-1"}
    ]}
  }
}"#;

/// One model per backend (Vertex and Bedrock twice: Claude and their own), an alias and a route.
const MODELS: [&str; 11] = [
    "gpt-4o",
    "o3",
    "claude-sonnet-4-5@20250929",
    "vgemini-2.5-pro",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
    "mock-1",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "amazon.nova-pro-v1:0",
    "fast",
    "everywhere",
];

fn config() -> &'static Config {
    static CONFIG_ONCE: OnceLock<Config> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| Config::from_json(CONFIG).expect("the fuzz config is valid"))
}

/// The policies of the issued keys a request may come with.
fn policies() -> &'static [KeyPolicy; 2] {
    static POLICIES: OnceLock<[KeyPolicy; 2]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let policy = |json| KeyPolicy::from_json(json).expect("the fuzz policies are valid");
        [
            policy(serde_json::json!({"name": "gpt", "models": ["gpt-*", "fast"]})),
            policy(serde_json::json!({"name": "routed", "models": ["everywhere", "claude-*@*"], "rpm": 5})),
        ]
    })
}

/// How a request is made beyond its body: drawn from the input.
struct Setting<'a> {
    random: u64,
    policy: Option<&'a KeyPolicy>,
    metered: bool,
}

/// What was made of a request: its refusal, or what each attempt of its chain was, with a body's
/// fields in one order and an error without where in the body it was found.
type Outcome = Vec<String>;

fn error_text(error: &ProxyError) -> String {
    let message = error.message.split(" at line ").next().unwrap_or_default();
    format!("{} {message}", error.status)
}

fn run(
    dialect: Dialect,
    operation: Operation,
    model: Option<&str>,
    stream: Option<bool>,
    body: &[u8],
    setting: &Setting,
) -> Outcome {
    let header = |name: &str| match name {
        "anthropic-version" => Some("2023-06-01".to_string()),
        "anthropic-beta" => Some("tools-2024-04-04".to_string()),
        _ => None,
    };
    // Every secret a backend names holds the test key, but for a second key of one backend, which
    // is not set.
    let secret = |name: &str| (name != "SPARE_KEY_2").then(|| SECRET.to_string());
    let inbound = Inbound {
        dialect,
        operation,
        model,
        stream,
        framing: Default::default(),
        body,
        query: "beta=true&key=client-key",
        header: &header,
        secret: &secret,
        own_key: None,
        now: 1_700_000_000,
        random: setting.random,
        policy: setting.policy,
        metered: setting.metered,
    };
    let plan = match plan(config(), &inbound) {
        Err(error) => {
            assert!((400..600).contains(&error.status), "an error status of {}", error.status);
            return vec![error_text(&error)];
        }
        Ok(plan) => plan,
    };
    let mut outcome = Outcome::new();
    if let Some(policy) = setting.policy {
        assert!(
            policy.allows_model(plan.requested(), plan.model()),
            "key `{}` may not use `{}` (`{}`), yet the request was planned",
            policy.name,
            plan.requested(),
            plan.model()
        );
    }
    assert!(!plan.chain.targets.is_empty(), "a chain without targets");
    if let Err(error) = plan.estimate(4096) {
        assert!((400..600).contains(&error.status), "an estimate's error status of {}", error.status);
    }
    for (index, target) in plan.chain.targets.iter().enumerate() {
        // The key the shell would pick: one of the backend's secrets, in turn.
        let names = &target.backend.api_key_env;
        let key = (!names.is_empty()).then(|| names[setting.random as usize % names.len()].as_str());
        match plan.attempt(index, key) {
            Err(error) => {
                assert!((400..600).contains(&error.status), "an error status of {}", error.status);
                outcome.push(error_text(&error));
            }
            Ok(Attempt::Upstream(call)) => {
                assert_json_text(&call.body, "the upstream request body");
                let sent =
                    serde_json::from_slice::<Value>(&call.body).map_or_else(|_| String::new(), |v| v.to_string());
                let (url, headers, exchange) = (&call.url, &call.headers, &call.exchange);
                outcome.push(format!("{url} {headers:?} {sent} {exchange:?} {:?} {}", call.dropped, call.stream));
                let url = url::Url::parse(&call.url)
                    .unwrap_or_else(|e| panic!("unparsable upstream URL {:?}: {e}", call.url));
                assert!(matches!(url.scheme(), "https" | "http") && url.fragment().is_none(), "{url}");
                assert!(!call.url.contains("client-key"), "the client's key went upstream: {}", call.url);
                for (name, value) in &call.headers {
                    assert!(
                        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
                        "header name {name:?}"
                    );
                    assert!(!value.contains(['\r', '\n', '\0']), "header {name}: {value:?}");
                }
                assert_eq!(call.backend, target.backend.name, "the call went to another backend than its target");
                // The key sent is redacted; a backend that signs its requests (Bedrock with AWS
                // keys) has its signing secrets redacted with no key sent.
                let signs = target.backend.kind == BackendKind::Bedrock && key.is_none();
                assert_eq!(call.secrets.is_empty(), key.is_none() && !signs, "the key sent is not the one to redact");
                // The usage a stream reports only when asked is asked for only when it is wanted,
                // and only for the answer streamed.
                if call.exchange.unasked_usage {
                    assert!(setting.metered && call.stream, "usage asked for a request not metered or streamed");
                    // Only the field asked for is read: the rest is the client's, unread (a lone
                    // surrogate's escape, which no decoder takes, goes on as it came).
                    #[derive(serde::Deserialize)]
                    struct Sent {
                        stream_options: Value,
                    }
                    let sent: Sent = serde_json::from_slice(&call.body).expect("the body is JSON");
                    assert_eq!(sent.stream_options["include_usage"], true, "{:?}", sent.stream_options);
                }
            }
            Ok(Attempt::Local(answer)) => {
                if answer.stream {
                    written_events(&answer.body);
                } else {
                    assert_json(&answer.body, "a local answer");
                }
                outcome.push(String::from_utf8_lossy(&answer.body).into_owned());
            }
        }
    }
    outcome
}

/// The JSON object `fields` with `model` as its first field.
fn with_model_first(fields: &serde_json::Map<String, Value>, model: &str) -> Vec<u8> {
    let mut rest = fields.clone();
    rest.remove("model");
    let rest = Value::Object(rest).to_string();
    let model = Value::from(model);
    match rest.as_str() {
        "{}" => format!("{{\"model\":{model}}}"),
        _ => format!("{{\"model\":{model},{}", &rest[1..]),
    }
    .into_bytes()
}

fuzz_target!(|body: &[u8]| {
    let mut rng = Rng::new(body);
    let random = rng.next();
    let policy = match rng.below(4) {
        0 => Some(&policies()[0]),
        1 => Some(&policies()[1]),
        _ => None,
    };
    let setting = Setting { random, policy, metered: rng.below(2) == 0 };
    let setting = &setting;
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
            run(dialect, operation, None, None, body, setting);
            let Some(fields) = &parsed else { continue };
            for model in MODELS {
                if matches!(dialect, Dialect::Gemini | Dialect::BedrockConverse) {
                    // Gemini and Converse name the model in the URL.
                    run(dialect, operation, Some(model), url_stream, body, setting);
                } else {
                    let mut fields = fields.clone();
                    fields.insert("model".into(), model.into());
                    // Its fields in their sorted order, the model among them.
                    let sorted = run(dialect, operation, None, None, &serde_json::to_vec(&fields).unwrap(), setting);
                    let first = run(dialect, operation, None, None, &with_model_first(&fields, model), setting);
                    assert_eq!(first, sorted, "{dialect:?} {model}: the model first made another request of it");
                }
            }
        }
    }
    // Vertex-shaped Claude paths name the model in the URL too.
    if parsed.is_some() {
        run(Dialect::Anthropic, Operation::Generate, Some("claude-sonnet-4-5@20250929"), Some(true), body, setting);
        run(Dialect::Anthropic, Operation::Generate, Some("claude-sonnet-4-5"), Some(false), body, setting);
    }
});
