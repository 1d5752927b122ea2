//! The attempts of a request along its chain (`resilience::Attempts` decides; this runs them): each
//! attempt sent with deadlines and without following redirects, and its answer handed back to the
//! client, translated, streamed or not — or, when it failed before anything reached the client,
//! the next attempt made instead. The isolate's breakers and key rings remember backends across
//! requests.

use super::incoming::Incoming;
use super::outgoing::Outgoing;
use super::{glue, google_auth, json_response, meta_headers, stream_headers};
use crate::config::{Backend, BreakerPolicy};
use crate::error::ProxyError;
use crate::ir::Usage;
use crate::limits::Limits;
use crate::proxy::{Attempt, LocalAnswer, Plan, UpstreamCall};
use crate::resilience::{self, Attempts, Breakers, Failure, FailureClass, KeyRing, Next};
use futures_util::FutureExt;
use std::cell::RefCell;
use worker::{Context, Env};

/// The most of an upstream's error body that is read: enough for any message, and bounded.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// The largest whole (not streamed) answer accepted from an upstream.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// The headers of an upstream's answer the shell reads (one per line): the ids it passes on to
/// the client, and the wait it asks for before a retry (see `resilience::retry_after_ms`).
const ANSWER_HEADERS: &str = "request-id\nx-request-id\nretry-after\nretry-after-ms";

thread_local! {
    /// What the isolate knows of its backends: their breakers and their keys' turns.
    static BACKENDS: RefCell<(Breakers, KeyRing)> = RefCell::default();
}

/// A failed attempt, with what the client is told if no other attempt serves it.
struct Failed {
    failure: Failure,
    answer: Answer,
}

/// What a failed attempt would have the client told.
enum Answer {
    /// The upstream's own error answer, in the client's dialect, with its `Retry-After`.
    Upstream {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<String>,
    },
    Error(ProxyError),
}

/// What serving a request came to: the response for the client, and, for its usage record and its
/// key's meter, how it was served.
pub struct Served {
    pub response: Outgoing,
    /// The backend and model of the last attempt.
    pub backend: String,
    pub model: String,
    pub attempts: u32,
    pub status: u16,
    /// The class of the last failure, when no attempt served the client.
    pub error: Option<String>,
    /// What a whole answer used.
    pub usage: Option<Usage>,
    /// The end of a streamed answer, with what it used.
    pub stream_end: Option<glue::StreamEnd>,
}

/// An attempt that served the client.
struct Answered {
    response: Outgoing,
    usage: Option<Usage>,
    stream_end: Option<glue::StreamEnd>,
}

impl Failed {
    fn error(class: FailureClass, error: ProxyError) -> Self {
        Self { failure: Failure { class, retry_after_ms: None }, answer: Answer::Error(error) }
    }
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// Serves a planned request: attempts along its chain until one serves the client, or none can.
pub async fn serve(
    plan: &Plan<'_>,
    breaker: &BreakerPolicy,
    env: &Env,
    ctx: &Context,
    limits: &Limits,
    client: Option<&Incoming>,
) -> Result<Served, ProxyError> {
    let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    let mut attempts = Attempts::new(&plan.chain, now(), seed);
    let mut allowed =
        |backend: &Backend| BACKENDS.with_borrow_mut(|(breakers, _)| breakers.allows(&backend.name, breaker, now()));
    let mut next = attempts.first(&mut allowed);
    let mut last: Option<(Failed, &Backend, String)> = None;
    loop {
        let Next::Try { target, wait_ms } = next else {
            return match last {
                Some((failed, backend, model)) => given_up(failed, plan, &backend.name, model, attempts.count()),
                None => Err(ProxyError::bad_gateway("no target could be tried")),
            };
        };
        if wait_ms > 0 {
            super::task::sleep(wait_ms).await;
        }
        let backend = plan.chain.targets[target].backend;
        let key = BACKENDS.with_borrow_mut(|(_, keys)| keys.pick(backend, now()).map(str::to_string));
        let model = plan.chain.targets[target].model.clone();
        let call = match plan.attempt(target, key.as_deref())? {
            Attempt::Local(answer) => return local(answer, model, attempts.count()),
            Attempt::Upstream(call) => call,
        };
        match attempt(call, attempts.may_follow(), env, ctx, limits, client).await {
            Ok(answered) => {
                BACKENDS.with_borrow_mut(|(breakers, _)| breakers.success(&backend.name, now()));
                let status = answered.response.status();
                return Ok(Served {
                    response: with_attempt_headers(answered.response, &model, attempts.count()),
                    backend: backend.name.clone(),
                    model,
                    attempts: attempts.count(),
                    status,
                    error: None,
                    usage: answered.usage,
                    stream_end: answered.stream_end,
                });
            }
            Err(failed) => {
                BACKENDS.with_borrow_mut(|(breakers, keys)| {
                    if failed.failure.class == FailureClass::KeyRejected {
                        if let Some(key) = &key {
                            keys.set_aside(&backend.name, key, now());
                        }
                    }
                    // What the client got wrong says nothing of the backend.
                    if failed.failure.retryable(plan.chain.retry) {
                        breakers.failure(&backend.name, failed.failure.class.name(), breaker, now());
                    }
                });
                next = attempts.after(&failed.failure, now(), &mut allowed);
                last = Some((failed, backend, model));
            }
        }
    }
}

/// What the isolate knows of `backends`, for `GET /status`.
pub fn status<'a>(backends: impl Iterator<Item = &'a str>, breaker: &BreakerPolicy) -> serde_json::Value {
    BACKENDS.with_borrow(|(breakers, _)| breakers.status(backends, breaker, now()))
}

