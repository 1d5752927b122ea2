//! The routing config: which backends exist, which models each serves, and model aliases.
//! It is JSON kept in Workers KV; keys never live in it, only the names of the secrets that hold them.

mod resilience;

pub use resilience::{BreakerPolicy, RetryPolicy, Route, RouteTarget, DEADLINE_MS, RETRY_ON};

use crate::usage::{Price, Prices};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A backend's wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// A config that cannot be used, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid config: {}", self.0)
    }
}

pub const DEFAULT_MAX_TOKENS: u32 = 4096;
pub const DEFAULT_RESERVED_OUTPUT_TOKENS: u64 = 4096;
/// The secret holding the service-account key of a zero-config Vertex backend.
pub const VERTEX_SERVICE_ACCOUNT: &str = "VERTEX_SERVICE_ACCOUNT";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    backends: Vec<Value>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    routes: BTreeMap<String, resilience::RawRoute>,
    #[serde(default)]
    retry: resilience::RawRetry,
    deadline_seconds: Option<u64>,
    breaker: Option<resilience::RawBreaker>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    price_source: Option<String>,
    reserved_output_tokens: Option<u64>,
}

/// One secret name, or several tried in turn.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyNames {
    One(String),
    Several(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    name: String,
    kind: String,
    base_url: Option<String>,
    api_key_env: Option<KeyNames>,
    models: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    default_max_tokens: Option<u32>,
    #[serde(default)]
    max_tokens_field: MaxTokensField,
    project: Option<String>,
    location: Option<String>,
    service_account_env: Option<String>,
    auth: Option<String>,
}

