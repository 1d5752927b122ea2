//! Errors the proxy reports, with each dialect's names for their kinds: read from what upstreams
//! say, and written in the error shapes the dialects' codecs use.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    PayloadTooLarge,
    RateLimit,
    /// The account behind the backend's key cannot pay (OpenAI `insufficient_quota`).
    Billing,
    /// A failure of the proxy or of the upstream that is nobody's input fault.
    Api,
    Overloaded,
    /// The upstream took longer than its deadline.
    Timeout,
}

impl ErrorKind {
    /// The kind that matches an HTTP status, for upstream errors whose body says nothing better.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::Permission,
            404 => Self::NotFound,
            413 => Self::PayloadTooLarge,
            402 => Self::Billing,
            429 => Self::RateLimit,
            529 | 503 => Self::Overloaded,
            504 => Self::Timeout,
            400..=499 => Self::InvalidRequest,
            _ => Self::Api,
        }
    }

    /// Anthropic's name for the kind, which Bedrock's stream exceptions also map to (see
    /// `bedrock::write_error_event`).
    pub fn anthropic_type(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::PayloadTooLarge => "request_too_large",
            Self::RateLimit => "rate_limit_error",
            Self::Billing => "billing_error",
            Self::Api => "api_error",
            Self::Overloaded => "overloaded_error",
            Self::Timeout => "timeout_error",
        }
    }

    fn gemini_status(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge => "INVALID_ARGUMENT",
            Self::Authentication => "UNAUTHENTICATED",
            Self::Permission => "PERMISSION_DENIED",
            Self::NotFound => "NOT_FOUND",
            Self::RateLimit | Self::Billing => "RESOURCE_EXHAUSTED",
            Self::Api => "INTERNAL",
            Self::Overloaded => "UNAVAILABLE",
            Self::Timeout => "DEADLINE_EXCEEDED",
        }
    }

    fn openai_type(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RateLimit => "rate_limit_error",
            Self::Billing => "insufficient_quota",
            Self::Api | Self::Overloaded | Self::Timeout => "api_error",
        }
    }

    /// The kind and usual status an upstream's own name for an error stands for: Anthropic's and
    /// OpenAI's types and codes, and Gemini's statuses.
    fn named(name: &str) -> Option<(u16, Self)> {
        Some(match name {
            "invalid_request_error" | "invalid_request" | "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => {
                (400, Self::InvalidRequest)
            }
            "authentication_error" | "invalid_api_key" | "UNAUTHENTICATED" => (401, Self::Authentication),
            "billing_error" | "insufficient_quota" => (402, Self::Billing),
            "permission_error" | "PERMISSION_DENIED" => (403, Self::Permission),
            "not_found_error" | "model_not_found" | "NOT_FOUND" => (404, Self::NotFound),
            "request_too_large" => (413, Self::PayloadTooLarge),
            "rate_limit_error" | "rate_limit_exceeded" | "RESOURCE_EXHAUSTED" => (429, Self::RateLimit),
            "overloaded_error" | "UNAVAILABLE" => (529, Self::Overloaded),
            "timeout_error" | "DEADLINE_EXCEEDED" => (504, Self::Timeout),
            "api_error" | "server_error" | "INTERNAL" => (500, Self::Api),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    /// The request field the error is about, when there is one (OpenAI's `param`).
    pub param: Option<String>,
    /// The upstream's own code for the error (OpenAI's `code`, Gemini's `status`), kept for
    /// OpenAI-shaped clients, which have a place for it.
    pub code: Option<String>,
    /// The message is the upstream's own words, which may repeat a credential.
    pub upstream_said: bool,
}

impl ProxyError {
    pub fn new(status: u16, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into(), param: None, code: None, upstream_said: false }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, ErrorKind::InvalidRequest, message)
    }

    /// A 400 for a request field that the chosen backend cannot carry.
    pub fn unsupported(field: &str, why: impl std::fmt::Display) -> Self {
        let mut error = Self::invalid(format!("`{field}` cannot be sent to this backend: {why}"));
        error.param = Some(field.to_string());
        error
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorKind::Api, message)
    }

    /// A failure of the upstream itself (unreachable, malformed or cut-off answer).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, ErrorKind::Api, message)
    }

    /// The upstream took longer than its deadline.
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(504, ErrorKind::Timeout, message)
    }

    /// The error object both OpenAI dialects use: `{"message", "type", "param", "code"}`.
    pub fn openai_object(&self) -> Value {
        json!({"message": self.message, "type": self.kind.openai_type(), "param": self.param, "code": self.code})
    }

    /// The error as Anthropic's error body.
    pub fn anthropic_body(&self) -> Value {
        json!({"type": "error", "error": {"type": self.kind.anthropic_type(), "message": self.message}})
    }

    /// The error as Gemini's error body, which Gemini also sends inside a stream.
    pub fn gemini_body(&self) -> Value {
        json!({"error": {"code": self.status, "message": self.message, "status": self.kind.gemini_status()}})
    }

    /// Reads an error an upstream sent inside a stream: `{"type", "message"}` (Anthropic, Chat),
    /// `{"code", "message"}` (Responses), either one wrapped in `error`.
    pub fn from_stream_error(error: &Value) -> Self {
        let error = error.get("error").filter(|inner| inner.is_object()).unwrap_or(error);
        let (status, kind) = upstream_kind(error).unwrap_or((502, ErrorKind::Api));
        let message = error.get("message").and_then(Value::as_str).unwrap_or("the upstream reported an error");
        Self { upstream_said: true, code: upstream_code(error), ..Self::new(status, kind, message) }
    }

    /// The error without any of `secrets` in what the upstream said.
    pub fn redacted(self, secrets: &[&str]) -> Self {
        match self.upstream_said {
            true => Self { message: redact(&self.message, secrets), ..self },
            false => self,
        }
    }

    /// Reads an upstream error body in the backend's dialect, keeping the upstream's status and
    /// message so the client learns exactly what the backend said.
    pub fn from_upstream(status: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
        let message = error
            .and_then(|e| e.get("message").or_else(|| e.get("detail")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| error.and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("upstream answered HTTP {status}")
                } else {
                    truncate_chars(text, 1000)
                }
            });
        let kind = error.and_then(upstream_kind).map_or_else(|| ErrorKind::from_status(status), |(_, kind)| kind);
        let code = error.and_then(upstream_code);
        Self { upstream_said: true, code, ..Self::new(status, kind, message) }
    }
}