fn local(answer: LocalAnswer, model: String, attempts: u32) -> Result<Served, ProxyError> {
    let mut meta = meta_headers(&answer.backend, &answer.dropped);
    if answer.estimated {
        meta.push(("x-llmproxy-estimate", "true".into()));
    }
    let response = if answer.stream {
        stream_headers(Outgoing::bytes(200, answer.framing.content_type(), answer.body), &meta)
    } else {
        json_response(200, &answer.body, &meta)
    };
    Ok(Served {
        response: with_attempt_headers(response, &model, attempts),
        backend: answer.backend,
        model,
        attempts,
        status: 200,
        error: None,
        usage: answer.usage,
        stream_end: None,
    })
}

/// The last failure, as the client is told it once no attempt is left: the upstream's own error
/// answer and status (a 429 stays a 429, with its `Retry-After`), or the proxy's error.
fn given_up(failed: Failed, plan: &Plan, backend: &str, model: String, attempts: u32) -> Result<Served, ProxyError> {
    let error = Some(failed.failure.class.name());
    let (status, body, meta) = match failed.answer {
        Answer::Error(error) => (error.status, plan.client().error_body(&error).into_bytes(), Vec::new()),
        Answer::Upstream { status, body, retry_after } => {
            (status, body, retry_after.map(|value| ("retry-after", value)).into_iter().collect())
        }
    };
    Ok(Served {
        response: with_attempt_headers(json_response(status, &body, &meta), &model, attempts),
        backend: backend.to_string(),
        model,
        attempts,
        status,
        error,
        usage: None,
        stream_end: None,
    })
}

fn with_attempt_headers(response: Outgoing, model: &str, attempts: u32) -> Outgoing {
    // The model is the config's or the client's, checked to be printable when it was read.
    response.with("x-llmproxy-model", model).with("x-llmproxy-attempts", attempts.to_string())
}

