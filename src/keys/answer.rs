//! How a key's admission or refusal is told to its client: the error in the client's dialect (a
//! 429 for a rate, a 402 for a spent budget, a 403 for a model the key may not use), and the
//! `Retry-After` and `x-ratelimit-*` headers as OpenAI names them.

use super::{Admission, Denial, DenialReason, Window};
use crate::error::{ErrorKind, ProxyError};

impl Denial {
    pub fn error(&self) -> ProxyError {
        let (status, kind, code) = match self.reason {
            DenialReason::Requests | DenialReason::Tokens => (429, ErrorKind::RateLimit, "rate_limit_exceeded"),
            DenialReason::Budget => (402, ErrorKind::Billing, "budget_exceeded"),
            DenialReason::Model => (403, ErrorKind::Permission, "model_not_allowed"),
            DenialReason::Unusable => (401, ErrorKind::Authentication, "invalid_api_key"),
        };
        let mut error = ProxyError::new(status, kind, self.message.clone());
        error.code = Some(code.into());
        error
    }

    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = limit_headers(self.requests, self.tokens);
        if matches!(self.reason, DenialReason::Requests | DenialReason::Tokens | DenialReason::Budget) {
            headers.push(("retry-after", self.retry_after_seconds.max(1).to_string()));
        }
        headers
    }
}

impl Admission {
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        limit_headers(self.requests, self.tokens)
    }
}

fn limit_headers(requests: Option<Window>, tokens: Option<Window>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    for (window, [limit, remaining, reset]) in [
        (requests, ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]),
        (tokens, ["x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"]),
    ] {
        if let Some(window) = window {
            headers.push((limit, window.limit.to_string()));
            headers.push((remaining, window.remaining.to_string()));
            headers.push((reset, duration(window.reset_seconds)));
        }
    }
    headers
}

/// A duration as OpenAI writes its resets: `20ms`, `1s`, `6m0s`, `1h2m3s`.
fn duration(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).ceil() as u64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total = ms.div_ceil(1000);
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_with_openais_rate_limit_headers() {
        let window = Window { limit: 60, remaining: 0, reset_seconds: 12.2 };
        let denial = Denial {
            reason: DenialReason::Requests,
            retry_after_seconds: 13,
            message: "m".into(),
            requests: Some(window),
            tokens: None,
        };
        assert_eq!((denial.error().status, denial.error().code.as_deref()), (429, Some("rate_limit_exceeded")));
        let headers = denial.headers();
        assert!(headers.contains(&("x-ratelimit-limit-requests", "60".into())));
        assert!(headers.contains(&("x-ratelimit-remaining-requests", "0".into())));
        assert!(headers.contains(&("x-ratelimit-reset-requests", "13s".into())));
        assert!(headers.contains(&("retry-after", "13".into())));
        assert!(!headers.iter().any(|(name, _)| name.ends_with("-tokens")), "no token limit, no token headers");
        let budget = Denial { reason: DenialReason::Budget, ..denial.clone() };
        assert_eq!((budget.error().status, budget.error().kind), (402, ErrorKind::Billing));
        let model = Denial { reason: DenialReason::Model, ..denial };
        assert_eq!(model.error().status, 403);
        assert!(!model.headers().iter().any(|(name, _)| *name == "retry-after"), "waiting does not help");
        assert_eq!(
            [duration(0.02), duration(1.0), duration(360.0), duration(3723.0)],
            ["20ms", "1s", "6m0s", "1h2m3s"]
        );
    }
}
