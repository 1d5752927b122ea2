//! Client keys: header values and a query string, separated by NUL bytes (the Workers runtime
//! never hands over a header holding one), and the configured keys. Reading the presented key
//! never panics, a key is accepted exactly when it is one of the configured ones, and a client's
//! own key (for `byok` backends) is never a key of the proxy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::auth;

fuzz_target!(|data: &[u8]| {
    let parts: Vec<String> = data.split(|&b| b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    let part = |i: usize| parts.get(i).map(String::as_str);
    // An empty part is a header the request did not have.
    let header = |name: &str| {
        let i = match name {
            "authorization" => 0,
            "x-api-key" => 1,
            "x-goog-api-key" => 2,
            auth::PROXY_KEY_HEADER => 7,
            _ => return None,
        };
        part(i).filter(|v| !v.is_empty()).map(str::to_string)
    };
    let query = part(3).unwrap_or_default();
    let configured = part(4).unwrap_or("k1,k2");
    let presented = auth::presented_key(header, query);
    if let Some(key) = &presented {
        assert!(!key.is_empty() || part(0).is_none_or(|v| !v.trim().to_ascii_lowercase().starts_with("bearer ")));
    }
    let authorized = auth::is_authorized(configured, presented.as_deref());
    let listed =
        presented.as_deref().is_some_and(|p| configured.split(',').map(str::trim).any(|k| !k.is_empty() && k == p));
    assert_eq!(authorized, listed, "configured {configured:?}, presented {presented:?}");
    let _ = auth::is_local(part(5).unwrap_or_default(), part(6));
    let _ = auth::client_key(header, query);
    for needed in [true, false] {
        let own = auth::own_key(header, query, needed, |key| auth::is_proxy_key(key, Some(configured)));
        if let Some(own) = own {
            assert!(!auth::is_authorized(configured, Some(&own)) && !own.starts_with("sk-llmp-"), "{own:?}");
        }
    }
});