/// One attempt. `may_follow`: another attempt could serve the client if this one fails before
/// anything reached it, so a stream's start is held back until its first content.
async fn attempt(
    mut call: UpstreamCall,
    may_follow: bool,
    env: &Env,
    ctx: &Context,
    limits: &Limits,
    client: Option<&Incoming>,
) -> Result<Answered, Failed> {
    if let Some(settings) = &call.vertex {
        // Boxed as a `dyn` future, polled through a call the compiler cannot inline: the code of
        // what most attempts do not take stays out of the function that makes every one.
        let token = google_auth::bearer(env, ctx, settings, limits).boxed_local().await.map_err(|error| {
            let class = if error.status == 504 { FailureClass::Timeout } else { FailureClass::Status(error.status) };
            Failed::error(class, error)
        })?;
        call.headers.push(("authorization".into(), format!("Bearer {token}")));
        call.secrets.push(token);
    }
    let lines = glue::header_lines(call.headers.iter().map(|(name, value)| (name.as_str(), value.as_str()))).map_err(
        |name| {
            let error = ProxyError::internal(format!("the upstream header `{name}` has a value that is not allowed"));
            Failed::error(FailureClass::Status(500), error)
        },
    )?;
    let secrets: Vec<&str> = call.secrets.iter().map(String::as_str).collect();
    let bounds = glue::Bounds {
        first_byte_ms: limits.first_byte_ms,
        idle_ms: limits.idle_ms,
        limit: MAX_ANSWER_BYTES,
        error_limit: MAX_ERROR_BODY_BYTES,
    };
    let glue::Exchanged { response: upstream, status, headers, body } =
        match glue::exchange(&call.url, &lines, &call.body, ANSWER_HEADERS, &bounds, call.stream).await {
            Ok(Some(exchanged)) => exchanged,
            Ok(None) => {
                let seconds = limits.first_byte_ms / 1000;
                let error = ProxyError::gateway_timeout(format!(
                    "the upstream sent no answer within {seconds} s (LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS)"
                ));
                return Err(Failed::error(FailureClass::Timeout, error));
            }
            Err(e) => {
                let error = ProxyError::bad_gateway(format!(
                    "could not reach the upstream: {}",
                    crate::error::redact(&e, &secrets)
                ));
                return Err(Failed::error(FailureClass::Connection, error));
            }
        };
    if (300..400).contains(&status) {
        let error = ProxyError::bad_gateway(format!(
            "the upstream answered with a redirect (HTTP {status}), which is not followed: check the backend's base_url"
        ));
        return Err(Failed::error(FailureClass::Status(status), error));
    }
    let header = |name: &str| headers.get(name);
    let mut meta = meta_headers(&call.backend, &call.dropped);
    for name in ["request-id", "x-request-id"] {
        if let Some(value) = header(name) {
            meta.push((name, value));
        }
    }
    let exchange = &call.exchange;
    // Read whole unless the answer is a stream's success (see `glue::exchange`).
    let whole = || match body {
        Some(read) => read.map_err(|failure| read_error(failure, limits)),
        None => Err(ProxyError::internal("the upstream's answer was not read")),
    };
    if !(200..300).contains(&status) {
        let bytes = whole().map_or_else(|error| error.message.into_bytes(), |bytes| bytes.to_vec());
        let bytes = &bytes[..bytes.len().min(MAX_ERROR_BODY_BYTES)];
        let failure = Failure {
            class: FailureClass::of_status(status, call.clients_key),
            retry_after_ms: resilience::retry_after_ms(header),
        };
        let retry_after = header("retry-after");
        let body = exchange.translate_error(status, bytes, &secrets);
        return Err(Failed { failure, answer: Answer::Upstream { status, body, retry_after } });
    }
    if call.stream {
        // Boxed, as the Vertex token is: a whole answer's attempt compiles without it.
        return streamed(&upstream, &call, may_follow, limits, client, meta).boxed_local().await;
    }
    if exchange.is_passthrough() && !exchange.metered {
        // Nothing to translate or count: the answer is read whole (its deadline and size hold,
        // and a failure can still fall back) but never copied into wasm.
        let bytes = whole().map_err(read_failed)?;
        if bytes.length() as usize > MAX_ANSWER_BYTES {
            let error =
                ProxyError::bad_gateway(format!("the upstream's answer is larger than {MAX_ANSWER_BYTES} bytes"));
            return Err(Failed::error(FailureClass::Status(502), error));
        }
        let response = Outgoing::js_bytes(status, "application/json", bytes).with_all(&meta);
        return Ok(Answered { response, usage: None, stream_end: None });
    }
    let bytes = whole().map_err(read_failed)?.to_vec();
    if bytes.len() > MAX_ANSWER_BYTES {
        let error = ProxyError::bad_gateway(format!("the upstream's answer is larger than {MAX_ANSWER_BYTES} bytes"));
        return Err(Failed::error(FailureClass::Status(502), error));
    }
    let (body, usage) =
        exchange.answer(bytes).map_err(|error| Failed::error(FailureClass::Status(error.status), error))?;
    let response = json_response(status, &body, &meta);
    Ok(Answered { response, usage, stream_end: None })
}

