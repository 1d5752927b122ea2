//! The routing config: which backends exist, which models each serves, and model aliases.
//! It is JSON kept in Workers KV; keys never live in it, only the names of the secrets that hold them.

mod backend;
mod bedrock;
mod compat;
pub mod document;
mod prompt;
mod resilience;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;

pub use bedrock::{BedrockSettings, SigningKeys};
pub use compat::Compat;
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
    /// AWS Bedrock: Claude through `InvokeModel`, other models through `Converse`, with SigV4 keys
    /// or a Bedrock API key.
    Bedrock,
    /// Built in, no network: answers in the caller's dialect. For trying the proxy and for tests.
    Mock,
}

impl BackendKind {
    const NAMES: &'static str = "openai, openresponses, anthropic, gemini, vertex, bedrock, mock";

    /// The kind as the config names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenResponses => "openresponses",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex",
            Self::Bedrock => "bedrock",
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
            // A Vertex host depends on the location (`vertex::host`), a Bedrock one on the region.
            Self::Vertex | Self::Bedrock | Self::Mock => "",
        }
    }

    /// The secret that holds the key when the zero-config mode is used.
    pub fn default_api_key_env(self) -> Option<&'static str> {
        match self {
            Self::OpenAi | Self::OpenResponses => Some("OPENAI_API_KEY"),
            Self::Anthropic => Some("ANTHROPIC_API_KEY"),
            Self::Gemini => Some("GEMINI_API_KEY"),
            Self::Vertex | Self::Bedrock | Self::Mock => None,
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
    /// The OpenAI-compatible server an `openai` backend is, when its API differs from OpenAI's.
    pub compat: Option<Compat>,
    /// Set for `vertex` backends only.
    pub vertex: Option<VertexSettings>,
    /// Set for `bedrock` backends only.
    pub bedrock: Option<BedrockSettings>,
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

impl std::error::Error for ConfigError {}

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
        let value: Value = match serde_json::from_slice(text.as_bytes()) {
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
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError(format!("{name}: required when LLMPROXY_BACKEND is {}", kind.name())))
        };
        // A Vertex backend is placed by project and location, and signs in with a service account.
        let vertex = match kind {
            BackendKind::Vertex => Some(VertexSettings {
                project: required("LLMPROXY_VERTEX_PROJECT")?,
                location: required("LLMPROXY_VERTEX_LOCATION")?,
                service_account_env: VERTEX_SERVICE_ACCOUNT.to_string(),
                self_signed_jwt: false,
            }),
            _ => None,
        };
        // A Bedrock backend is placed by region, and signs with the default secrets' keys.
        let bedrock = match kind {
            BackendKind::Bedrock => Some(bedrock::with_default_keys(required("LLMPROXY_BEDROCK_REGION")?)),
            _ => None,
        };
        let base_url = var("LLMPROXY_BASE_URL").unwrap_or_else(|| match (&vertex, &bedrock) {
            (Some(vertex), _) => crate::vertex::host(&vertex.location),
            (_, Some(bedrock)) => crate::bedrock::host(&bedrock.region),
            _ => kind.default_base_url().to_string(),
        });
        let compat = Compat::implied(kind, &base_url);
        let backend = Backend {
            name: kind_name.trim().to_string(),
            kind,
            base_url: normalise_base_url(&base_url),
            api_key_env: kind.default_api_key_env().map(str::to_string).into_iter().collect(),
            byok: false,
            models: vec!["**".to_string()],
            headers: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            max_tokens_field: Compat::max_tokens_field(compat),
            compat,
            vertex,
            bedrock,
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
mod tests;
