//! The routing config: which backends exist, which models each serves, and model aliases.
//! It is JSON kept in Workers KV; keys never live in it, only the names of the secrets that hold them.

mod backend;
pub mod document;
mod prompt;
mod resilience;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;

pub use prompt::{Replacement, SystemPromptRewrite};
pub use resilience::{BreakerPolicy, RetryPolicy, Route, RouteTarget, DEADLINE_MS, RETRY_ON};

use crate::usage::{Price, Prices};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A backend's wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// OpenAI Chat Completions and compatible servers.
    OpenAi,
    /// OpenAI Responses and OpenResponses-compatible servers.
    OpenResponses,
    /// Anthropic Messages.
    Anthropic,
    /// The Gemini API, with a key.
    Gemini,
    /// Vertex AI: Gemini and Claude models, with a service account.
    Vertex,
    /// Built in, no network: answers in the caller's dialect. For trying the proxy and for tests.
    Mock,
}

impl BackendKind {
    const NAMES: &'static str = "openai, openresponses, anthropic, gemini, vertex, mock";

    /// The kind as the config names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenResponses => "openresponses",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Mock => "mock",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::deserialize(serde_json::Value::from(name)).ok()
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::OpenAi | Self::OpenResponses => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
            Self::Gemini => "https://generativelanguage.googleapis.com",
            // A Vertex host depends on the location; see `vertex::host`.
            Self::Vertex | Self::Mock => "",
        }
    }

    /// The secret that holds the key when the zero-config mode is used.
    pub fn default_api_key_env(self) -> Option<&'static str> {
        match self {
            Self::OpenAi | Self::OpenResponses => Some("OPENAI_API_KEY"),
            Self::Anthropic => Some("ANTHROPIC_API_KEY"),
            Self::Gemini => Some("GEMINI_API_KEY"),
            Self::Vertex | Self::Mock => None,
        }
    }
}

/// Which Chat Completions field carries the output token limit; OpenAI's current models want
/// `max_completion_tokens`, some compatible servers only know `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum MaxTokensField {
    #[default]
    #[serde(rename = "max_completion_tokens")]
    MaxCompletionTokens,
    #[serde(rename = "max_tokens")]
    MaxTokens,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub kind: BackendKind,
    pub base_url: String,
    /// The Worker secrets (or vars) holding the backend's keys, tried in turn; none for servers
    /// that need no key.
    pub api_key_env: Vec<String>,
    /// Each client's own key is sent instead (see `Inbound::own_key`).
    pub byok: bool,
    pub models: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// Sent to Anthropic backends when the client gave no output limit (Anthropic requires one).
    pub default_max_tokens: u32,
    pub max_tokens_field: MaxTokensField,
    /// Set for `vertex` backends only.
    pub vertex: Option<VertexSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VertexSettings {
    pub project: String,
    pub location: String,
    /// The secret holding the service account's JSON key.
    pub service_account_env: String,
    /// Send a self-signed JWT as the bearer instead of exchanging it for an access token.
    pub self_signed_jwt: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub backends: Vec<Backend>,
    pub aliases: BTreeMap<String, String>,
    /// Models served by several targets in turn, by name (after aliases).
    pub routes: BTreeMap<String, Route>,
    /// The retry policy of every request, unless its route has its own.
    pub retry: RetryPolicy,
    /// The deadline of every request, unless its route has its own.
    pub deadline_ms: u64,
    pub breaker: BreakerPolicy,
    /// What models cost, for the usage record and spend budgets.
    pub prices: Prices,
    /// Where the price table came from, when it was generated (see `scripts/prices`).
    pub price_source: Option<String>,
    /// The output tokens a request that sets no output limit reserves against a key's tokens per
    /// minute until its real usage is known.
    pub reserved_output_tokens: u64,
}

/// A config that cannot be used: its problems, each at the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid config: {}", self.0)
    }
}

/// What is wrong with a config document, at the path of its field (`backends[0].kind`; empty for
/// the document as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.as_str() {
            "" => f.write_str(&self.message),
            path => write!(f, "{path}: {}", self.message),
        }
    }
}

