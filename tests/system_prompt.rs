//! A route's system prompt rewrite, as `plan` makes it for every client dialect: on the client's
//! own JSON when the backend speaks it (every other field kept), and through the IR otherwise.

use llmproxy::codec::Operation;
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::error::{ErrorKind, ProxyError};
use llmproxy::proxy::{plan, Attempt, Inbound, UpstreamCall};
use serde_json::{json, Value};

/// Routes `chat`, `messages`, `responses` and `gemini` each to a backend of that dialect, and
/// `*-x` to a Chat backend, all with the same rewrite; `plain` has none.
fn config() -> Config {
    let rewrite = r#"{"replace": [{"find": "Claude", "replace": "Ada"}, {"find": "secret", "replace": ""}],
                      "append": "Answer in French."}"#;
    let route = |name: &str, backend: &str| {
        format!(r#""{name}": {{"targets": [{{"backend": "{backend}"}}], "system_prompt": {rewrite}}}"#)
    };
    let routes = [
        route("chat", "openai"),
        route("messages", "anthropic"),
        route("responses", "responses"),
        route("gemini", "gemini"),
        route("chat-x", "openai"),
        route("messages-x", "openai"),
        route("responses-x", "openai"),
        route("gemini-x", "openai"),
        route("converse-x", "openai"),
    ]
    .join(",");
    // The backends of other dialects serve their routes only.
    Config::from_json(&format!(
        r#"{{"backends": [
            {{"name": "openai", "kind": "openai", "models": ["plain"]}},
            {{"name": "anthropic", "kind": "anthropic", "models": ["none"]}},
            {{"name": "responses", "kind": "openresponses", "models": ["none"]}},
            {{"name": "gemini", "kind": "gemini", "models": ["none"]}}],
          "routes": {{{routes}}}}}"#
    ))
    .unwrap()
}

/// The call `config` plans for a client request; `model` is a Gemini URL's.
fn planned(config: &Config, dialect: Dialect, model: Option<&str>, body: &Value) -> Result<UpstreamCall, ProxyError> {
    let body = body.to_string();
    let (header, secret) = (|_: &str| None, |_: &str| None);
    let inbound = Inbound {
        dialect,
        operation: Operation::Generate,
        model,
        stream: model.map(|_| false),
        framing: Default::default(),
        body: body.as_bytes(),
        query: "",
        header: &header,
        secret: &secret,
        own_key: None,
        now: 1,
        random: 1,
        policy: None,
        metered: false,
    };
    match plan(config, &inbound)?.attempt(0, None)? {
        Attempt::Upstream(call) => Ok(call),
        Attempt::Local(_) => panic!("an upstream call"),
    }
}

/// The body sent upstream for a client request.
fn sent(dialect: Dialect, model: Option<&str>, body: &Value) -> Value {
    serde_json::from_slice(&planned(&config(), dialect, model, body).unwrap().body).unwrap()
}

const HI: &str = "hi Claude";

#[test]
fn a_chat_passthrough_rewrites_system_and_developer_messages_and_appends_to_the_leading_one() {
    let body = json!({"model": "chat", "x-vendor": {"kept": [1]}, "messages": [
        {"role": "system", "content": "You are Claude."},
        {"role": "developer", "content": [{"type": "text", "text": "Keep the secret."}]},
        {"role": "user", "content": HI},
        {"role": "system", "content": "Claude again"}]});
    let answer = sent(Dialect::OpenAiChat, None, &body);
    assert_eq!(answer["x-vendor"], body["x-vendor"]);
    assert_eq!(answer["messages"][0]["content"], "You are Ada.");
    assert_eq!(
        answer["messages"][1]["content"],
        json!([{"type": "text", "text": "Keep the ."}, {"type": "text", "text": "Answer in French."}])
    );
    assert_eq!(answer["messages"][2]["content"], HI, "a user's text is not an instruction");
    assert_eq!(answer["messages"][3]["content"], "Ada again");
    let none =
        sent(Dialect::OpenAiChat, None, &json!({"model": "chat", "messages": [{"role": "user", "content": HI}]}));
    assert_eq!(none["messages"][0], json!({"role": "system", "content": "Answer in French."}), "it becomes one");
}

