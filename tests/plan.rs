//! What `plan` makes of client requests: the chain of targets they go to, and for each attempt the
//! URL, key and body sent, or what is refused before anything is sent.

use llmproxy::backend;
use llmproxy::codec::{Framing, Operation};
use llmproxy::config::Config;
use llmproxy::dialect::Dialect;
use llmproxy::error::{ErrorKind, ProxyError};
use llmproxy::keys::KeyPolicy;
use llmproxy::proxy::{plan, Attempt, Inbound, Plan, UpstreamCall};
use serde_json::{json, Value};

const CONFIG: &str = r#"{"backends": [
    {"name": "openai", "kind": "openai", "api_key_env": ["OPENAI_API_KEY", "OPENAI_KEY_2"], "models": ["gpt-*"]},
    {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
    {"name": "mock", "kind": "mock", "models": ["mock-*"]}],
  "aliases": {"fast": "gpt-4o-mini", "smart": "claude-sonnet-4-5"},
  "routes": {"claude-sonnet-4-5": {"targets": [
    {"backend": "anthropic"}, {"backend": "openai", "model": "gpt-5"}, {"backend": "mock", "model": "mock-1"}]}}}"#;

/// A request as the shell would make it, and what attempting the chain's target `index` with the
/// key in secret `key` gives; `model` and `stream` are what the URL says (Gemini paths).
struct Request<'a> {
    dialect: Dialect,
    operation: Operation,
    model: Option<&'a str>,
    stream: Option<bool>,
    body: &'a [u8],
    secrets: &'a [(&'a str, &'a str)],
    policy: Option<&'a KeyPolicy>,
    metered: bool,
    own_key: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn new(dialect: Dialect, body: &'a [u8]) -> Self {
        let operation = Operation::Generate;
        Self {
            dialect,
            operation,
            model: None,
            stream: None,
            body,
            secrets: &[],
            policy: None,
            metered: false,
            own_key: None,
        }
    }

    fn attempt(&self, config: &Config, index: usize, key: Option<&str>) -> Result<Attempt, ProxyError> {
        self.planned(config, |plan| plan.attempt(index, key))?
    }

    /// What `use_plan` makes of the request's plan.
    fn planned<T>(&self, config: &Config, use_plan: impl FnOnce(Plan) -> T) -> Result<T, ProxyError> {
        let secret = |name: &str| self.secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let header = |_: &str| None;
        let inbound = Inbound {
            dialect: self.dialect,
            operation: self.operation,
            model: self.model,
            stream: self.stream,
            framing: Default::default(),
            body: self.body,
            query: "",
            header: &header,
            secret: &secret,
            own_key: self.own_key,
            now: 1,
            random: 7,
            policy: self.policy,
            metered: self.metered,
        };
        Ok(use_plan(plan(config, &inbound)?))
    }
}

fn upstream(attempt: Attempt) -> UpstreamCall {
    match attempt {
        Attempt::Upstream(call) => call,
        Attempt::Local(_) => panic!("expected an upstream call"),
    }
}

fn config() -> Config {
    Config::from_json(CONFIG).unwrap()
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
        let request = Request {
            operation: endpoint.operation,
            model: endpoint.model.as_deref(),
            stream: endpoint.stream,
            secrets: &[("K", "k")],
            ..Request::new(Dialect::Gemini, b"{\"contents\": []}")
        };
        let error = request.attempt(&config, 0, Some("K")).err().expect("refused, never sent");
        assert_eq!((error.status, error.param.as_deref()), (400, Some("model")), "{kind}");
        let encoded = backend::url(&config.backends[0], Operation::Generate, false, "a:b@1").unwrap();
        assert!(encoded.ends_with("/models/a%3Ab@1:generateContent"), "{encoded}");
    }
}

#[test]
fn a_body_that_is_not_utf8_is_refused_not_forwarded() {
    let body = b"{\"model\": \"gpt-4o\", \"messages\": [], \"user\": \"\x9b\xd7\"}";
    let error = Request::new(Dialect::OpenAiChat, body).attempt(&config(), 0, None).err().expect("refused");
    assert_eq!(error.status, 400);
}

#[test]
fn a_missing_backend_secret_is_named_but_never_invented() {
    let body = json!({"model": "claude-x", "messages": []}).to_string();
    let request = Request::new(Dialect::OpenAiChat, body.as_bytes());
    let error = request.attempt(&config(), 0, Some("ANTHROPIC_API_KEY")).err().expect("no key, no call");
    assert_eq!(error.status, 500);
    assert!(error.message.contains("`ANTHROPIC_API_KEY`"));
}

