//! Retries, fallback and load balancing: the chain of targets a request may be served by, and the
//! decision after each failed attempt — try the same target again (after a backoff, or as long as
//! `Retry-After` says if that is short), move on to the next target, or give up. The circuit
//! breakers and the key rings are the isolate's memory of backends across requests. All of it is
//! pure; the shell runs the attempts and tells the time.

mod breaker;
mod keys;

pub use breaker::Breakers;
pub use keys::KeyRing;

use crate::config::{Backend, Config, RetryPolicy};
use crate::error::ProxyError;

/// A target of a chain: a backend and the model it knows.
#[derive(Debug, Clone)]
pub struct ChainTarget<'a> {
    pub backend: &'a Backend,
    pub model: String,
}

/// The targets a request may be served by, in the order they are tried, and how.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    pub targets: Vec<ChainTarget<'a>>,
    pub retry: &'a RetryPolicy,
    pub deadline_ms: u64,
}

impl Config {
    /// The chain for a model (aliases already resolved): its route's targets, in order or drawn by
    /// weight, or else the one backend whose globs match it. `random` draws the order.
    pub fn chain(&self, model: &str, random: u64) -> Result<Chain<'_>, ProxyError> {
        let Some(route) = self.routes.get(model) else {
            let backend = self.route(model)?;
            let targets = vec![ChainTarget { backend, model: model.to_string() }];
            return Ok(Chain { targets, retry: &self.retry, deadline_ms: self.deadline_ms });
        };
        let mut order: Vec<usize> = (0..route.targets.len()).collect();
        if route.balance {
            weighted_order(&mut order, |i| route.targets[i].weight, &mut Rng::new(random));
        }
        let targets = order
            .into_iter()
            .map(|i| {
                let target = &route.targets[i];
                let backend = self.backends.iter().find(|b| b.name == target.backend).ok_or_else(|| {
                    ProxyError::internal(format!("route `{model}` names no backend `{}`", target.backend))
                })?;
                Ok(ChainTarget { backend, model: target.model.clone().unwrap_or_else(|| model.to_string()) })
            })
            .collect::<Result<_, ProxyError>>()?;
        Ok(Chain { targets, retry: &route.retry, deadline_ms: route.deadline_ms })
    }
}

/// Orders `items` by weighted draws without replacement: each place goes to one of the items
/// left with a chance in proportion to its weight.
fn weighted_order(items: &mut [usize], weight: impl Fn(usize) -> u32, rng: &mut Rng) {
    for place in 0..items.len() {
        let total: u64 = items[place..].iter().map(|&i| u64::from(weight(i))).sum();
        let mut draw = rng.below(total.max(1));
        let chosen = items[place..]
            .iter()
            .position(|&i| {
                let w = u64::from(weight(i));
                if draw < w {
                    true
                } else {
                    draw -= w;
                    false
                }
            })
            .unwrap_or(0);
        items.swap(place, place + chosen);
    }
}

/// A small deterministic generator (xorshift64*), seeded by the shell for each request.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` at least 1).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.draw() % bound.max(1)
    }
}

/// Why an attempt failed, as far as trying again is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The upstream could not be reached, or the connection broke before any content.
    Connection,
    /// A deadline passed before any content.
    Timeout,
    /// The upstream answered with this status, or reported the failure it stands for in-band at
    /// the start of a stream.
    Status(u16),
    /// The backend refused its key (401, 403): another key of the backend may do.
    KeyRejected,
}

impl FailureClass {
    /// The class of an upstream's error status. A refused key is another key's chance, unless it
    /// was the client's own (`byok`): only its client can fix that, and it says nothing of the
    /// backend.
    pub fn of_status(status: u16, clients_key: bool) -> Self {
        match status {
            401 | 403 if !clients_key => Self::KeyRejected,
            status => Self::Status(status),
        }
    }

