//! Client authentication against the `LLMPROXY_API_KEY` secret, and the client's own key for
//! backends that take it (`byok`).

/// The header a client sends the proxy's key in when the header its SDK sends keys in carries
/// the client's own key for a backend (`byok`).
pub const PROXY_KEY_HEADER: &str = "x-llmproxy-key";

/// The key a client presented to the proxy: `x-llmproxy-key`, else its SDK's key (`presented_key`).
pub fn client_key(header: impl Fn(&str) -> Option<String>, query: &str) -> Option<String> {
    let apart = header(PROXY_KEY_HEADER).map(|key| key.trim().to_string()).filter(|key| !key.is_empty());
    apart.or_else(|| presented_key(header, query))
}

/// The client's own key for backends that take it (`byok`): the key its SDK sends, when the
/// proxy's key came apart in `x-llmproxy-key` or none is needed. Never a key of the proxy
/// (`is_proxy_key`), whichever header it came in, so that none goes upstream.
pub fn own_key(
    header: impl Fn(&str) -> Option<String>,
    query: &str,
    proxy_key_needed: bool,
    is_proxy_key: impl Fn(&str) -> bool,
) -> Option<String> {
    if proxy_key_needed && header(PROXY_KEY_HEADER).is_none() {
        return None;
    }
    presented_key(header, query).filter(|key| !key.is_empty() && !is_proxy_key(key))
}

/// Whether `key` is one of the proxy's keys: one of the comma-separated `static_keys`
/// (`LLMPROXY_API_KEY`), or anything that starts as the keys the proxy issues do, valid or not.
pub fn is_proxy_key(key: &str, static_keys: Option<&str>) -> bool {
    key.starts_with(crate::keys::PREFIX) || static_keys.is_some_and(|keys| is_authorized(keys, Some(key)))
}

/// The key a client presented, in whichever way its SDK sends it: `Authorization: Bearer` (OpenAI
/// SDKs, Anthropic SDKs), `x-api-key` (Claude Code), `x-goog-api-key` (Gemini SDKs) or `?key=`.
pub fn presented_key(header: impl Fn(&str) -> Option<String>, query: &str) -> Option<String> {
    if let Some(value) = header("authorization") {
        // `get` rather than slicing: a multi-byte character across byte 7 is not a char boundary.
        let value = value.trim();
        if let (Some(scheme), Some(key)) = (value.get(..7), value.get(7..)) {
            if scheme.eq_ignore_ascii_case("bearer ") && !key.trim().is_empty() {
                return Some(key.trim().to_string());
            }
        }
    }
    header("x-api-key").or_else(|| header("x-goog-api-key")).or_else(|| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("key="))
            .map(|key| percent_encoding::percent_decode_str(key).decode_utf8_lossy().into_owned())
    })
}

/// What a request is told when no client key is configured and it does not come from this machine.
pub const NO_KEY_CONFIGURED: &str = "this worker has no LLMPROXY_API_KEY, so it serves only requests from the machine it runs on: \
     set a key with `wrangler secret put LLMPROXY_API_KEY`, or set the var LLMPROXY_ALLOW_ANONYMOUS=true to serve anyone";

/// The host (without its port) and the query (without `?`) of a URL as the runtime serializes it
/// (`https://host:port/path?query#fragment`, WHATWG), found without parsing it again.
pub fn host_and_query(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(host_port, |(address, _)| address),
        None => host_port.split_once(':').map_or(host_port, |(host, _)| host),
    };
    let query = url.split_once('?').map_or("", |(_, query)| query.split_once('#').map_or(query, |(query, _)| query));
    (host, query)
}

/// Whether a request comes from the machine the worker runs on (`wrangler dev`, Miniflare): the
/// URL names a loopback host and no client address says otherwise. On Cloudflare the URL is the
/// worker's public host and `CF-Connecting-IP` is the client's, so no request passes for local.
pub fn is_local(host: &str, connecting_ip: Option<&str>) -> bool {
    let loopback = |address: &str| {
        let address = address.trim().trim_start_matches('[').trim_end_matches(']');
        address == "localhost"
            || address == "::1"
            || address.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    };
    loopback(host) && connecting_ip.is_none_or(loopback)
}

