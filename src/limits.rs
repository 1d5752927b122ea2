//! The worker's bounds and deadlines, each with a default and a var that changes it. A var that
//! is set but unreadable is an error naming it, never a silent fallback to the default.

use crate::error::ProxyError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The largest request body accepted, counted as it is read (`LLMPROXY_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// From sending a request upstream to its response headers (`LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS`).
    /// Non-streamed answers send their headers only once the whole answer is made, so this is
    /// generous.
    pub first_byte_ms: u64,
    /// Between two chunks of an upstream body, streamed or not (`LLMPROXY_IDLE_TIMEOUT_SECONDS`).
    pub idle_ms: u64,
    /// A whole Vertex token exchange: signing, the request and its answer
    /// (`LLMPROXY_TOKEN_TIMEOUT_SECONDS`).
    pub token_ms: u64,
    /// How long an isolate keeps the KV config (`LLMPROXY_CONFIG_TTL_SECONDS`).
    pub config_ttl_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A request body is held several times over while it is translated (the bytes, the
            // parsed document, the body sent upstream), and an isolate has 128 MB for all of its
            // requests.
            max_body_bytes: 8 * 1024 * 1024,
            first_byte_ms: 300_000,
            idle_ms: 120_000,
            token_ms: 10_000,
            config_ttl_ms: 30_000,
        }
    }
}

impl Limits {
    /// The limits, with the vars `var` finds taking the place of the defaults.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let defaults = Self::default();
        let number = |name: &str, default: u64, min: u64| -> Result<u64, ProxyError> {
            match var(name) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(value) if value >= min => Ok(value),
                    _ => Err(ProxyError::internal(format!("{name} must be a whole number of at least {min}"))),
                },
            }
        };
        let seconds = |name: &str, default_ms: u64| number(name, default_ms / 1000, 1).map(|s| s.saturating_mul(1000));
        Ok(Self {
            max_body_bytes: number("LLMPROXY_MAX_BODY_BYTES", defaults.max_body_bytes as u64, 1)?
                .try_into()
                .unwrap_or(usize::MAX),
            first_byte_ms: seconds("LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS", defaults.first_byte_ms)?,
            idle_ms: seconds("LLMPROXY_IDLE_TIMEOUT_SECONDS", defaults.idle_ms)?,
            token_ms: seconds("LLMPROXY_TOKEN_TIMEOUT_SECONDS", defaults.token_ms)?,
            config_ttl_ms: number("LLMPROXY_CONFIG_TTL_SECONDS", defaults.config_ttl_ms / 1000, 0)?
                .saturating_mul(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_vars() {
        let limits = Limits::from_vars(|_| None).unwrap();
        assert_eq!(limits, Limits::default());
        assert_eq!(limits.max_body_bytes, 8 << 20);
        let vars = |name: &str| match name {
            "LLMPROXY_MAX_BODY_BYTES" => Some("1024".to_string()),
            "LLMPROXY_IDLE_TIMEOUT_SECONDS" => Some(" 5 ".to_string()),
            "LLMPROXY_CONFIG_TTL_SECONDS" => Some("0".to_string()),
            _ => None,
        };
        let limits = Limits::from_vars(vars).unwrap();
        assert_eq!((limits.max_body_bytes, limits.idle_ms, limits.config_ttl_ms), (1024, 5000, 0));
    }

    #[test]
    fn an_unreadable_var_is_named() {
        for (name, value) in [
            ("LLMPROXY_IDLE_TIMEOUT_SECONDS", "soon"),
            ("LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS", "0"),
            ("LLMPROXY_MAX_BODY_BYTES", "-1"),
        ] {
            let error = Limits::from_vars(|n| (n == name).then(|| value.to_string())).unwrap_err();
            assert!(error.message.starts_with(name), "{}", error.message);
        }
    }
}