#[test]
fn a_messages_passthrough_rewrites_system_as_a_string_or_as_blocks() {
    let base = json!({"model": "messages", "max_tokens": 5, "messages": [{"role": "user", "content": HI}]});
    let with = |system: Value| {
        let mut body = base.clone();
        body["system"] = system;
        sent(Dialect::Anthropic, None, &body)
    };
    assert_eq!(with(json!("You are Claude."))["system"], "You are Ada.\n\nAnswer in French.");
    let blocks = json!([{"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}}]);
    assert_eq!(
        with(blocks)["system"],
        json!([{"type": "text", "text": "You are Ada.", "cache_control": {"type": "ephemeral"}},
               {"type": "text", "text": "Answer in French."}])
    );
    let none = sent(Dialect::Anthropic, None, &base);
    assert_eq!(
        (none["system"].as_str(), none["messages"][0]["content"].as_str()),
        (Some("Answer in French."), Some(HI))
    );
}

#[test]
fn a_responses_passthrough_rewrites_instructions_and_developer_items() {
    let body = json!({"model": "responses", "instructions": "You are Claude.", "store": false, "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "secret Claude"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": HI}]}]});
    let answer = sent(Dialect::OpenAiResponses, None, &body);
    assert_eq!(answer["instructions"], "You are Ada.\n\nAnswer in French.");
    assert_eq!(answer["input"][0]["content"][0]["text"], " Ada");
    assert_eq!(answer["input"][1]["content"][0]["text"], HI);
    assert_eq!(answer["store"], false);
    let none = sent(Dialect::OpenAiResponses, None, &json!({"model": "responses", "input": HI}));
    assert_eq!((none["instructions"].as_str(), none["input"].as_str()), (Some("Answer in French."), Some(HI)));
}

#[test]
fn a_gemini_passthrough_rewrites_the_system_instructions_parts() {
    let contents = json!([{"role": "user", "parts": [{"text": HI}]}]);
    let body = json!({"contents": contents, "systemInstruction": {"parts": [{"text": "You are Claude."}]}});
    let answer = sent(Dialect::Gemini, Some("gemini"), &body);
    assert_eq!(
        answer["systemInstruction"],
        json!({"parts": [{"text": "You are Ada."}, {"text": "Answer in French."}]})
    );
    assert_eq!(answer["contents"], contents);
    let none = sent(Dialect::Gemini, Some("gemini"), &json!({"contents": contents}));
    assert_eq!(none["systemInstruction"], json!({"parts": [{"text": "Answer in French."}]}));
}

#[test]
fn a_translated_request_carries_the_rewritten_prompt_from_every_dialect() {
    let user = json!([{"role": "user", "content": HI}]);
    let requests = [
        (
            Dialect::OpenAiChat,
            None,
            json!({"model": "chat-x", "messages": [{"role": "system", "content": "You are Claude."}, user[0]]}),
        ),
        (
            Dialect::Anthropic,
            None,
            json!({"model": "messages-x", "max_tokens": 5, "system": "You are Claude.", "messages": user}),
        ),
        (
            Dialect::OpenAiResponses,
            None,
            json!({"model": "responses-x", "instructions": "You are Claude.", "input": HI}),
        ),
        (
            Dialect::Gemini,
            Some("gemini-x"),
            json!({"systemInstruction": {"parts": [{"text": "You are Claude."}]},
            "contents": [{"role": "user", "parts": [{"text": HI}]}]}),
        ),
        (
            Dialect::BedrockConverse,
            Some("converse-x"),
            json!({"system": [{"text": "You are Claude."}], "messages": [{"role": "user", "content": [{"text": HI}]}]}),
        ),
    ];
    for (dialect, model, body) in requests {
        let answer = sent(dialect, model, &body);
        let system = answer["messages"][0].clone();
        assert_eq!(system["role"], "system", "{dialect:?}: {answer}");
        let text = system["content"].as_str().unwrap_or_default().to_string();
        assert!(text.starts_with("You are Ada.") && text.ends_with("Answer in French."), "{dialect:?}: {text:?}");
        assert_eq!(answer["messages"][1]["content"], HI, "{dialect:?}");
    }
}

#[test]
fn a_model_without_a_rewrite_goes_as_it_came() {
    let body = json!({"model": "plain", "messages": [{"role": "system", "content": "You are Claude."}]});
    assert_eq!(sent(Dialect::OpenAiChat, None, &body), body);
}

#[test]
fn a_rewrite_past_its_bound_is_a_413_before_anything_is_sent() {
    let body = json!({"model": "chat", "messages": [{"role": "system", "content": "Claude ".repeat(1000)}]});
    let config = Config::from_json(&format!(
        r#"{{"backends": [{{"name": "openai", "kind": "openai", "models": ["chat"]}}],
            "routes": {{"chat": {{"targets": [{{"backend": "openai"}}],
              "system_prompt": {{"replace": [{{"find": "Claude", "replace": "{}"}}]}}}}}}}}"#,
        "y".repeat(2000)
    ))
    .unwrap();
    let error = planned(&config, Dialect::OpenAiChat, None, &body).err().expect("refused");
    assert_eq!((error.status, error.kind), (413, ErrorKind::PayloadTooLarge), "{}", error.message);
}