impl Config {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let backends = raw
            .backends
            .into_iter()
            .enumerate()
            .map(|(i, value)| parse_backend(value).map_err(|e| ConfigError(format!("backends[{i}]: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if backends.is_empty() {
            return Err(ConfigError("backends: at least one backend is needed".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, backend) in backends.iter().enumerate() {
            if !names.insert(backend.name.as_str()) {
                return Err(ConfigError(format!("backends[{i}].name: `{}` is used twice", backend.name)));
            }
        }
        for (alias, target) in &raw.aliases {
            if target.is_empty() {
                return Err(ConfigError(format!("aliases.{alias}: the target model is empty")));
            }
        }
        let retry = raw.retry.over(&RetryPolicy::default(), "retry").map_err(ConfigError)?;
        let deadline_ms = raw.deadline_seconds.map_or(DEADLINE_MS, |s| s.saturating_mul(1000));
        if deadline_ms == 0 {
            return Err(ConfigError("deadline_seconds: must be at least 1".into()));
        }
        let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        let routes = resilience::routes(raw.routes, &names, &retry, deadline_ms).map_err(ConfigError)?;
        let breaker = raw.breaker.map(|b| b.policy()).unwrap_or_default();
        let prices = Prices::from_map(raw.prices).map_err(ConfigError)?;
        let reserved_output_tokens = raw.reserved_output_tokens.unwrap_or(DEFAULT_RESERVED_OUTPUT_TOKENS);
        Ok(Self {
            backends,
            aliases: raw.aliases,
            routes,
            retry,
            deadline_ms,
            breaker,
            prices,
            price_source: raw.price_source,
            reserved_output_tokens,
        })
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

fn parse_backend(value: Value) -> Result<Backend, String> {
    let raw: RawBackend = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let kind = BackendKind::parse(&raw.kind)
        .ok_or_else(|| format!("kind: unknown kind `{}` (expected {})", raw.kind, BackendKind::NAMES))?;
    // The name is reported in a response header, so it must be one.
    if !is_token(&raw.name) || raw.name.len() > 64 {
        return Err(format!("name: `{}` must be 1 to 64 letters, digits or `-_.`", raw.name));
    }
    if raw.models.is_empty() {
        return Err("models: at least one model pattern is needed".into());
    }
    if let Some(i) = raw.models.iter().position(String::is_empty) {
        return Err(format!("models[{i}]: the pattern is empty"));
    }
    let vertex = vertex_settings(kind, &raw)?;
    let base_url = raw.base_url.clone().unwrap_or_else(|| match &vertex {
        Some(vertex) => crate::vertex::host(&vertex.location),
        None => kind.default_base_url().to_string(),
    });
    if kind != BackendKind::Mock && !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(format!("base_url: `{base_url}` is not an http(s) URL"));
    }
    if raw.default_max_tokens == Some(0) {
        return Err("default_max_tokens: must be at least 1".into());
    }
    if let Some((name, _)) = raw.headers.iter().find(|(name, _)| !is_token(name)) {
        return Err(format!("headers: `{name}` is not a valid header name"));
    }
    if let Some((name, _)) = raw.headers.iter().find(|(_, value)| value.chars().any(char::is_control)) {
        return Err(format!("headers.{name}: the value holds a control character"));
    }
    Ok(Backend {
        name: raw.name,
        kind,
        base_url: normalise_base_url(&base_url),
        api_key_env: match raw.api_key_env {
            None => Vec::new(),
            Some(KeyNames::One(name)) => vec![name].into_iter().filter(|name| !name.is_empty()).collect(),
            Some(KeyNames::Several(names)) if names.iter().any(String::is_empty) => {
                return Err("api_key_env: a secret name is empty".into())
            }
            Some(KeyNames::Several(names)) => names,
        },
        models: raw.models,
        headers: raw.headers.into_iter().collect(),
        default_max_tokens: raw.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        max_tokens_field: raw.max_tokens_field,
        vertex,
    })
}

/// The Vertex fields: all required for `vertex` backends, none allowed for others.
fn vertex_settings(kind: BackendKind, raw: &RawBackend) -> Result<Option<VertexSettings>, String> {
    let fields =
        [("project", &raw.project), ("location", &raw.location), ("service_account_env", &raw.service_account_env)];
    if kind != BackendKind::Vertex {
        return match fields.iter().chain([&("auth", &raw.auth)]).find(|(_, value)| value.is_some()) {
            Some((name, _)) => Err(format!("{name}: only `vertex` backends take it")),
            None => Ok(None),
        };
    }
    if let Some((name, _)) = fields.iter().find(|(_, value)| value.as_deref().is_none_or(str::is_empty)) {
        return Err(format!("{name}: required for `vertex` backends"));
    }
    // The project and location are parts of the Vertex URL.
    for (name, value) in &fields[..2] {
        if !value.as_deref().unwrap_or_default().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(format!("{name}: only letters, digits and `-_.` are allowed"));
        }
    }
    let self_signed_jwt = match raw.auth.as_deref() {
        None | Some("token_exchange") => false,
        Some("self_signed_jwt") => true,
        Some(other) => return Err(format!("auth: unknown mode `{other}` (expected token_exchange, self_signed_jwt)")),
    };
    Ok(Some(VertexSettings {
        project: raw.project.clone().unwrap_or_default(),
        location: raw.location.clone().unwrap_or_default(),
        service_account_env: raw.service_account_env.clone().unwrap_or_default(),
        self_signed_jwt,
    }))
}

fn normalise_base_url(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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
            .starts_with("backends[0]: kind: unknown kind `gopher`"));
        assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","modles":["x"]}]}"#)
            .contains("backends[0]: unknown field `modles`"));
        assert!(error_of(r#"{"backends":[{"name":"a","kind":"mock","models":[]}]}"#).contains("backends[0]: models"));
        assert!(error_of(r#"{"backends":[{"name":"a","kind":"openai","base_url":"ftp://x","models":["*"]}]}"#)
            .contains("backends[0]: base_url"));
        assert!(error_of(
            r#"{"backends":[{"name":"a","kind":"mock","models":["x"]},{"name":"a","kind":"mock","models":["y"]}]}"#
        )
        .contains("backends[1].name"));
        assert!(error_of(r#"{"backends":[]}"#).starts_with("backends"));
        assert!(
            error_of(r#"{"backends":[{"name":"a\nb","kind":"mock","models":["x"]}]}"#).contains("backends[0]: name")
        );
        assert!(error_of(
            r#"{"backends":[{"name":"a","kind":"mock","models":["x"],"headers":{"x-a":"1\r\nx-b: 2"}}]}"#
        )
        .contains("headers.x-a"));
        assert!(error_of(r#"{"backend":[]}"#).contains("unknown field `backend`"));
        assert!(error_of("{not json").contains("line 1"));
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