    /// A short name for logs and the status page.
    pub fn name(self) -> String {
        match self {
            Self::Connection => "connection".into(),
            Self::Timeout => "timeout".into(),
            Self::Status(status) => format!("status {status}"),
            Self::KeyRejected => "key rejected".into(),
        }
    }
}

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: FailureClass,
    /// What the upstream's `Retry-After` (or `retry-after-ms`) asked for.
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    /// Whether another attempt can hope to succeed where this one failed.
    pub fn retryable(&self, policy: &RetryPolicy) -> bool {
        match self.class {
            FailureClass::Connection | FailureClass::Timeout | FailureClass::KeyRejected => true,
            FailureClass::Status(status) => policy.on.contains(&status),
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Attempt the chain's target at this index, after waiting this long.
    Try {
        target: usize,
        wait_ms: u64,
    },
    GiveUp,
}

/// The attempts of one request along its chain.
#[derive(Debug)]
pub struct Attempts<'c> {
    chain: &'c Chain<'c>,
    position: usize,
    /// Attempts made at the current target.
    tries: u32,
    count: u32,
    deadline: f64,
    rng: Rng,
}

impl<'c> Attempts<'c> {
    pub fn new(chain: &'c Chain<'c>, now_ms: f64, seed: u64) -> Self {
        let deadline = now_ms + chain.deadline_ms as f64;
        Self { chain, position: 0, tries: 0, count: 0, deadline, rng: Rng::new(seed) }
    }

    /// Attempts started so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The first attempt: at the first target `allowed` lets through (its breaker closed, or
    /// probing), or at the first of all when none is.
    pub fn first(&mut self, allowed: &mut dyn FnMut(&Backend) -> bool) -> Next {
        self.position = (0..self.chain.targets.len()).find(|&i| allowed(self.chain.targets[i].backend)).unwrap_or(0);
        self.start(0)
    }

    /// Whether a failure of the attempt now running could still be followed by another.
    pub fn may_follow(&self) -> bool {
        self.tries < self.chain.retry.attempts || self.position + 1 < self.chain.targets.len()
    }

    /// After a failed attempt: the same target again, the next one, or no more.
    pub fn after(&mut self, failure: &Failure, now_ms: f64, allowed: &mut dyn FnMut(&Backend) -> bool) -> Next {
        let policy = self.chain.retry;
        if !failure.retryable(policy) {
            return Next::GiveUp;
        }
        let keys = self.chain.targets[self.position].backend.api_key_env.len() as u32;
        let again = match failure.class {
            // Another key, at once; the rejected one is set aside by the key ring.
            FailureClass::KeyRejected => (self.tries < keys).then_some(0),
            _ if self.tries >= policy.attempts => None,
            _ => match failure.retry_after_ms {
                Some(wait) if wait > policy.retry_after_max_ms => None,
                Some(wait) => Some(wait),
                None => Some(self.backoff()),
            },
        };
        if let Some(wait) = again.filter(|wait| now_ms + (*wait as f64) < self.deadline) {
            return self.start(wait);
        }
        let rest = self.position + 1..self.chain.targets.len();
        match rest.into_iter().find(|&i| allowed(self.chain.targets[i].backend)) {
            Some(next) if now_ms < self.deadline => {
                self.position = next;
                self.tries = 0;
                self.start(0)
            }
            _ => Next::GiveUp,
        }
    }

    fn start(&mut self, wait_ms: u64) -> Next {
        self.tries += 1;
        self.count += 1;
        Next::Try { target: self.position, wait_ms }
    }

    /// Exponential backoff with full jitter: a random wait up to the doubled base.
    fn backoff(&mut self) -> u64 {
        let policy = self.chain.retry;
        let exponent = self.tries.saturating_sub(1).min(20);
        let ceiling = policy.backoff_ms.saturating_mul(1 << exponent).min(policy.max_backoff_ms);
        self.rng.below(ceiling + 1)
    }
}

/// The wait an upstream asked for, from `retry-after-ms` or `retry-after` (seconds); an HTTP date
/// there is not read.
pub fn retry_after_ms(header: impl Fn(&str) -> Option<String>) -> Option<u64> {
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then_some(ms as u64);
    }
    header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(|s| s.saturating_mul(1000))
}

#[cfg(test)]
mod tests;