/// The client's stream of a stream's success: its start held back until its first content when
/// `may_follow`, then translated chunk by chunk.
async fn streamed(
    upstream: &web_sys::Response,
    call: &UpstreamCall,
    may_follow: bool,
    limits: &Limits,
    client: Option<&Incoming>,
    meta: Vec<(&'static str, String)>,
) -> Result<Answered, Failed> {
    let Some(body) = upstream.body() else {
        return Err(Failed::error(FailureClass::Connection, ProxyError::bad_gateway("the upstream sent no body")));
    };
    let exchange = &call.exchange;
    let mut transcoder = exchange.transcoder().redacting(call.secrets.clone());
    if may_follow {
        transcoder = transcoder.hold_start();
    }
    let body = glue::Body::new(&body);
    let first = match start_of(&body, &mut transcoder, limits).await {
        Ok(first) => first,
        Err(mut failed) => {
            body.release();
            if let Answer::Error(error) = failed.answer {
                let secrets: Vec<&str> = call.secrets.iter().map(String::as_str).collect();
                failed.answer = Answer::Error(error.redacted(&secrets));
            }
            return Err(failed);
        }
    };
    // Only a stream needs it: one the client leaves mid-way is settled then.
    let signal = client.map(Incoming::signal);
    let (stream, end) = body.transcoded(transcoder, limits.idle_ms, &first, signal.as_ref());
    let response = stream_headers(Outgoing::stream(exchange.client_framing.content_type(), stream), &meta);
    Ok(Answered { response, usage: None, stream_end: Some(end) })
}

/// Reads a held stream's start until its first content: what the client gets first. A failure
/// before it — in-band, a cut, a deadline — is the attempt's.
async fn start_of(
    body: &glue::Body,
    transcoder: &mut crate::transcode::Transcoder,
    limits: &Limits,
) -> Result<Vec<u8>, Failed> {
    let mut first = Vec::new();
    while transcoder.is_holding() {
        let bytes = match body.chunk(limits.idle_ms).await {
            Ok(Some(chunk)) => transcoder.push(&chunk),
            Ok(None) => transcoder.end(),
            Err(glue::ReadFailure::TimedOut) => {
                let seconds = limits.idle_ms / 1000;
                let error = ProxyError::gateway_timeout(format!(
                    "the upstream's stream sent nothing for {seconds} s before its answer (LLMPROXY_IDLE_TIMEOUT_SECONDS)"
                ));
                return Err(Failed::error(FailureClass::Timeout, error));
            }
            Err(glue::ReadFailure::Failed(why)) => {
                let error = ProxyError::bad_gateway(format!("reading the upstream failed: {why}"));
                return Err(Failed::error(FailureClass::Connection, error));
            }
        };
        first.extend(bytes);
        if let Some(error) = transcoder.failure_before_content() {
            return Err(Failed::error(FailureClass::Status(error.status), error));
        }
    }
    Ok(first)
}

/// Why an upstream's whole body could not be read, as the client is told it.
fn read_error(failure: glue::ReadFailure, limits: &Limits) -> ProxyError {
    match failure {
        glue::ReadFailure::TimedOut => ProxyError::gateway_timeout(format!(
            "the upstream's answer stopped for {} s (LLMPROXY_IDLE_TIMEOUT_SECONDS)",
            limits.idle_ms / 1000
        )),
        glue::ReadFailure::Failed(why) => ProxyError::bad_gateway(format!("reading the upstream failed: {why}")),
    }
}

/// A whole answer that could not be read fails its attempt: a deadline as a timeout, anything
/// else as a broken connection.
fn read_failed(error: ProxyError) -> Failed {
    let class = if error.status == 504 { FailureClass::Timeout } else { FailureClass::Connection };
    Failed::error(class, error)
}