#[test]
fn a_backend_secret_is_sent_without_whitespace_at_its_ends_and_a_blank_one_is_missing() {
    let body = json!({"model": "claude-x", "messages": []}).to_string();
    let padded = Request {
        secrets: &[("ANTHROPIC_API_KEY", " \tsk-ant\r\n")],
        ..Request::new(Dialect::OpenAiChat, body.as_bytes())
    };
    let call = upstream(padded.attempt(&config(), 0, Some("ANTHROPIC_API_KEY")).unwrap());
    assert!(call.headers.contains(&("x-api-key".into(), "sk-ant".into())), "{:?}", call.headers);
    assert_eq!(call.secrets, ["sk-ant"]);
    let blank =
        Request { secrets: &[("ANTHROPIC_API_KEY", " \n")], ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
    let error = blank.attempt(&config(), 0, Some("ANTHROPIC_API_KEY")).err().expect("a blank key is no key");
    assert!(error.message.contains("`ANTHROPIC_API_KEY`"));
}

#[test]
fn a_byok_backend_gets_the_clients_own_key_or_the_client_is_told_to_send_one() {
    let config = Config::from_json(
        r#"{"backends": [
        {"name": "own-openai", "kind": "openai", "byok": true, "models": ["gpt-*"]},
        {"name": "own-claude", "kind": "anthropic", "byok": true, "models": ["claude-*"]}]}"#,
    )
    .unwrap();
    for (model, header, value) in [("gpt-5", "authorization", "Bearer sk-own"), ("claude-x", "x-api-key", "sk-own")] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string();
        let request = Request { own_key: Some("sk-own"), ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
        let call = upstream(request.attempt(&config, 0, None).unwrap());
        assert!(call.headers.contains(&(header.into(), value.into())), "{model}: {:?}", call.headers);
        assert_eq!((call.secrets.as_slice(), call.clients_key), (&["sk-own".to_string()][..], true), "redacted");
        let error = Request::new(Dialect::OpenAiChat, body.as_bytes()).attempt(&config, 0, None).err().unwrap();
        assert_eq!((error.status, error.kind), (401, ErrorKind::Authentication), "{model}");
        assert!(error.message.contains("x-llmproxy-key"), "{}", error.message);
    }
    // A keyed backend never hears the client's own key.
    let body = json!({"model": "gpt-5", "messages": []}).to_string();
    let request = Request {
        own_key: Some("sk-own"),
        secrets: &[("OPENAI_API_KEY", "k")],
        ..Request::new(Dialect::OpenAiChat, body.as_bytes())
    };
    let call = upstream(request.attempt(&self::config(), 0, Some("OPENAI_API_KEY")).unwrap());
    assert!(!format!("{:?}", call.headers).contains("sk-own") && !call.clients_key);
}

#[test]
fn aliases_are_rewritten_on_a_passthrough_and_nothing_else_changes() {
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "zeta": {"a": [1, 2.5]}});
    let text = body.to_string();
    let request = Request { secrets: &[("OPENAI_KEY_2", "k2")], ..Request::new(Dialect::OpenAiChat, text.as_bytes()) };
    let call = upstream(request.attempt(&config(), 0, Some("OPENAI_KEY_2")).unwrap());
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent, json!({"model": "gpt-4o-mini", "messages": body["messages"], "zeta": body["zeta"]}));
    assert_eq!(call.url, "https://api.openai.com/v1/chat/completions");
    assert!(call.headers.contains(&("authorization".into(), "Bearer k2".into())), "the key the shell chose");
    assert_eq!(call.secrets, ["k2"]);
}

