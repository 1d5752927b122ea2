use super::*;

const EXAMPLE: &str = r#"{
  "backends": [
    {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*", "o[0-9]*"]},
    {"name": "anthropic", "kind": "anthropic", "base_url": "https://api.anthropic.com/",
     "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"], "headers": {"anthropic-beta": "x"}},
    {"name": "mock", "kind": "mock", "models": ["mock-*"]}
  ],
  "aliases": {"fast": "gpt-4o-mini"}
}"#;

fn error_of(text: &str) -> String {
    Config::from_json(text).unwrap_err().0
}

#[test]
fn parses_the_documented_example_with_defaults() {
    let config = Config::from_json(EXAMPLE).unwrap();
    assert_eq!(config.backends.len(), 3);
    assert_eq!(config.backends[0].base_url, "https://api.openai.com/v1");
    assert_eq!(config.backends[1].base_url, "https://api.anthropic.com");
    assert_eq!(config.backends[1].headers, vec![("anthropic-beta".to_string(), "x".to_string())]);
    assert_eq!(config.backends[1].default_max_tokens, DEFAULT_MAX_TOKENS);
    assert_eq!(config.backends[2].kind, BackendKind::Mock);
    for kind in [
        BackendKind::OpenAi,
        BackendKind::OpenResponses,
        BackendKind::Anthropic,
        BackendKind::Gemini,
        BackendKind::Vertex,
        BackendKind::Mock,
    ] {
        assert_eq!(BackendKind::parse(kind.name()), Some(kind), "the config's own name of {kind:?}");
    }
    assert_eq!(config.aliases["fast"], "gpt-4o-mini");
    assert_eq!((config.reserved_output_tokens, config.prices.of("gpt-4o")), (DEFAULT_RESERVED_OUTPUT_TOKENS, None));
}

#[test]
fn prices_are_read_per_model_glob() {
    let text = EXAMPLE.replacen(
        r#""aliases""#,
        r#""prices": {"gpt-4o*": {"input": 2.5, "output": 10, "cache_read": 1.25}}, "reserved_output_tokens": 512, "aliases""#,
        1,
    );
    let config = Config::from_json(&text).unwrap();
    assert_eq!(config.prices.of("gpt-4o-mini").map(|p| (p.input, p.cache_read)), Some((2.5, Some(1.25))));
    assert_eq!(config.reserved_output_tokens, 512);
    let bad = EXAMPLE.replacen(r#""aliases""#, r#""prices": {"x": {"input": 1}}, "aliases""#, 1);
    assert!(error_of(&bad).contains("output"), "{}", error_of(&bad));
}

#[test]
fn errors_name_the_field_at_fault() {
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"gopher","models":["x"]}]}"#)
        .starts_with("backends[0].kind: unknown kind `gopher`"));
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","modles":["x"]}]}"#)
        .contains("backends[0].modles: unknown field `modles`"));
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","models":[]}]}"#).contains("backends[0].models"));
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"openai","base_url":"ftp://x","models":["*"]}]}"#)
        .contains("backends[0].base_url"));
    assert!(error_of(
        r#"{"backends":[{"name":"a","kind":"mock","models":["x"]},{"name":"a","kind":"mock","models":["y"]}]}"#
    )
    .contains("backends[1].name"));
    assert!(error_of(r#"{"backends":[]}"#).starts_with("backends"));
    assert!(error_of(r#"{"backends":[{"name":"a\nb","kind":"mock","models":["x"]}]}"#).contains("backends[0].name"));
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","models":["x"],"headers":{"x-a":"1\r\nx-b: 2"}}]}"#)
        .contains("backends[0].headers.x-a"));
    assert!(error_of(r#"{"backend":[]}"#).contains("unknown field `backend`"));
    assert!(error_of("{not json").contains("line 1"));
    assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","models":["x"],"headers":{"x":1}}]}"#)
        .starts_with("backends[0].headers.x: invalid type"));
}

#[test]
fn a_probe_reaches_its_backend_alone_with_any_model() {
    let config = Config::from_json(EXAMPLE).unwrap();
    let probe = config.probe("anthropic").unwrap();
    assert_eq!(probe.backends.len(), 1);
    assert_eq!(probe.route("anything-at-all").unwrap().name, "anthropic");
    assert_eq!(probe.breaker.failures, 0, "an open breaker does not refuse a test");
    assert!(probe.aliases.is_empty() && probe.routes.is_empty());
    assert!(config.probe("nope").is_none());
    assert_eq!(Config::probe_model(&config.backends[0]), None, "only globs");
    let mut backend = config.backends[0].clone();
    backend.models = vec!["gpt-*".into(), "gpt-4o-mini".into()];
    assert_eq!(Config::probe_model(&backend), Some("gpt-4o-mini"));
}

#[test]
fn every_problem_is_told_at_once_each_at_its_path() {
    let text = r#"{
      "backends": [
        {"name": "a b", "kind": "gopher", "models": ["x", ""]},
        {"name": "o", "kind": "openai", "base_url": "https://user:pass@example.com/v1", "models": ["*"]},
        {"name": "o", "kind": "openai", "models": ["gpt-*"], "project": "p"},
        {"name": "m", "kind": "mock", "models": ["m"], "default_max_tokens": "many"}
      ],
      "aliases": {"fast": ""},
      "retry": {"attempts": 11, "on": [200]},
      "deadline_seconds": 0,
      "routes": {
        "smart": {"targets": [{"backend": "nowhere", "weight": 0}]},
        "empty": {"targets": []},
        "typo": {"targets": [], "balanse": true}
      },
      "prices": {"gpt-*": {"input": -1, "output": 1}, "claude-*": {"input": 1}}
    }"#;
    let problems = Config::check(text).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "backends[0].kind",
            "backends[0].name",
            "backends[0].models[1]",
            "backends[1].base_url",
            "backends[2].project",
            "backends[3].default_max_tokens",
            "aliases.fast",
            "retry.attempts",
            "retry.on",
            "deadline_seconds",
            "routes.empty.targets",
            "routes.smart.targets[0].backend",
            "routes.smart.targets[0].weight",
            "routes.typo.balanse",
            "prices.claude-*",
            "prices.gpt-*",
        ],
        "{problems:#?}"
    );
    assert!(!problems.iter().any(|p| p.message.contains("pass")), "a credential was repeated: {problems:?}");
    assert!(problems[13].message.contains("unknown field `balanse`"), "{:?}", problems[13]);
}

