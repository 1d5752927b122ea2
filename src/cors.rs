//! CORS for browser clients: the origins `LLMPROXY_CORS_ORIGINS` allows to read the worker's
//! answers, the answer to a preflight, and the headers every answer to an allowed origin carries.
//! An origin not allowed gets no CORS header at all, so the browser withholds the answer from its
//! page. Credentials (cookies) are never allowed: keys travel in headers, which CORS lets through.

use crate::error::ProxyError;

/// The var that lists the allowed origins.
pub const ORIGINS_VAR: &str = "LLMPROXY_CORS_ORIGINS";

/// The request headers a preflight may ask for: what the OpenAI, Anthropic and Google SDKs send
/// from a browser, and the proxy's own key header. `x-stainless-*` (the OpenAI and Anthropic SDKs'
/// platform and retry headers) are allowed by their prefix.
const ALLOWED_HEADERS: [&str; 13] = [
    "authorization",
    "content-type",
    "x-api-key",
    "x-goog-api-key",
    "x-goog-api-client",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "openai-organization",
    "openai-project",
    "openai-beta",
    "x-llmproxy-key",
    "accept",
];
const ALLOWED_HEADER_PREFIX: &str = "x-stainless-";

/// The answer headers a page may read: the proxy's own, and those SDKs read to retry and report.
const EXPOSED_HEADERS: &str = "x-llmproxy-backend, x-llmproxy-model, x-llmproxy-attempts, x-llmproxy-dropped, \
     x-llmproxy-estimate, retry-after, request-id, x-request-id, x-ratelimit-limit-requests, \
     x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, \
     x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens";

/// How long a browser may keep a preflight's answer (browsers cap it lower: Chromium at 2 hours).
const MAX_AGE_SECONDS: u32 = 86_400;

/// The origins whose pages may read the worker's answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origins {
    /// No CORS (the var is unset or empty): browsers withhold every answer from other origins.
    #[default]
    None,
    /// `*`: every origin, `null` included, which no credential could then be sent with anyway.
    Any,
    /// Exactly these origins, lower-cased.
    Listed(Vec<String>),
}

impl Origins {
    /// The origins the var's value lists: `*` alone, or origins separated by commas, each as a
    /// browser sends it (`https://app.example.com`, `http://localhost:5173`): a scheme, `://` and
    /// a host with an optional port, nothing after it. `null` is refused: any page can make its
    /// origin `null` (a sandboxed frame, a file), so allowing it would allow every page.
    pub fn from_var(value: Option<&str>) -> Result<Self, ProxyError> {
        let entries: Vec<&str> =
            value.unwrap_or_default().split(',').map(str::trim).filter(|entry| !entry.is_empty()).collect();
        match entries.as_slice() {
            [] => return Ok(Self::None),
            ["*"] => return Ok(Self::Any),
            _ => {}
        }
        let refuse = |entry: &str, why: &str| {
            ProxyError::internal(format!("{ORIGINS_VAR}: `{entry}` is not an origin: {why} (or set `*` alone)"))
        };
        let mut listed = Vec::new();
        for entry in entries {
            let Some((scheme, host)) = entry.split_once("://") else {
                return Err(refuse(entry, "an origin is a scheme, `://` and a host, like https://app.example.com"));
            };
            let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            let host_ok = !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
                && !host.ends_with(':');
            if !scheme_ok || !host_ok {
                return Err(refuse(
                    entry,
                    "it holds more than a scheme and a host with an optional port (no path, no `*`)",
                ));
            }
            listed.push(entry.to_ascii_lowercase());
        }
        Ok(Self::Listed(listed))
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`: `*`, the origin itself,
    /// or None when its page may not read the answer. Origins are compared whole, so
    /// `https://app.example.com.evil.io` is not `https://app.example.com`.
    pub fn allowed(&self, origin: Option<&str>) -> Option<String> {
        let origin = origin?;
        match self {
            Self::None => None,
            Self::Any => Some("*".to_string()),
            Self::Listed(listed) => {
                listed.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)).then(|| origin.to_string())
            }
        }
    }
}

/// The headers every answer to an allowed origin carries, a preflight's included: who may read
/// it, that it differs by origin, and which of its headers the page may read.
pub fn answer_headers(allowed: &str) -> Vec<(&'static str, String)> {
    vec![
        ("access-control-allow-origin", allowed.to_string()),
        ("vary", "Origin".to_string()),
        ("access-control-expose-headers", EXPOSED_HEADERS.to_string()),
    ]
}