#[test]
fn a_route_is_a_chain_of_targets_each_attempt_in_its_own_dialect() {
    let body = json!({"model": "smart", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let request = Request {
        secrets: &[("ANTHROPIC_API_KEY", "a"), ("OPENAI_API_KEY", "o")],
        ..Request::new(Dialect::Anthropic, body.as_bytes())
    };
    let config = config();
    let first = upstream(request.attempt(&config, 0, Some("ANTHROPIC_API_KEY")).unwrap());
    assert_eq!((first.backend.as_str(), first.exchange.backend), ("anthropic", Dialect::Anthropic));
    assert_eq!(serde_json::from_slice::<Value>(&first.body).unwrap()["model"], "claude-sonnet-4-5");
    let second = upstream(request.attempt(&config, 1, Some("OPENAI_API_KEY")).unwrap());
    assert_eq!((second.backend.as_str(), second.exchange.backend), ("openai", Dialect::OpenAiChat));
    let sent: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!((sent["model"].as_str(), sent["max_completion_tokens"].as_u64()), (Some("gpt-5"), Some(9)));
    let Attempt::Local(last) = request.attempt(&config, 2, None).unwrap() else { panic!("the mock answers locally") };
    assert_eq!(last.backend, "mock");
}

#[test]
fn a_key_may_ask_only_for_its_models_and_is_told_so_before_any_routing() {
    let policy = KeyPolicy::from_json(json!({"name": "ci", "models": ["gpt-5*", "fast"]})).unwrap();
    let config = config();
    for (model, allowed) in
        [("gpt-5", true), ("fast", true), ("claude-sonnet-4-5", false), ("no-route-for-this", false)]
    {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string();
        let secrets = [("OPENAI_API_KEY", "k"), ("ANTHROPIC_API_KEY", "k")];
        let request =
            Request { policy: Some(&policy), secrets: &secrets, ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
        match request.attempt(&config, 0, Some("OPENAI_API_KEY")) {
            Err(error) if !allowed => {
                assert_eq!((error.status, error.code.as_deref()), (403, Some("model_not_allowed")));
                assert!(error.message.contains(&format!("`{model}`")), "{}", error.message);
            }
            Err(error) => panic!("{model}: {error:?}"),
            Ok(_) => assert!(allowed, "{model} is not the key's"),
        }
    }
}

#[test]
fn a_metered_chat_stream_asks_for_its_usage_and_keeps_every_other_field() {
    let body = json!({"model": "gpt-5", "stream": true, "stream_options": {"include_obfuscation": false},
        "x-vendor": [1], "messages": [{"role": "user", "content": "hi"}]});
    let body = body.to_string();
    let secrets = [("OPENAI_API_KEY", "k")];
    let request = Request { metered: true, secrets: &secrets, ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
    let call = upstream(request.attempt(&config(), 0, Some("OPENAI_API_KEY")).unwrap());
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["stream_options"], json!({"include_obfuscation": false, "include_usage": true}));
    assert_eq!(sent["x-vendor"], json!([1]));
    assert!(call.exchange.unasked_usage && call.exchange.metered);
    // Asked for by the client already: the body goes as it came.
    let asked = json!({"model": "gpt-5", "stream": true, "stream_options": {"include_usage": true}, "messages": []});
    let asked = asked.to_string();
    let request = Request { metered: true, secrets: &secrets, ..Request::new(Dialect::OpenAiChat, asked.as_bytes()) };
    let call = upstream(request.attempt(&config(), 0, Some("OPENAI_API_KEY")).unwrap());
    assert_eq!((call.body.as_slice(), call.exchange.unasked_usage), (asked.as_bytes(), false));
    // Not metered: untouched.
    let request = Request { secrets: &secrets, ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
    let call = upstream(request.attempt(&config(), 0, Some("OPENAI_API_KEY")).unwrap());
    assert_eq!(call.body, body.as_bytes());
}

#[test]
fn a_request_is_estimated_from_its_prompt_and_output_limit() {
    let config = config();
    let secret = |_: &str| None;
    let header = |_: &str| None;
    let body = json!({"model": "gpt-5", "max_tokens": 100, "messages": [{"role": "user", "content": "x".repeat(400)}]});
    let body = body.to_string();
    let inbound = Inbound {
        dialect: Dialect::OpenAiChat,
        operation: Operation::Generate,
        model: None,
        stream: None,
        framing: Default::default(),
        body: body.as_bytes(),
        query: "",
        header: &header,
        secret: &secret,
        own_key: None,
        now: 1,
        random: 1,
        policy: None,
        metered: true,
    };
    let estimate = plan(&config, &inbound).unwrap().estimate(4096).unwrap();
    assert_eq!(estimate.output_tokens, 100);
    assert!((100..120).contains(&estimate.input_tokens), "{estimate:?}");
    // A tool's definition is prompt too, its description (as written, quotes included) as well.
    let function = json!({"name": "f", "description": "d".repeat(398), "parameters": {"type": "object"}});
    let body = json!({"model": "gpt-5", "messages": [], "tools": [{"type": "function", "function": function}]});
    let body = body.to_string();
    let with_tool = plan(&config, &Inbound { body: body.as_bytes(), ..inbound }).unwrap().estimate(4096).unwrap();
    assert_eq!(with_tool.input_tokens, 1 + 100 + 5, "{with_tool:?}");
    let body = json!({"model": "gpt-5", "messages": []}).to_string();
    let inbound = Inbound { body: body.as_bytes(), ..inbound };
    assert_eq!(plan(&config, &inbound).unwrap().estimate(4096).unwrap().output_tokens, 4096);
}

#[test]
fn the_estimate_s_reading_of_a_request_is_what_its_translated_attempt_sends() {
    let config = config();
    let chat = json!({"model": "claude-sonnet-4-5", "max_tokens": 7, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"b": {}, "a": {}}}}}]})
    .to_string();
    let messages =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 7, "messages": [{"role": "user", "content": "hi"}]})
            .to_string();
    let sent = |plan: &Plan, index: usize| upstream(plan.attempt(index, Some("K")).unwrap()).body;
    // A Chat client's first target translates; an Anthropic client's first does not, its second does.
    for (dialect, body, translated) in [(Dialect::OpenAiChat, &chat, 0), (Dialect::Anthropic, &messages, 1)] {
        let request = Request { secrets: &[("K", "k")], metered: true, ..Request::new(dialect, body.as_bytes()) };
        let unestimated: Vec<_> =
            request.planned(&config, |plan| (0..=translated).map(|i| sent(&plan, i)).collect()).unwrap();
        let (estimated, again): (Vec<_>, _) = request
            .planned(&config, |plan| {
                plan.estimate(4096).unwrap();
                ((0..=translated).map(|i| sent(&plan, i)).collect(), sent(&plan, translated))
            })
            .unwrap();
        assert_eq!(estimated, unestimated, "{dialect:?}");
        // The reading is taken once; the next attempt reads the body again, to the same effect.
        assert_eq!(again, unestimated[translated], "{dialect:?} again");
    }
}

