//! What `plan` makes of client requests: where they go, with which key and body, and what it
//! refuses before anything is sent.

use llmproxy::backend;
use llmproxy::codec::Operation;
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::error::ProxyError;
use llmproxy::proxy::{plan, Inbound, Plan, UpstreamCall};
use serde_json::{json, Value};

const CONFIG: &str = r#"{"backends": [
    {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"]},
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
    {"name": "mock", "kind": "mock", "models": ["mock-*"]}], "aliases": {"fast": "gpt-4o-mini"}}"#;

fn plan_for(dialect: Dialect, body: Value, secrets: &[(&str, &str)]) -> Result<Plan, ProxyError> {
    let config = Config::from_json(CONFIG).unwrap();
    let body = body.to_string();
    let secret = |name: &str| secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
    let header = |_: &str| None;
    let inbound = Inbound {
        dialect,
        operation: Operation::Generate,
        model: None,
        stream: None,
        body: body.as_bytes(),
        query: "",
        header: &header,
        secret: &secret,
        now: 1,
    };
    plan(&config, &inbound)
}

fn upstream(plan: Plan) -> UpstreamCall {
    match plan {
        Plan::Upstream(call) => call,
        Plan::Local(_) => panic!("expected an upstream call"),
    }
}

#[test]
fn a_model_in_the_path_never_leaves_its_path_segment() {
    let hostile = "/v1beta/models/x%2F..%2F..%2F..%2Fv1%2Fprojects%2FOTHER%2FcustomJobs%23:generateContent";
    let endpoint = Dialect::endpoint(hostile).unwrap().call;
    for kind in [
        r#""kind": "gemini", "api_key_env": "K""#,
        r#""kind": "vertex", "project": "p", "location": "us-east5", "service_account_env": "SA""#,
    ] {
        let config =
            Config::from_json(&format!(r#"{{"backends": [{{"name": "b", {kind}, "models": ["**"]}}]}}"#)).unwrap();
        let (secret, header) = (|_: &str| Some("k".to_string()), |_: &str| None);
        let inbound = Inbound {
            dialect: Dialect::Gemini,
            operation: endpoint.operation,
            model: endpoint.model.as_deref(),
            stream: endpoint.stream,
            body: b"{\"contents\": []}",
            query: "",
            header: &header,
            secret: &secret,
            now: 1,
        };
        let error = plan(&config, &inbound).err().expect("refused, never sent");
        assert_eq!((error.status, error.param.as_deref()), (400, Some("model")), "{kind}");
        let encoded = backend::url(&config.backends[0], Operation::Generate, false, "a:b@1").unwrap();
        assert!(encoded.ends_with("/models/a%3Ab@1:generateContent"), "{encoded}");
    }
}

#[test]
fn a_body_that_is_not_utf8_is_refused_not_forwarded() {
    let config = Config::from_json(CONFIG).unwrap();
    let (secret, header) = (|_: &str| Some("k".to_string()), |_: &str| None);
    let body = b"{\"model\": \"gpt-4o\", \"messages\": [], \"user\": \"\x9b\xd7\"}";
    let inbound = Inbound {
        dialect: Dialect::OpenAiChat,
        operation: Operation::Generate,
        model: None,
        stream: None,
        body,
        query: "",
        header: &header,
        secret: &secret,
        now: 1,
    };
    let error = plan(&config, &inbound).err().expect("refused, never sent");
    assert_eq!(error.status, 400);
}

#[test]
fn a_missing_backend_secret_is_named_but_never_invented() {
    let error = plan_for(Dialect::OpenAiChat, json!({"model": "claude-x", "messages": []}), &[])
        .err()
        .expect("no key, no call");
    assert_eq!(error.status, 500);
    assert!(error.message.contains("`ANTHROPIC_API_KEY`"));
}

#[test]
fn aliases_are_rewritten_on_a_passthrough_and_nothing_else_changes() {
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "zeta": {"a": [1, 2.5]}});
    let call = upstream(plan_for(Dialect::OpenAiChat, body.clone(), &[("OPENAI_API_KEY", "k")]).unwrap());
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent, json!({"model": "gpt-4o-mini", "messages": body["messages"], "zeta": body["zeta"]}));
    assert_eq!(call.url, "https://api.openai.com/v1/chat/completions");
    assert!(call.headers.contains(&("authorization".into(), "Bearer k".into())));
}
