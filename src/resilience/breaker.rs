//! Circuit breakers, one per backend, kept by each isolate: after `failures` failed attempts in a
//! row a backend is skipped for `cooldown_ms`, then one request probes it; its success closes the
//! breaker, its failure opens it again. Failures that are the client's (a 400) do not count.

use crate::config::BreakerPolicy;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Default)]
struct State {
    failures: u32,
    /// When the breaker closes again (ms since the epoch); 0 while closed.
    open_until: f64,
    /// When the request probing a half-open breaker began.
    probing_since: Option<f64>,
    last_failure: Option<(String, f64)>,
    last_success: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Breakers {
    states: HashMap<String, State>,
}

impl Breakers {
    /// Whether a request may go to `backend` now. A half-open breaker lets one request through to
    /// probe it, and another only once that probe is older than the cooldown.
    pub fn allows(&mut self, backend: &str, policy: &BreakerPolicy, now: f64) -> bool {
        let Some(state) = self.states.get_mut(backend) else { return true };
        if policy.failures == 0 || state.open_until == 0.0 {
            return true;
        }
        if now < state.open_until {
            return false;
        }
        match state.probing_since {
            Some(since) if now - since < policy.cooldown_ms as f64 => false,
            _ => {
                state.probing_since = Some(now);
                true
            }
        }
    }

    pub fn success(&mut self, backend: &str, now: f64) {
        let state = self.states.entry(backend.to_string()).or_default();
        *state = State { last_failure: state.last_failure.take(), last_success: Some(now), ..State::default() };
    }

    /// A failed attempt, named by its class (`timeout`, `status 503`, …).
    pub fn failure(&mut self, backend: &str, class: String, policy: &BreakerPolicy, now: f64) {
        let state = self.states.entry(backend.to_string()).or_default();
        state.failures = state.failures.saturating_add(1);
        state.last_failure = Some((class, now));
        state.probing_since = None;
        if policy.failures > 0 && state.failures >= policy.failures {
            state.open_until = now + policy.cooldown_ms as f64;
        }
    }

    /// Each backend's breaker as the status page shows it: `closed`, `open` (with the seconds
    /// left) or `half-open`, and its last failure and success (ms since the epoch).
    pub fn status<'a>(&self, backends: impl Iterator<Item = &'a str>, policy: &BreakerPolicy, now: f64) -> Value {
        let entries: serde_json::Map<String, Value> = backends
            .map(|name| {
                let state = self.states.get(name);
                let (breaker, opens_for) = match state {
                    Some(s) if policy.failures > 0 && s.open_until > now => {
                        ("open", Some((s.open_until - now) / 1000.0))
                    }
                    Some(s) if policy.failures > 0 && s.open_until > 0.0 => ("half-open", None),
                    _ => ("closed", None),
                };
                let last_failure = state.and_then(|s| s.last_failure.as_ref());
                let value = json!({
                    "breaker": breaker,
                    "open_for_seconds": opens_for.map(f64::ceil),
                    "failures_in_a_row": state.map_or(0, |s| s.failures),
                    "last_failure": last_failure.map(|(class, at)| json!({"class": class, "at_ms": *at as u64})),
                    "last_success_ms": state.and_then(|s| s.last_success).map(|at| at as u64),
                });
                (name.to_string(), value)
            })
            .collect();
        Value::Object(entries)
    }
}