#[test]
fn a_converse_client_names_its_model_in_the_url_and_gets_event_stream_messages() {
    let endpoint = Dialect::endpoint("/model/smart/converse-stream").unwrap();
    assert_eq!(endpoint.dialect, Dialect::BedrockConverse);
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 9}, "guardrailConfig": {"guardrailIdentifier": "g"}})
    .to_string();
    let secret = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "a".to_string());
    let header = |_: &str| None;
    let inbound = Inbound {
        dialect: endpoint.dialect,
        operation: endpoint.call.operation,
        model: endpoint.call.model.as_deref(),
        stream: endpoint.call.stream,
        framing: endpoint.call.framing,
        body: body.as_bytes(),
        query: "",
        header: &header,
        secret: &secret,
        own_key: None,
        now: 1,
        random: 7,
        policy: None,
        metered: false,
    };
    let config = config();
    let plan = plan(&config, &inbound).unwrap();
    let call = upstream(plan.attempt(0, Some("ANTHROPIC_API_KEY")).unwrap());
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "claude-sonnet-4-5", "max_tokens": 9, "stream": true,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    );
    assert_eq!(call.dropped, ["guardrailConfig"]);
    assert_eq!((call.exchange.client_framing, call.exchange.backend), (Framing::EventStreamEvents, Dialect::Anthropic));
    // The mock's answer, framed as the AWS SDK reads a ConverseStream.
    let Attempt::Local(answer) = plan.attempt(2, None).unwrap() else { panic!("the mock answers locally") };
    let mut types = Vec::new();
    llmproxy::eventstream::Decoder::new()
        .feed(&answer.body, &mut |message| types.push(message.header(":event-type").unwrap_or_default().to_string()))
        .unwrap();
    assert_eq!(types.first().map(String::as_str), Some("messageStart"));
    assert_eq!(types[types.len() - 2..], ["messageStop".to_string(), "metadata".to_string()]);
}

