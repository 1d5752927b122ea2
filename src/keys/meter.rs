//! The counters of one key, kept by its Durable Object, so that they are exact whatever the number
//! of isolates and locations: requests and tokens in a sliding window of the last 60 seconds, and
//! spend per budget period. A request reserves its estimated tokens and cost when it is admitted;
//! when its answer ends, the reservation is settled with the real usage.

use super::{KeyPolicy, Period};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The sliding window of requests and tokens.
pub const WINDOW_MS: f64 = 60_000.0;
const DAY_MS: f64 = 86_400_000.0;

/// How long a request that was never settled (its worker went away) keeps its reserved cost.
pub const UNSETTLED_KEPT_MS: f64 = 10.0 * WINDOW_MS;

/// One admitted request: when, what it reserved (or, once settled, used), as the key's Durable
/// Object stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub at: f64,
    pub id: String,
    pub tokens: u64,
    pub cost: f64,
    pub settled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Meter {
    /// Admitted requests of the last minute, oldest first.
    window: VecDeque<Entry>,
    /// Requests admitted but not settled that fell out of the window (their tokens no longer
    /// count against the minute, their cost is still to be settled).
    #[serde(default)]
    unsettled: Vec<Entry>,
    period_start: f64,
    spent_usd: f64,
}

/// How much of a limit is used, for the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window frees what it holds now.
    pub reset_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
    /// Dollars left in the budget period, when the key has a budget.
    pub budget_left_usd: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    Requests,
    Tokens,
    Budget,
    /// Disabled, revoked or expired.
    Unusable,
    /// The model is not one the key may use.
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    pub reason: DenialReason,
    pub retry_after_seconds: u64,
    pub message: String,
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

impl Meter {
    /// The meter its stored entries and spend make, at `now`: what is older than the window
    /// counts only while unsettled.
    pub fn restore(entries: Vec<Entry>, period_start: f64, spent_usd: f64, now: f64) -> Self {
        let (mut window, mut unsettled) = (VecDeque::new(), Vec::new());
        let mut entries = entries;
        entries.sort_by(|a, b| a.at.total_cmp(&b.at));
        for entry in entries {
            if entry.at > now - WINDOW_MS {
                window.push_back(entry);
            } else if !entry.settled && entry.at > now - UNSETTLED_KEPT_MS {
                unsettled.push(entry);
            }
        }
        Self { window, unsettled, period_start, spent_usd }
    }

