//! The resilience part of the config: routes (a model served by an ordered or weighted list of
//! targets, each a backend and the model it knows, and what is done to their system prompt),
//! retries and the circuit breaker. Validated with the rest of the config, every error naming its
//! field.

use super::prompt::{RawSystemPrompt, SystemPromptRewrite};
use super::Problems;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The statuses worth another attempt by default: timeouts, conflicts, rate limits and the
/// upstream's own failures (529 is Anthropic's overloaded).
pub const RETRY_ON: [u16; 8] = [408, 409, 429, 500, 502, 503, 504, 529];

/// How a failed attempt is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per target, the first included (1: no retry).
    pub attempts: u32,
    /// Upstream statuses that are tried again; connection failures and timeouts always are.
    pub on: Vec<u16>,
    /// The first backoff; each further one doubles, up to `max_backoff_ms`, and a random part of
    /// it is waited (full jitter).
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// The longest `Retry-After` waited for; a longer one moves on to the next target at once.
    pub retry_after_max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 1, on: RETRY_ON.to_vec(), backoff_ms: 200, max_backoff_ms: 5_000, retry_after_max_ms: 10_000 }
    }
}

/// When a backend is skipped for a while: after `failures` failed attempts in a row, for
/// `cooldown_ms`; then one request probes it. `failures: 0` turns the breaker off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub cooldown_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { failures: 5, cooldown_ms: 30_000 }
    }
}

/// One target of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// The name of a backend of the config.
    pub backend: String,
    /// The model the backend knows; the route's own name when not given.
    pub model: Option<String>,
    /// Its share of requests when the route balances.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub targets: Vec<RouteTarget>,
    /// The order of the targets is drawn by weight for each request; the others stay fallbacks.
    pub balance: bool,
    pub retry: RetryPolicy,
    /// One deadline for every attempt of a request, backoffs included.
    pub deadline_ms: u64,
    /// What is done to the system prompt of the route's requests, whichever target serves them.
    pub system_prompt: Option<SystemPromptRewrite>,
}

/// How a failed attempt is tried again.
#[derive(Deserialize, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "Retry"))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    /// Attempts per target, the first included: 1 (the default, no retry) to 10.
    attempts: Option<u32>,
    /// The upstream statuses tried again (default 408, 409, 429, 500, 502, 503, 504, 529);
    /// connection failures and timeouts always are.
    on: Option<Vec<u16>>,
    /// The first backoff (default 200); each further one doubles, with full jitter.
    backoff_ms: Option<u64>,
    /// The longest backoff (default 5000).
    max_backoff_ms: Option<u64>,
    /// The longest `Retry-After` waited for (default 10); a longer one moves on to the next target.
    retry_after_max_seconds: Option<u64>,
}

/// When a backend is skipped: after `failures` failed attempts in a row, for `cooldown_seconds`.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "Breaker"))]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    /// Failed attempts in a row that open the breaker (default 5; 0 turns it off).
    failures: Option<u32>,
    /// How long an open breaker skips the backend before one request probes it (default 30).
    cooldown_seconds: Option<u64>,
}

/// A model served by several targets: in turn (fallbacks), or drawn by weight when `balance`.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "Route"))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    /// At least one.
    targets: Vec<RawTarget>,
    /// Draw the order of the targets by weight for each request; the others stay fallbacks.
    #[serde(default)]
    balance: bool,
    /// The route's own retry policy, over the config's.
    #[serde(default)]
    retry: RawRetry,
    /// The route's own deadline.
    deadline_seconds: Option<u64>,
    /// Rewrites of the system prompt of the route's requests, made whichever target serves them.
    system_prompt: Option<RawSystemPrompt>,
}

/// One target of a route.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "RouteTarget"))]
#[serde(deny_unknown_fields)]
struct RawTarget {
    /// The name of a backend of the config.
    backend: String,
    /// The model the backend knows; the route's name when not given.
    model: Option<String>,
    /// Its share of requests when the route balances (default 1).
    weight: Option<u32>,
}

/// The default deadline of a whole request, every attempt and backoff included.
pub const DEADLINE_MS: u64 = 300_000;

impl RawRetry {
    /// This policy, fields left out taken from `base`; its problems are added at `at`.
    pub(super) fn over(&self, base: &RetryPolicy, at: &str, problems: &mut Problems) -> RetryPolicy {
        let policy = RetryPolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            on: self.on.clone().unwrap_or_else(|| base.on.clone()),
            backoff_ms: self.backoff_ms.unwrap_or(base.backoff_ms),
            max_backoff_ms: self.max_backoff_ms.unwrap_or(base.max_backoff_ms),
            retry_after_max_ms: self
                .retry_after_max_seconds
                .map_or(base.retry_after_max_ms, |s| s.saturating_mul(1000)),
        };
        // Only what this policy sets itself: what it takes from `base` was checked there.
        if self.attempts.is_some() && !(1..=10).contains(&policy.attempts) {
            problems.add(format!("{at}.attempts"), "must be 1 to 10");
        }
        if let Some(status) = self.on.iter().flatten().find(|s| !(400..=599).contains(*s)) {
            problems.add(format!("{at}.on"), format!("{status} is not an error status"));
        }
        let backoffs_set = self.backoff_ms.is_some() || self.max_backoff_ms.is_some();
        if backoffs_set && policy.max_backoff_ms < policy.backoff_ms {
            problems.add(format!("{at}.max_backoff_ms"), "must be at least backoff_ms");
        }
        policy
    }
}

impl RawBreaker {
    pub(super) fn policy(&self) -> BreakerPolicy {
        let default = BreakerPolicy::default();
        BreakerPolicy {
            failures: self.failures.unwrap_or(default.failures),
            cooldown_ms: self.cooldown_seconds.map_or(default.cooldown_ms, |s| s.saturating_mul(1000)),
        }
    }
}

/// The routes, checked against the backends they name; a route with a problem is left out.
pub(super) fn routes(
    raw: BTreeMap<String, Value>,
    backends: &[&str],
    retry: &RetryPolicy,
    deadline_ms: u64,
    problems: &mut Problems,
) -> BTreeMap<String, Route> {
    let mut routes = BTreeMap::new();
    for (name, value) in raw {
        let at = format!("routes.{name}");
        let Some(route) = problems.parsed::<RawRoute>(value, &at) else { continue };
        let before = problems.len();
        if route.targets.is_empty() {
            problems.add(format!("{at}.targets"), "at least one target is needed");
        }
        let mut targets = Vec::new();
        for (i, target) in route.targets.into_iter().enumerate() {
            let field = |name: &str| format!("{at}.targets[{i}].{name}");
            if !backends.contains(&target.backend.as_str()) {
                problems.add(field("backend"), format!("no backend is named `{}`", target.backend));
            }
            if target.model.as_deref().is_some_and(str::is_empty) {
                problems.add(field("model"), "must not be empty");
            }
            if target.weight == Some(0) {
                problems.add(field("weight"), "must be at least 1");
            }
            targets.push(RouteTarget {
                backend: target.backend,
                model: target.model,
                weight: target.weight.unwrap_or(1),
            });
        }
        let retry = route.retry.over(retry, &format!("{at}.retry"), problems);
        let deadline_ms = route.deadline_seconds.map_or(deadline_ms, |s| s.saturating_mul(1000));
        let system_prompt = route.system_prompt.map(|raw| raw.check(&format!("{at}.system_prompt"), problems));
        if problems.len() == before {
            routes.insert(name, Route { targets, balance: route.balance, retry, deadline_ms, system_prompt });
        }
    }
    routes
}