/// What the answer to an allowed origin's preflight adds to `answer_headers`: the methods, the
/// headers it asked for that the SDKs need (the others left out, so the browser refuses to send
/// them), and how long the answer holds.
pub fn preflight_headers(requested: Option<&str>) -> Vec<(&'static str, String)> {
    let requested: Vec<String> = requested
        .unwrap_or_default()
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| ALLOWED_HEADERS.contains(&name.as_str()) || name.starts_with(ALLOWED_HEADER_PREFIX))
        .collect();
    let headers = match requested.is_empty() {
        true => ALLOWED_HEADERS.join(", "),
        false => requested.join(", "),
    };
    vec![
        ("access-control-allow-methods", "GET, POST, HEAD, OPTIONS".to_string()),
        ("access-control-allow-headers", headers),
        ("access-control-max-age", MAX_AGE_SECONDS.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(value: &str) -> Origins {
        Origins::from_var(Some(value)).unwrap()
    }

    #[test]
    fn only_a_listed_origin_whole_is_allowed() {
        let origins = listed("https://allowed.example.com, http://localhost:5173");
        assert_eq!(
            origins.allowed(Some("https://allowed.example.com")).as_deref(),
            Some("https://allowed.example.com")
        );
        assert_eq!(
            origins.allowed(Some("HTTPS://Allowed.Example.com")).as_deref(),
            Some("HTTPS://Allowed.Example.com")
        );
        assert_eq!(origins.allowed(Some("http://localhost:5173")).as_deref(), Some("http://localhost:5173"));
        for hostile in [
            "https://allowed.example.com.evil.io",
            "https://evil-allowed.example.com",
            "https://allowed.example.com:8443",
            "http://allowed.example.com",
            "https://allowed.example.com/",
            "null",
            "",
            "http://localhost",
        ] {
            assert_eq!(origins.allowed(Some(hostile)), None, "{hostile}");
        }
        assert_eq!(origins.allowed(None), None, "no Origin, no CORS");
    }

    #[test]
    fn a_star_allows_every_origin_and_no_var_none() {
        assert_eq!(listed(" * ").allowed(Some("null")).as_deref(), Some("*"));
        assert_eq!(listed("*").allowed(Some("https://a.example")).as_deref(), Some("*"));
        assert_eq!(Origins::from_var(None).unwrap(), Origins::None);
        assert_eq!(listed(" , ").allowed(Some("https://a.example")), None);
    }

    #[test]
    fn what_is_not_an_origin_is_refused_naming_the_var() {
        for bad in [
            "null",
            "*, https://a.example",
            "https://*.example.com",
            "https://a.example/",
            "https://a.example/path",
            "a.example",
            "https://",
            "https://a.example:",
            "https://user@a.example",
            "1http://a.example",
        ] {
            let error = Origins::from_var(Some(bad)).unwrap_err();
            assert!(error.message.starts_with(ORIGINS_VAR), "{bad}: {}", error.message);
            assert_eq!(error.status, 500);
        }
        assert!(listed("chrome-extension://abcdef, http://[::1]:8080").allowed(Some("http://[::1]:8080")).is_some());
    }

    #[test]
    fn a_preflight_allows_the_sdk_headers_it_asks_for_and_no_others() {
        let headers = preflight_headers(Some(
            "Authorization, content-type,x-stainless-os, X-Stainless-Retry-Count, anthropic-version, x-evil, cookie",
        ));
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("access-control-allow-headers"),
            Some("authorization, content-type, x-stainless-os, x-stainless-retry-count, anthropic-version")
        );
        assert_eq!(get("access-control-max-age"), Some("86400"));
        assert!(get("access-control-allow-methods").unwrap().contains("POST"));
        assert!(!headers.iter().any(|(name, _)| name.contains("credentials")));
        let unasked = preflight_headers(None);
        let allowed = unasked.iter().find(|(n, _)| *n == "access-control-allow-headers").unwrap();
        for name in ["authorization", "x-api-key", "x-goog-api-key", "anthropic-beta", "x-llmproxy-key"] {
            assert!(allowed.1.contains(name), "{name}");
        }
    }

    #[test]
    fn answers_expose_the_proxys_headers() {
        let headers = answer_headers("*");
        let exposed = &headers.iter().find(|(n, _)| *n == "access-control-expose-headers").unwrap().1;
        for name in [
            "x-llmproxy-backend",
            "x-llmproxy-model",
            "x-llmproxy-attempts",
            "x-llmproxy-dropped",
            "x-llmproxy-estimate",
        ] {
            assert!(exposed.contains(name), "{name}");
        }
        assert!(headers.contains(&("vary", "Origin".to_string())));
    }
}
