//! Bytes as a whole upstream answer for every (client, backend) pair, and as an upstream error
//! body: a translated answer is JSON, a translated error is JSON in the client's error shape, and
//! no error repeats the backend's key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmproxy::proxy::Exchange;
use llmproxy_fuzz::{assert_json, DIALECTS, SECRET};

fuzz_target!(|body: &[u8]| {
    let status = [400u16, 401, 404, 429, 500, 503, 529][body.len() % 7];
    for (i, client) in DIALECTS.into_iter().enumerate() {
        for backend in DIALECTS {
            let exchange = Exchange::between(client, backend);
            if let Ok(answer) = exchange.translate_response(body) {
                assert_json(&answer, "a translated answer");
            }
        }
        // An error body reads the same from any other backend: once through the passthrough, once
        // translated.
        for backend in [client, DIALECTS[(i + 1) % DIALECTS.len()]] {
            let exchange = Exchange::between(client, backend);
            let error = exchange.translate_error(status, body, &[SECRET]);
            let text = String::from_utf8_lossy(&error);
            assert!(!text.contains(SECRET), "{client:?} ← {backend:?}: the error repeats the key: {text}");
            if !exchange.is_passthrough() {
                let error = assert_json(&error, "a translated error");
                assert!(error.get("error").is_some_and(|e| e.is_object()), "not an error body: {error}");
            }
        }
    }
});
