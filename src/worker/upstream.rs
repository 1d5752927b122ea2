//! The upstream call: the request the core planned, sent with deadlines and without following
//! redirects, and its answer handed back to the client, translated, streamed or not.

use super::{glue, google_auth, json_response, meta_headers, stream_response};
use crate::error::ProxyError;
use crate::limits::Limits;
use crate::proxy::UpstreamCall;
use worker::{Context, Env, Headers, Method, Request, RequestInit, RequestRedirect, Response, ResponseBody};

/// The most of an upstream's error body that is read: enough for any message, and bounded.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// The largest whole (not streamed) answer accepted from an upstream.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

pub async fn forward(
    mut call: UpstreamCall,
    env: &Env,
    ctx: &Context,
    limits: &Limits,
) -> Result<Response, ProxyError> {
    let headers = Headers::new();
    for (name, value) in &call.headers {
        headers.set(name, value).map_err(|_| {
            ProxyError::internal(format!("the upstream header `{name}` has a value that is not allowed"))
        })?;
    }
    if let Some(settings) = &call.vertex {
        let token = google_auth::bearer(env, ctx, settings, limits).await?;
        headers.set("authorization", &format!("Bearer {token}")).map_err(|e| ProxyError::internal(e.to_string()))?;
        call.secrets.push(token);
    }
    let mut init = RequestInit::new();
    // A redirect would carry the backend's key to wherever it points.
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(js_sys::Uint8Array::from(call.body.as_slice()).into()));
    let request = Request::new_with_init(&call.url, &init)
        .map_err(|e| ProxyError::internal(format!("could not build the upstream request: {e}")))?;
    let secrets: Vec<&str> = call.secrets.iter().map(String::as_str).collect();
    let upstream = glue::fetch(&request, limits.first_byte_ms)
        .await
        .map_err(|e| {
            ProxyError::bad_gateway(format!("could not reach the upstream: {}", crate::error::redact(&e, &secrets)))
        })?
        .ok_or_else(|| {
            ProxyError::gateway_timeout(format!(
                "the upstream sent no answer within {} s (LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS)",
                limits.first_byte_ms / 1000
            ))
        })?;
    let status = upstream.status_code();
    if (300..400).contains(&status) {
        return Err(ProxyError::bad_gateway(format!(
            "the upstream answered with a redirect (HTTP {status}), which is not followed: check the backend's base_url"
        )));
    }
    let mut meta = meta_headers(&call.backend, &call.dropped);
    for name in ["request-id", "x-request-id"] {
        if let Ok(Some(value)) = upstream.headers().get(name) {
            meta.push((name, value));
        }
    }
    let exchange = call.exchange;
    let body = match upstream.body() {
        ResponseBody::Stream(stream) => Some(stream.clone()),
        _ => None,
    };
    if !(200..300).contains(&status) {
        let bytes =
            read_answer(body, MAX_ERROR_BODY_BYTES, limits).await.unwrap_or_else(|error| error.message.into_bytes());
        let bytes = &bytes[..bytes.len().min(MAX_ERROR_BODY_BYTES)];
        let body = exchange.translate_error(status, bytes, &secrets);
        return json_response(status, &body, &meta);
    }
    if call.stream {
        let Some(body) = body else {
            return Err(ProxyError::bad_gateway("the upstream sent no body"));
        };
        let transcoder = exchange.transcoder().redacting(call.secrets.clone());
        let stream = glue::transcoded(body, transcoder, limits.idle_ms);
        let response = Response::from_body(ResponseBody::Stream(stream))
            .map_err(|e| ProxyError::internal(format!("could not build the response: {e}")))?;
        return stream_response(response, &meta);
    }
    let bytes = read_answer(body, MAX_ANSWER_BYTES, limits).await?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(ProxyError::bad_gateway(format!("the upstream's answer is larger than {MAX_ANSWER_BYTES} bytes")));
    }
    let body = if exchange.is_passthrough() { bytes } else { exchange.translate_response(&bytes)? };
    json_response(status, &body, &meta)
}

/// An upstream body, read with the idle deadline.
async fn read_answer(
    body: Option<web_sys::ReadableStream>,
    limit: usize,
    limits: &Limits,
) -> Result<Vec<u8>, ProxyError> {
    glue::read(body, limit, limits.idle_ms).await.map_err(|failure| match failure {
        glue::ReadFailure::TimedOut => ProxyError::gateway_timeout(format!(
            "the upstream's answer stopped for {} s (LLMPROXY_IDLE_TIMEOUT_SECONDS)",
            limits.idle_ms / 1000
        )),
        glue::ReadFailure::Failed(why) => ProxyError::bad_gateway(format!("reading the upstream failed: {why}")),
    })
}