/// The problems found so far: a check goes on after one, so that all are told at once.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { path: path.into(), message: message.into() });
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// `value` read as a `T`, or None after its problem was added at `at` and the path inside it.
    fn parsed<T: DeserializeOwned>(&mut self, value: Value, at: &str) -> Option<T> {
        serde_path_to_error::deserialize(value)
            .map_err(|error| {
                let inner = error.path().to_string();
                let path = match (at, inner.as_str()) {
                    (at, ".") => at.to_string(),
                    ("", inner) => inner.to_string(),
                    (at, inner) if inner.starts_with('[') => format!("{at}{inner}"),
                    (at, inner) => format!("{at}.{inner}"),
                };
                self.add(path, error.into_inner().to_string());
            })
            .ok()
    }
}

/// The JSON Schema of the config document (see `schema`), as served at `/admin/schema`.
pub const SCHEMA: &str = include_str!("config.schema.json");

pub const DEFAULT_MAX_TOKENS: u32 = 4096;
pub const DEFAULT_RESERVED_OUTPUT_TOKENS: u64 = 4096;
/// The secret holding the service-account key of a zero-config Vertex backend.
pub const VERTEX_SERVICE_ACCOUNT: &str = "VERTEX_SERVICE_ACCOUNT";

/// The routing config of llmproxy: its backends, the models each serves, aliases, routes with
/// fallbacks and retries, the circuit breaker and prices. Keys never live in it, only the names
/// of the Worker secrets that hold them.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(title = "llmproxy config"))]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The JSON Schema the document follows, for editors; the worker ignores it.
    #[serde(rename = "$schema")]
    #[allow(dead_code)]
    schema: Option<String>,
    /// At least one. A model is served by the first backend whose `models` match it.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Vec<backend::RawBackend>"))]
    backends: Vec<Value>,
    /// Other names of models (`"fast": "gpt-4o-mini"`), resolved before routing.
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// Models served by several targets in turn (fallbacks) or by weight, by name.
    #[serde(default)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "BTreeMap<String, resilience::RawRoute>"))]
    routes: BTreeMap<String, Value>,
    /// How failed attempts are tried again, unless a route says otherwise.
    #[serde(default)]
    retry: resilience::RawRetry,
    /// One deadline for all the attempts of a request (default 300).
    deadline_seconds: Option<u64>,
    /// When a failing backend is skipped for a while.
    breaker: Option<resilience::RawBreaker>,
    /// US dollars per million tokens, by model glob; the most specific pattern wins.
    #[serde(default)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "BTreeMap<String, Price>"))]
    prices: BTreeMap<String, Value>,
    /// Where the price table came from (`scripts/prices` sets it).
    price_source: Option<String>,
    /// The output tokens reserved against a key's tokens per minute by a request that sets no
    /// output limit, until its real usage is known (default 4096).
    reserved_output_tokens: Option<u64>,
}