#[test]
fn vertex_backends_need_their_fields_and_get_their_host() {
    let vertex = |extra: &str| {
        Config::from_json(&format!(r#"{{"backends":[{{"name":"v","kind":"vertex","models":["*"]{extra}}}]}}"#))
    };
    let config = vertex(r#","project":"p","location":"us-east5","service_account_env":"SA""#).unwrap();
    let backend = &config.backends[0];
    assert_eq!(backend.base_url, "https://us-east5-aiplatform.googleapis.com");
    assert_eq!(backend.vertex.as_ref().map(|v| (v.project.as_str(), v.self_signed_jwt)), Some(("p", false)));
    let global = vertex(r#","project":"p","location":"global","service_account_env":"SA","auth":"self_signed_jwt""#);
    assert_eq!(global.unwrap().backends[0].base_url, "https://aiplatform.googleapis.com");
    assert!(vertex(r#","project":"p","location":"eu""#).unwrap_err().0.contains("service_account_env: required"));
    assert!(vertex(r#","project":"p/../x","location":"eu","service_account_env":"S""#)
        .unwrap_err()
        .0
        .contains("project:"));
    assert!(vertex(r#","project":"p","location":"eu","service_account_env":"S","auth":"x""#)
        .unwrap_err()
        .0
        .contains("auth:"));
    let misplaced = Config::from_json(r#"{"backends":[{"name":"o","kind":"openai","models":["*"],"project":"p"}]}"#);
    assert!(misplaced.unwrap_err().0.contains("project: only `vertex` backends take it"));
}

#[test]
fn zero_config_from_vars() {
    let vars = |name: &str| match name {
        "LLMPROXY_BACKEND" => Some("anthropic".to_string()),
        "LLMPROXY_BASE_URL" => Some("http://127.0.0.1:9/".to_string()),
        _ => None,
    };
    let config = Config::from_vars(vars).unwrap().unwrap();
    let backend = &config.backends[0];
    assert_eq!((backend.kind, backend.base_url.as_str()), (BackendKind::Anthropic, "http://127.0.0.1:9"));
    assert_eq!(backend.api_key_env, ["ANTHROPIC_API_KEY"]);
    assert_eq!(Config::from_vars(|_| None).unwrap(), None);
    let bad = Config::from_vars(|n| (n == "LLMPROXY_BACKEND").then(|| "nope".to_string()));
    assert!(bad.unwrap_err().0.starts_with("LLMPROXY_BACKEND"));
    let vertex = |name: &str| match name {
        "LLMPROXY_BACKEND" => Some("vertex".to_string()),
        "LLMPROXY_VERTEX_PROJECT" => Some("p".to_string()),
        "LLMPROXY_VERTEX_LOCATION" => Some("global".to_string()),
        _ => None,
    };
    let config = Config::from_vars(vertex).unwrap().unwrap();
    assert_eq!(config.backends[0].base_url, "https://aiplatform.googleapis.com");
    assert_eq!(config.backends[0].vertex.as_ref().unwrap().service_account_env, VERTEX_SERVICE_ACCOUNT);
    let missing = Config::from_vars(|n| (n == "LLMPROXY_BACKEND").then(|| "vertex".to_string()));
    assert!(missing.unwrap_err().0.starts_with("LLMPROXY_VERTEX_PROJECT: required"));
}

#[test]
fn bedrock_backends_take_a_region_and_sign_unless_given_an_api_key() {
    let bedrock = |extra: &str| {
        Config::from_json(&format!(r#"{{"backends":[{{"name":"b","kind":"bedrock","models":["*"]{extra}}}]}}"#))
    };
    let config = bedrock(r#","region":"eu-west-3""#).unwrap();
    let backend = &config.backends[0];
    assert_eq!(backend.base_url, "https://bedrock-runtime.eu-west-3.amazonaws.com");
    let signing = backend.bedrock.as_ref().unwrap().signing.as_ref().unwrap();
    assert_eq!(
        (signing.access_key_env.as_str(), signing.secret_key_env.as_str(), signing.session_token_env.as_str()),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    );
    let named = bedrock(r#","region":"us-east-1","access_key_env":"A","secret_key_env":"S""#).unwrap();
    assert_eq!(named.backends[0].bedrock.as_ref().unwrap().signing.as_ref().unwrap().access_key_env, "A");
    let keyed = bedrock(r#","region":"us-east-1","api_key_env":"BEDROCK_KEY""#).unwrap();
    assert_eq!(keyed.backends[0].bedrock.as_ref().unwrap().signing, None);
    let problems = |extra: &str| bedrock(extra).unwrap_err().0;
    assert!(problems("").contains("region: required for `bedrock` backends"));
    assert!(problems(r#","region":"us-east-1.evil.com/x""#).contains("region: only lower-case letters"));
    assert!(problems(r#","region":"us-east-1","api_key_env":"K","access_key_env":"A""#).contains("exclude each other"));
    assert!(
        problems(r#","region":"us-east-1","secret_key_env":"""#).contains("secret_key_env: the secret name is empty")
    );
    let misplaced = Config::from_json(r#"{"backends":[{"name":"o","kind":"openai","models":["*"],"region":"x"}]}"#);
    assert!(misplaced.unwrap_err().0.contains("region: only `bedrock` backends take it"));
}

#[test]
fn the_zero_config_mode_serves_bedrock_by_region() {
    let vars = |name: &str| match name {
        "LLMPROXY_BACKEND" => Some("bedrock".to_string()),
        "LLMPROXY_BEDROCK_REGION" => Some("ap-northeast-1".to_string()),
        _ => None,
    };
    let config = Config::from_vars(vars).unwrap().unwrap();
    assert_eq!(config.backends[0].base_url, "https://bedrock-runtime.ap-northeast-1.amazonaws.com");
    assert!(config.backends[0].bedrock.as_ref().unwrap().signing.is_some());
    let missing = Config::from_vars(|n| (n == "LLMPROXY_BACKEND").then(|| "bedrock".to_string()));
    assert!(missing.unwrap_err().0.contains("LLMPROXY_BEDROCK_REGION: required when LLMPROXY_BACKEND is bedrock"));
}