/// The kind an upstream error object names in `type`, `code` or `status`, when one is known.
fn upstream_kind(error: &Value) -> Option<(u16, ErrorKind)> {
    ["type", "code", "status"]
        .iter()
        .find_map(|field| error.get(*field).and_then(Value::as_str).and_then(ErrorKind::named))
}

/// The upstream's code: OpenAI's `code`, else Gemini's `status`.
fn upstream_code(error: &Value) -> Option<String> {
    ["code", "status"].iter().find_map(|field| error.get(*field).and_then(Value::as_str).map(str::to_string))
}

/// Secrets shorter than this are not searched for whole: a short value would match ordinary words.
const MIN_SECRET_BYTES: usize = 8;
/// A run of key-like characters holding this many characters in a row of a secret is taken for a
/// copy of it, whole or masked (OpenAI's 401 repeats a key's first and last characters).
const SHARED_BYTES: usize = 6;
const REDACTED: &str = "[redacted]";

/// `text` without any copy of the secrets, whole or in part, for messages an upstream wrote and
/// the client will read. Only runs of characters a key can hold are replaced, so JSON stays JSON.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_BYTES) {
        if text.contains(secret) {
            text = text.replace(secret, REDACTED);
        }
    }
    let windows: std::collections::HashSet<&[u8]> =
        secrets.iter().flat_map(|s| s.as_bytes().windows(SHARED_BYTES)).filter(|w| !w.contains(&b'*')).collect();
    if windows.is_empty() {
        return text;
    }
    let key_like = |b: u8| b.is_ascii_alphanumeric() || b"-_*.+/=~".contains(&b);
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    while start < bytes.len() {
        let end = start
            + bytes[start..].iter().position(|&b| key_like(b) != key_like(bytes[start])).unwrap_or(bytes.len() - start);
        let run = &text[start..end];
        let leaks = key_like(bytes[start]) && run.as_bytes().windows(SHARED_BYTES).any(|w| windows.contains(w));
        out.push_str(if leaks { REDACTED } else { run });
        start = end;
    }
    out
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_dialect() {
        let e = ProxyError::not_found("model `x` is not routed");
        assert_eq!(
            e.anthropic_body(),
            json!({"type":"error","error":{"type":"not_found_error","message":"model `x` is not routed"}})
        );
        assert_eq!(
            e.openai_object(),
            json!({"message": "model `x` is not routed", "type": "not_found_error", "param": null, "code": null})
        );
        assert_eq!(
            e.gemini_body(),
            json!({"error": {"code": 404, "message": "model `x` is not routed", "status": "NOT_FOUND"}})
        );
    }

    #[test]
    fn secrets_are_redacted_whole_and_masked_and_json_stays_json() {
        let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-********************************6789. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let clean = redact(body, &[key]);
        assert!(!clean.contains("sk-proj-"), "{clean}");
        let parsed: Value = serde_json::from_slice(clean.as_bytes()).unwrap();
        assert_eq!(parsed["error"]["code"], "invalid_api_key");
        assert!(parsed["error"]["message"].as_str().unwrap().contains("https://platform.openai.com/account/api-keys"));
        let whole = redact(&format!("bad key \"{key}\" (é)"), &[key]);
        assert_eq!(whole, "bad key \"[redacted]\" (é)");
        assert_eq!(redact("nothing to see", &[key, "k"]), "nothing to see");
        assert_eq!(redact("kkkk", &["k"]), "kkkk", "short values are not searched for");
    }

    #[test]
    fn upstream_messages_survive_from_both_dialects() {
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = ProxyError::from_upstream(529, anthropic);
        assert_eq!((e.status, e.kind, e.message.as_str()), (529, ErrorKind::Overloaded, "Overloaded"));
        let openai = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        let e = ProxyError::from_upstream(429, openai);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::RateLimit, "Rate limit reached"));
        let e = ProxyError::from_upstream(502, b"<html>bad gateway</html>");
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert_eq!(ProxyError::from_upstream(500, b"").message, "upstream answered HTTP 500");
    }
}