impl Config {
    /// The config in `text`, or every problem it has.
    pub fn check(text: &str) -> Result<Self, Vec<Problem>> {
        let mut problems = Problems::default();
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                problems.add("", format!("not JSON: {error}"));
                return Err(problems.0);
            }
        };
        let Some(raw) = problems.parsed::<RawConfig>(value, "") else {
            return Err(problems.0);
        };
        let backends: Vec<Backend> = raw
            .backends
            .into_iter()
            .enumerate()
            .filter_map(|(i, value)| backend::parse(value, &format!("backends[{i}]"), &mut problems))
            .collect();
        if backends.is_empty() && problems.len() == 0 {
            problems.add("backends", "at least one backend is needed");
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, backend) in backends.iter().enumerate() {
            if !names.insert(backend.name.as_str()) {
                problems.add(format!("backends[{i}].name"), format!("`{}` is used twice", backend.name));
            }
        }
        for (alias, _) in raw.aliases.iter().filter(|(_, target)| target.is_empty()) {
            problems.add(format!("aliases.{alias}"), "the target model is empty");
        }
        let retry = raw.retry.over(&RetryPolicy::default(), "retry", &mut problems);
        let deadline_ms = raw.deadline_seconds.map_or(DEADLINE_MS, |s| s.saturating_mul(1000));
        if deadline_ms == 0 {
            problems.add("deadline_seconds", "must be at least 1");
        }
        let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        let routes = resilience::routes(raw.routes, &names, &retry, deadline_ms, &mut problems);
        let breaker = raw.breaker.map(|b| b.policy()).unwrap_or_default();
        let prices: BTreeMap<String, Price> = raw
            .prices
            .into_iter()
            .filter_map(|(model, value)| Some((model.clone(), problems.parsed(value, &format!("prices.{model}"))?)))
            .collect();
        let prices = Prices::from_map(prices).unwrap_or_else(|(model, message)| {
            problems.add(format!("prices.{model}"), message);
            Prices::default()
        });
        if problems.len() > 0 {
            return Err(problems.0);
        }
        Ok(Self {
            backends,
            aliases: raw.aliases,
            routes,
            retry,
            deadline_ms,
            breaker,
            prices,
            price_source: raw.price_source,
            reserved_output_tokens: raw.reserved_output_tokens.unwrap_or(DEFAULT_RESERVED_OUTPUT_TOKENS),
        })
    }

    /// The config in `text`, or all its problems in one error.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::check(text)
            .map_err(|problems| ConfigError(problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("; ")))
    }

    /// The config of a one-token test of the backend `name` (the admin's "test this backend"):
    /// that backend alone, serving any model, with no breaker to refuse it and no retry.
    pub fn probe(&self, name: &str) -> Option<Self> {
        let mut backend = self.backends.iter().find(|backend| backend.name == name)?.clone();
        backend.models = vec!["**".to_string()];
        Some(Self {
            backends: vec![backend],
            breaker: BreakerPolicy { failures: 0, ..self.breaker },
            deadline_ms: self.deadline_ms,
            prices: self.prices.clone(),
            reserved_output_tokens: self.reserved_output_tokens,
            ..Self::default()
        })
    }

    /// The model a test of `backend` asks for when it is not told one: its first pattern that
    /// is a plain model name.
    pub fn probe_model(backend: &Backend) -> Option<&str> {
        backend.models.iter().map(String::as_str).find(|model| !model.contains(['*', '?', '[', '{']))
    }

    /// The zero-config mode: no config in KV, one backend from plain variables, every model routed
    /// to it. Returns None when `LLMPROXY_BACKEND` is not set either.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(kind_name) = var("LLMPROXY_BACKEND") else {
            return Ok(None);
        };
        let kind = BackendKind::parse(kind_name.trim()).ok_or_else(|| {
            ConfigError(format!("LLMPROXY_BACKEND: unknown kind `{kind_name}` (expected {})", BackendKind::NAMES))
        })?;
        // A Vertex backend is placed by project and location, and signs in with a service account.
        let vertex = match kind {
            BackendKind::Vertex => {
                let required = |name: &str| {
                    var(name)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| ConfigError(format!("{name}: required when LLMPROXY_BACKEND is vertex")))
                };
                Some(VertexSettings {
                    project: required("LLMPROXY_VERTEX_PROJECT")?,
                    location: required("LLMPROXY_VERTEX_LOCATION")?,
                    service_account_env: VERTEX_SERVICE_ACCOUNT.to_string(),
                    self_signed_jwt: false,
                })
            }
            _ => None,
        };
        let base_url = var("LLMPROXY_BASE_URL").unwrap_or_else(|| match &vertex {
            Some(vertex) => crate::vertex::host(&vertex.location),
            None => kind.default_base_url().to_string(),
        });
        let backend = Backend {
            name: kind_name.trim().to_string(),
            kind,
            base_url: normalise_base_url(&base_url),
            api_key_env: kind.default_api_key_env().map(str::to_string).into_iter().collect(),
            byok: false,
            models: vec!["**".to_string()],
            headers: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            max_tokens_field: MaxTokensField::default(),
            vertex,
        };
        Ok(Some(Self {
            backends: vec![backend],
            deadline_ms: DEADLINE_MS,
            reserved_output_tokens: DEFAULT_RESERVED_OUTPUT_TOKENS,
            ..Self::default()
        }))
    }
}

fn normalise_base_url(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
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
        assert!(error_of(
            r#"{"backends":[{"name":"a","kind":"mock","models":["x"],"headers":{"x-a":"1\r\nx-b: 2"}}]}"#
        )
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
        let global =
            vertex(r#","project":"p","location":"global","service_account_env":"SA","auth":"self_signed_jwt""#);
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
        let misplaced =
            Config::from_json(r#"{"backends":[{"name":"o","kind":"openai","models":["*"],"project":"p"}]}"#);
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
}