    /// The entry of request `id`, while it is kept.
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.window.iter().chain(&self.unsettled).find(|e| e.id == id)
    }

    /// When the budget period began, and what was spent in it.
    pub fn spend(&self) -> (f64, f64) {
        (self.period_start, self.spent_usd)
    }

    /// Admits a request that needs about `tokens` tokens and `cost` dollars, or says why not.
    pub fn admit(
        &mut self,
        policy: &KeyPolicy,
        now: f64,
        id: &str,
        tokens: u64,
        cost: f64,
    ) -> Result<Admission, Denial> {
        self.roll(policy, now);
        let deny = |reason, retry_after: f64, message: String, meter: &Self| Denial {
            reason,
            retry_after_seconds: retry_after.max(0.0).ceil() as u64,
            message,
            requests: meter.requests_window(policy, now),
            tokens: meter.tokens_window(policy, now),
        };
        if !policy.is_usable(now) {
            return Err(deny(
                DenialReason::Unusable,
                0.0,
                format!("key `{}` is disabled or expired", policy.name),
                self,
            ));
        }
        if let Some(rpm) = policy.rpm {
            if self.window.len() as u64 >= u64::from(rpm) {
                let retry = self.frees_at(0) - now;
                let message = format!("key `{}` has made {rpm} requests in the last minute, its limit", policy.name);
                return Err(deny(DenialReason::Requests, retry / 1000.0, message, self));
            }
        }
        if let Some(tpm) = policy.tpm {
            let used = self.tokens_used();
            if tokens > tpm {
                let message = format!(
                    "the request needs about {tokens} tokens, more than key `{}`'s {tpm} a minute",
                    policy.name
                );
                return Err(deny(DenialReason::Tokens, WINDOW_MS / 1000.0, message, self));
            }
            // What the window holds is the upstreams' word (any u64), so sums saturate.
            if used.saturating_add(tokens) > tpm {
                let retry = self.tokens_free_at(used.saturating_add(tokens) - tpm) - now;
                let message = format!("key `{}` has used {used} of its {tpm} tokens a minute", policy.name);
                return Err(deny(DenialReason::Tokens, retry / 1000.0, message, self));
            }
        }
        if let Some(budget) = policy.budget_usd {
            if self.spent_usd + cost > budget {
                let retry = period_end(policy.budget_period, now) - now;
                let period = match policy.budget_period {
                    Period::Day => "day",
                    Period::Week => "week",
                    Period::Month => "month",
                };
                let message = format!(
                    "key `{}` has spent ${:.4} of its ${budget} budget for this {period}",
                    policy.name, self.spent_usd
                );
                return Err(deny(DenialReason::Budget, retry / 1000.0, message, self));
            }
        }
        self.window.push_back(Entry { at: now, id: id.to_string(), tokens, cost, settled: false });
        self.spent_usd += cost;
        Ok(Admission {
            requests: self.requests_window(policy, now),
            tokens: self.tokens_window(policy, now),
            budget_left_usd: policy.budget_usd.map(|b| (b - self.spent_usd).max(0.0)),
        })
    }

    /// The real usage of an admitted request replaces its reservation.
    pub fn settle(&mut self, id: &str, tokens: u64, cost: f64) {
        let entry = self.window.iter_mut().chain(self.unsettled.iter_mut()).find(|e| e.id == id && !e.settled);
        if let Some(entry) = entry {
            self.spent_usd += cost - entry.cost;
            self.spent_usd = self.spent_usd.max(0.0);
            (entry.tokens, entry.cost, entry.settled) = (tokens, cost, true);
        }
        self.unsettled.retain(|e| !e.settled);
    }

    /// What the key has used, for the admin API.
    pub fn usage(&mut self, policy: &KeyPolicy, now: f64) -> serde_json::Value {
        self.roll(policy, now);
        serde_json::json!({
            "requests_last_minute": self.window.len(),
            "tokens_last_minute": self.tokens_used(),
            "spent_usd": self.spent_usd,
            "budget_period_start_ms": self.period_start as u64,
            "unsettled": self.window.iter().chain(&self.unsettled).filter(|e| !e.settled).count(),
        })
    }

    /// Drops what left the window, and starts a new budget period when one began.
    fn roll(&mut self, policy: &KeyPolicy, now: f64) {
        while self.window.front().is_some_and(|e| e.at <= now - WINDOW_MS) {
            if let Some(entry) = self.window.pop_front().filter(|e| !e.settled) {
                self.unsettled.push(entry);
            }
        }
        // A request never settled keeps its reserved cost for a while, then is let go.
        self.unsettled.retain(|e| e.at > now - UNSETTLED_KEPT_MS);
        let start = period_start(policy.budget_period, now);
        if start != self.period_start {
            self.period_start = start;
            self.spent_usd = 0.0;
        }
    }

    fn tokens_used(&self) -> u64 {
        self.window.iter().fold(0, |sum, e| sum.saturating_add(e.tokens))
    }

    /// When the `n`th oldest request leaves the window.
    fn frees_at(&self, n: usize) -> f64 {
        self.window.get(n).map_or(0.0, |e| e.at + WINDOW_MS)
    }

    /// When at least `needed` tokens have left the window.
    fn tokens_free_at(&self, needed: u64) -> f64 {
        let mut freed = 0u64;
        for entry in &self.window {
            freed = freed.saturating_add(entry.tokens);
            if freed >= needed {
                return entry.at + WINDOW_MS;
            }
        }
        self.window.back().map_or(0.0, |e| e.at + WINDOW_MS)
    }

    fn requests_window(&self, policy: &KeyPolicy, now: f64) -> Option<Window> {
        policy.rpm.map(|rpm| Window {
            limit: u64::from(rpm),
            remaining: u64::from(rpm).saturating_sub(self.window.len() as u64),
            reset_seconds: ((self.frees_at(0) - now) / 1000.0).max(0.0),
        })
    }

    fn tokens_window(&self, policy: &KeyPolicy, now: f64) -> Option<Window> {
        policy.tpm.map(|tpm| Window {
            limit: tpm,
            remaining: tpm.saturating_sub(self.tokens_used()),
            reset_seconds: ((self.frees_at(0) - now) / 1000.0).max(0.0),
        })
    }
}

/// When the budget period holding `now` began (ms since the epoch, UTC).
pub fn period_start(period: Period, now: f64) -> f64 {
    let day = (now / DAY_MS).floor();
    match period {
        Period::Day => day * DAY_MS,
        // 1970-01-01 was a Thursday; weeks start on Mondays.
        Period::Week => (day - (day + 3.0).rem_euclid(7.0)) * DAY_MS,
        Period::Month => {
            let (year, month, _) = civil_from_days(day as i64);
            days_from_civil(year, month, 1) as f64 * DAY_MS
        }
    }
}

/// When the budget period holding `now` ends.
pub fn period_end(period: Period, now: f64) -> f64 {
    let start = period_start(period, now);
    match period {
        Period::Day => start + DAY_MS,
        Period::Week => start + 7.0 * DAY_MS,
        Period::Month => {
            let (year, month, _) = civil_from_days((start / DAY_MS) as i64);
            let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            days_from_civil(year, month, 1) as f64 * DAY_MS
        }
    }
}

/// The civil date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The day counted from 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
