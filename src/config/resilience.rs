//! The resilience part of the config: routes (a model served by an ordered or weighted list of
//! targets, each a backend and the model it knows), retries and the circuit breaker. Validated
//! with the rest of the config, every error naming its field.

use serde::Deserialize;
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    attempts: Option<u32>,
    on: Option<Vec<u16>>,
    backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    retry_after_max_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    failures: Option<u32>,
    cooldown_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    targets: Vec<RawTarget>,
    #[serde(default)]
    balance: bool,
    #[serde(default)]
    retry: RawRetry,
    deadline_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    backend: String,
    model: Option<String>,
    weight: Option<u32>,
}

/// The default deadline of a whole request, every attempt and backoff included.
pub const DEADLINE_MS: u64 = 300_000;

impl RawRetry {
    /// This policy, fields left out taken from `base`.
    pub(super) fn over(&self, base: &RetryPolicy, at: &str) -> Result<RetryPolicy, String> {
        let policy = RetryPolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            on: self.on.clone().unwrap_or_else(|| base.on.clone()),
            backoff_ms: self.backoff_ms.unwrap_or(base.backoff_ms),
            max_backoff_ms: self.max_backoff_ms.unwrap_or(base.max_backoff_ms),
            retry_after_max_ms: self
                .retry_after_max_seconds
                .map_or(base.retry_after_max_ms, |s| s.saturating_mul(1000)),
        };
        if !(1..=10).contains(&policy.attempts) {
            return Err(format!("{at}.attempts: must be 1 to 10"));
        }
        if let Some(status) = policy.on.iter().find(|s| !(400..=599).contains(*s)) {
            return Err(format!("{at}.on: {status} is not an error status"));
        }
        if policy.max_backoff_ms < policy.backoff_ms {
            return Err(format!("{at}.max_backoff_ms: must be at least backoff_ms"));
        }
        Ok(policy)
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

/// The routes, checked against the backends they name.
pub(super) fn routes(
    raw: BTreeMap<String, RawRoute>,
    backends: &[&str],
    retry: &RetryPolicy,
    deadline_ms: u64,
) -> Result<BTreeMap<String, Route>, String> {
    let mut routes = BTreeMap::new();
    for (name, route) in raw {
        let at = format!("routes.{name}");
        if route.targets.is_empty() {
            return Err(format!("{at}.targets: at least one target is needed"));
        }
        let mut targets = Vec::new();
        for (i, target) in route.targets.into_iter().enumerate() {
            if !backends.contains(&target.backend.as_str()) {
                return Err(format!("{at}.targets[{i}].backend: no backend is named `{}`", target.backend));
            }
            if target.model.as_deref().is_some_and(str::is_empty) {
                return Err(format!("{at}.targets[{i}].model: must not be empty"));
            }
            if target.weight == Some(0) {
                return Err(format!("{at}.targets[{i}].weight: must be at least 1"));
            }
            targets.push(RouteTarget {
                backend: target.backend,
                model: target.model,
                weight: target.weight.unwrap_or(1),
            });
        }
        let retry = route.retry.over(retry, &format!("{at}.retry"))?;
        let deadline_ms = route.deadline_seconds.map_or(deadline_ms, |s| s.saturating_mul(1000));
        routes.insert(name, Route { targets, balance: route.balance, retry, deadline_ms });
    }
    Ok(routes)
}