#[test]
fn a_claude_body_edited_for_vertex_or_bedrock_keeps_its_tools_as_written() {
    // Both backends edit the Anthropic body (its version, model and stream fields) after it is
    // translated: the tools' schema and description must come out of that edit as they went in.
    let config = Config::from_json(
        r#"{"backends": [
        {"name": "vertex", "kind": "vertex", "project": "p", "location": "us-east5", "service_account_env": "SA", "models": ["claude-*"]},
        {"name": "bedrock", "kind": "bedrock", "region": "us-east-1", "api_key_env": "BK", "models": ["anthropic.claude-*"]}]}"#,
    )
    .unwrap();
    let schema =
        r#"{"type":"object","properties":{"zeta":{"type":"number","maximum":1e400},"alpha":{"type":"string"}}}"#;
    let description = r#""Runs \"cmd\"\n\u00e9 \/ \ud800""#;
    for model in ["claude-x", "anthropic.claude-x"] {
        let body = format!(
            r#"{{"model":"{model}","stream":true,"messages":[{{"role":"user","content":"hi"}}],
            "tools":[{{"type":"function","function":{{"name":"f","description":{description},"parameters":{schema}}}}}]}}"#
        );
        let request = Request { secrets: &[("BK", "bk")], ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
        let key = (model != "claude-x").then_some("BK");
        let call = upstream(request.attempt(&config, 0, key).unwrap());
        let sent = String::from_utf8(call.body).unwrap();
        assert!(sent.contains(&format!(r#""input_schema":{schema}"#)), "{model}: {sent}");
        assert!(sent.contains(&format!(r#""description":{description}"#)), "{model}: {sent}");
        assert!(sent.contains(r#""anthropic_version":"#), "{model}: the body was edited: {sent}");
    }
}

/// `body` (a JSON object) as text with its `model` first, as agents write it, or last, as other
/// clients may: a request whose every target translates is read into the IR at once when its model
/// comes first, and by the peek's pass first otherwise.
fn with_model_at(body: &Value, model: &str, first: bool) -> String {
    let rest = body.to_string();
    let model = json!(model);
    match (first, rest.as_str()) {
        (_, "{}") => format!(r#"{{"model":{model}}}"#),
        (true, _) => format!(r#"{{"model":{model},{}"#, &rest[1..]),
        (false, _) => format!(r#"{},"model":{model}}}"#, &rest[..rest.len() - 1]),
    }
}

/// What attempting the chain's first target of a request makes of it, as text to compare: the
/// call, or the error.
fn first_attempt(request: &Request, config: &Config) -> String {
    match request.attempt(config, 0, Some("K")) {
        Ok(Attempt::Upstream(call)) => format!(
            "{} {:?} {} {:?} {:?} {}",
            call.url,
            call.headers,
            String::from_utf8_lossy(&call.body),
            call.exchange,
            call.dropped,
            call.stream
        ),
        Ok(Attempt::Local(_)) => panic!("expected an upstream call"),
        Err(error) => format!("{error:?}"),
    }
}

#[test]
fn a_request_read_once_is_sent_as_the_peek_would_have_it_sent() {
    let config = Config::from_json(
        r#"{"backends": [
            {"name": "openai", "kind": "openai", "api_key_env": "K", "models": ["gpt-*"]},
            {"name": "anthropic", "kind": "anthropic", "api_key_env": "K", "models": ["claude-*"]}]}"#,
    )
    .unwrap();
    let messages = json!([{"role": "user", "content": "say \"hi\" \u{e9}"}]);
    let cases = [
        (
            Dialect::OpenAiChat,
            "claude-x",
            json!({"messages": messages, "stream": true,
            "stream_options": {"include_usage": true}, "tools": [{"type": "function",
            "function": {"name": "f", "description": "a\u{1}b", "parameters": {"type": "object", "z": 1, "a": 2}}}]}),
        ),
        (Dialect::OpenAiChat, "claude-x", json!({"messages": messages})),
        (
            Dialect::OpenAiResponses,
            "claude-x",
            json!({"input": "hi", "stream": true,
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}),
        ),
        (
            Dialect::Anthropic,
            "gpt-4o",
            json!({"messages": messages, "max_tokens": 9, "stream": false,
            "system": "be brief", "x-vendor": [1]}),
        ),
    ];
    for (dialect, model, body) in cases {
        let (first, last) = (with_model_at(&body, model, true), with_model_at(&body, model, false));
        let secrets = [("K", "k")];
        let sent = |text: &str| {
            first_attempt(&Request { secrets: &secrets, ..Request::new(dialect, text.as_bytes()) }, &config)
        };
        let read_once = sent(&first);
        assert!(!read_once.starts_with("ProxyError"), "{dialect:?}: {read_once}");
        assert_eq!(read_once, sent(&last), "{dialect:?} {body}");
    }
    // A model in the URL is known before the body is read too.
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let secrets = [("K", "k")];
    let gemini = Request {
        model: Some("gpt-4o"),
        stream: Some(true),
        secrets: &secrets,
        ..Request::new(Dialect::Gemini, body.as_bytes())
    };
    let call = upstream(gemini.attempt(&config, 0, Some("K")).unwrap());
    assert!(call.stream && serde_json::from_slice::<Value>(&call.body).unwrap()["stream"] == json!(true));
}

#[test]
fn a_leading_model_lets_nothing_past_that_the_peek_refuses_and_errors_keep_their_order() {
    let config = config();
    let secrets = [("OPENAI_API_KEY", "k")];
    let policy = KeyPolicy::from_json(json!({"name": "ci", "models": ["claude-*"]})).unwrap();
    let error = |text: &str, policy: Option<&KeyPolicy>| {
        let request = Request { secrets: &secrets, policy, ..Request::new(Dialect::Anthropic, text.as_bytes()) };
        request.attempt(&config, 0, Some("OPENAI_API_KEY")).err().map(|error| (error.status, error.message))
    };
    let refused = |text: &str, policy, (status, needle): (u16, &str)| {
        let (got, message) = error(text, policy).unwrap_or_else(|| panic!("{text} was not refused"));
        assert!(got == status && message.contains(needle), "{text}: {got} {message}");
    };
    refused(r#"{"model":"gpt-4o","messages":[],"model":"gpt-5"}"#, None, (400, "duplicate field `model`"));
    refused(
        r#"{"model":"gpt-4o","messages":[],"stream":true,"stream":false}"#,
        None,
        (400, "duplicate field `stream`"),
    );
    refused(r#"{"model":"gpt-4o","messages":[tru"#, None, (400, "not valid JSON"));
    refused(r#"{"model":"gpt-4o","messages":[]} {}"#, None, (400, "not valid JSON"));
    // The body is told of before the model, as when the model comes last.
    refused(r#"{"model":"gpt-4o","messages":[tru"#, Some(&policy), (400, "not valid JSON"));
    refused(r#"{"model":"gpt-4o","messages":[]}"#, Some(&policy), (403, "may not use the model"));
    // A route that rewrites the system prompt edits the body first, keeping the last of a field
    // named twice: the peek reads it before.
    let rewriting = Config::from_json(
        r#"{"backends": [{"name": "anthropic", "kind": "anthropic", "api_key_env": "K", "models": ["claude-*"]}],
          "routes": {"r": {"targets": [{"backend": "anthropic", "model": "claude-x"}],
            "system_prompt": {"append": "Be brief."}}}}"#,
    )
    .unwrap();
    for body in [
        r#"{"model":"r","messages":[{"role":"user","content":"hi"}],"model":"claude-y"}"#,
        r#"{"model":"r","messages":[{"role":"user","content":"hi"}],"stream":true,"stream":false}"#,
    ] {
        let secrets = [("K", "k")];
        let request = Request { secrets: &secrets, ..Request::new(Dialect::OpenAiChat, body.as_bytes()) };
        let error = request.attempt(&rewriting, 0, Some("K")).err().map(|error| (error.status, error.message));
        assert!(
            error.as_ref().is_some_and(|(status, message)| *status == 400 && message.contains("duplicate")),
            "{body}: {error:?}"
        );
    }
    // A model in the URL: the body's own `model` and `stream`, which Gemini's request does not
    // name, are still checked by the peek.
    let gemini = Config::from_json(
        r#"{"backends": [{"name": "openai", "kind": "openai", "api_key_env": "K", "models": ["gpt-*"]}]}"#,
    )
    .unwrap();
    for body in [
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"model":7}"#,
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"stream":"yes"}"#,
        r#"{"model":"a","contents":[{"role":"user","parts":[{"text":"hi"}]}],"model":"b"}"#,
    ] {
        let secrets = [("K", "k")];
        let request = Request {
            model: Some("gpt-4o"),
            stream: Some(false),
            secrets: &secrets,
            ..Request::new(Dialect::Gemini, body.as_bytes())
        };
        let error = request.attempt(&gemini, 0, Some("K")).err();
        assert!(error.as_ref().is_some_and(|error| error.status == 400), "{body}: {error:?}");
    }
    // JSON that is not the API's: refused by the attempt, the same way wherever the model is.
    let (first, last) = (r#"{"model":"gpt-4o","messages":5}"#, r#"{"messages":5,"model":"gpt-4o"}"#);
    let without_where =
        |(status, message): (u16, String)| (status, message.split(" at line").next().map(str::to_string));
    assert_eq!(error(first, None).map(without_where), error(last, None).map(without_where));
    refused(first, None, (400, "does not match the API"));
}