/// Whether `presented` is one of the comma-separated `configured` keys. Every configured key is
/// compared, each in constant time, so timing tells nothing about which key came close.
pub fn is_authorized(configured: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    configured
        .split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .fold(false, |found, key| found | constant_time_eq::constant_time_eq(key.as_bytes(), presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_and_query_of_a_serialized_url() {
        assert_eq!(host_and_query("http://127.0.0.1:8787/v1/models?key=a&b=c"), ("127.0.0.1", "key=a&b=c"));
        assert_eq!(
            host_and_query("https://proxy.example.com/v1beta/models/m:streamGenerateContent?alt=sse#x"),
            ("proxy.example.com", "alt=sse")
        );
        assert_eq!(host_and_query("http://[::1]:8787/v1/chat/completions"), ("::1", ""));
        assert_eq!(host_and_query("http://user:pa@ss@localhost:1/?"), ("localhost", ""));
        assert_eq!(host_and_query("http://localhost"), ("localhost", ""));
        // A `?` or `@` past the authority is the path's or the query's, not the host's.
        assert_eq!(host_and_query("https://h.example/a@b?q=1?2"), ("h.example", "q=1?2"));
        assert!(is_local(host_and_query("http://[::1]:8787/x").0, None));
    }

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn finds_the_key_each_sdk_sends() {
        assert_eq!(presented_key(headers(&[("authorization", "Bearer sk-1")]), ""), Some("sk-1".into()));
        assert_eq!(presented_key(headers(&[("authorization", "bearer  sk-1 ")]), ""), Some("sk-1".into()));
        assert_eq!(presented_key(headers(&[("x-api-key", "sk-2")]), ""), Some("sk-2".into()));
        assert_eq!(presented_key(headers(&[("x-goog-api-key", "sk-3")]), ""), Some("sk-3".into()));
        assert_eq!(presented_key(headers(&[]), "alt=sse&key=sk%2D4"), Some("sk-4".into()));
        assert_eq!(presented_key(headers(&[("authorization", "Basic abc")]), ""), None);
        assert_eq!(presented_key(headers(&[]), "alt=sse"), None);
    }

    #[test]
    fn a_multi_byte_character_anywhere_in_the_header_is_no_key_and_no_panic() {
        for value in ["xxxxxxé-key", "Bearer", "bearer ", "ééééé", "Bearer é", "      é"] {
            let presented = presented_key(headers(&[("authorization", value)]), "");
            assert!(presented.as_deref().is_none_or(|key| !key.is_empty()), "{value:?}");
        }
        assert_eq!(presented_key(headers(&[("authorization", "Bearer é")]), ""), Some("é".into()));
    }

    #[test]
    fn only_loopback_requests_are_local() {
        assert!(is_local("127.0.0.1", None));
        assert!(is_local("localhost", Some("127.0.0.1")));
        assert!(is_local("[::1]", Some("::1")));
        assert!(!is_local("llmproxy.example.workers.dev", None));
        assert!(!is_local("127.0.0.1", Some("203.0.113.9")), "a client elsewhere");
        assert!(!is_local("127.0.0.1.nip.io", None));
        assert!(!is_local("", None));
    }

    #[test]
    fn the_proxys_key_apart_leaves_the_sdks_key_as_the_clients_own() {
        let issued = format!("sk-llmp-{}-{}", "a".repeat(12), "b".repeat(40));
        let is_proxy_key = |key: &str| is_proxy_key(key, Some("proxy-1, proxy-2"));
        let apart = [("x-llmproxy-key", "proxy-1"), ("authorization", "Bearer sk-own")];
        assert_eq!(client_key(headers(&apart), ""), Some("proxy-1".into()));
        assert_eq!(own_key(headers(&apart), "", true, is_proxy_key), Some("sk-own".into()));
        let gemini = [("x-llmproxy-key", "proxy-1"), ("x-goog-api-key", "own-gemini")];
        assert_eq!(own_key(headers(&gemini), "", true, is_proxy_key), Some("own-gemini".into()));
        assert_eq!(
            own_key(headers(&[("x-llmproxy-key", "proxy-1")]), "key=own-q", true, is_proxy_key),
            Some("own-q".into())
        );
        // The SDK's header carries the proxy's key: it is nobody's own key.
        assert_eq!(own_key(headers(&[("authorization", "Bearer proxy-1")]), "", true, is_proxy_key), None);
        for proxy_key in ["proxy-1", "proxy-2", issued.as_str(), "sk-llmp-not-quite-one"] {
            let both = [("x-llmproxy-key", "proxy-1"), ("x-api-key", proxy_key)];
            assert_eq!(own_key(headers(&both), "", true, is_proxy_key), None, "{proxy_key}");
        }
        // No proxy key is needed (anonymous): the SDK's key is the client's own, unless it is issued.
        assert_eq!(own_key(headers(&[("x-api-key", "sk-own")]), "", false, is_proxy_key), Some("sk-own".into()));
        assert_eq!(own_key(headers(&[("x-api-key", issued.as_str())]), "", false, is_proxy_key), None);
        assert_eq!(own_key(headers(&[("x-llmproxy-key", "proxy-1")]), "", true, is_proxy_key), None);
        assert_eq!(client_key(headers(&[("x-llmproxy-key", " "), ("x-api-key", "k")]), ""), Some("k".into()));
    }

    #[test]
    fn accepts_any_listed_key_and_nothing_else() {
        assert!(is_authorized("k1, k2", Some("k2")));
        assert!(is_authorized("k1", Some("k1")));
        assert!(!is_authorized("k1,k2", Some("k3")));
        assert!(!is_authorized("k1,k2", Some("k1,k2")));
        assert!(!is_authorized("k1", None));
        assert!(!is_authorized(" , ", Some("")));
    }
}
