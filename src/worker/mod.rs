//! The Cloudflare Workers shell: HTTP routing, client auth, the KV config, secrets, the upstream
//! fetch and stream wiring. Every decision is made by the pure core.

mod google_auth;

use crate::config::Config;
use crate::dialect::Dialect;
use crate::endpoint::{self, Endpoint};
use crate::error::{ErrorKind, ProxyError};
use crate::proxy::{self, Inbound, Plan, UpstreamCall};
use crate::transcode::Transcoder;
use js_sys::Uint8Array;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, StreamPipeOptions, TransformStream, TransformStreamDefaultController, WritableStream};
use worker::{event, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response, ResponseBody};

/// How long an isolate keeps the config it read from KV, unless `LLMPROXY_CONFIG_TTL_SECONDS` says.
const CONFIG_TTL_SECONDS: f64 = 30.0;
/// The largest request body accepted, unless `LLMPROXY_MAX_BODY_BYTES` says.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

thread_local! {
    static CONFIG: RefCell<Option<(f64, Rc<Config>)>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    console_error_panic_hook::set_once();
    match handle(&mut req, &env).await {
        Ok(response) => Ok(response),
        Err(error) => error_response(&error, error_dialect(&req)),
    }
}

/// The dialect errors are reported in: the called endpoint's, else Anthropic's when the client
/// sent `anthropic-version`, else OpenAI's.
fn error_dialect(req: &Request) -> Dialect {
    endpoint::error_dialect(&req.path(), header(req, "anthropic-version").is_some())
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn string_binding(env: &Env, name: &str) -> Option<String> {
    env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()
}

async fn handle(req: &mut Request, env: &Env) -> Result<Response, ProxyError> {
    let path = req.path();
    let method = req.method();
    match (&method, path.as_str()) {
        (Method::Head, "/") => return Ok(Response::empty().expect("empty responses build")),
        (Method::Get, "/healthz") => return Ok(Response::ok("ok").expect("text responses build")),
        _ => {}
    }
    let query = req.url().map(|url| url.query().unwrap_or("").to_string()).unwrap_or_default();
    authorize(req, env, &query)?;
    let called = endpoint::post(&path);
    if let Some(endpoint) = called.clone().filter(|_| method == Method::Post) {
        return call(req, env, endpoint, &query).await;
    }
    let listing =
        endpoint::models(&path, header(req, "anthropic-version").is_some(), header(req, "x-goog-api-key").is_some());
    match (method, listing) {
        (Method::Get, Some(dialect)) => {
            let config = load_config(env).await?;
            json_response(200, &proxy::models_list(&config, dialect).to_string(), &[])
        }
        _ if listing.is_some() || called.is_some() => {
            Err(ProxyError::new(405, ErrorKind::InvalidRequest, format!("{path} does not accept this method")))
        }
        _ => Err(ProxyError::not_found(format!("no endpoint at {path}"))),
    }
}

fn authorize(req: &Request, env: &Env, query: &str) -> Result<(), ProxyError> {
    let Some(keys) = string_binding(env, "LLMPROXY_API_KEY") else {
        return Ok(());
    };
    let presented = crate::auth::presented_key(|name| header(req, name), query);
    if crate::auth::is_authorized(&keys, presented.as_deref()) {
        Ok(())
    } else {
        let what = if presented.is_some() { "the API key is not valid" } else { "an API key is required" };
        Err(ProxyError::new(401, ErrorKind::Authentication, what))
    }
}

async fn load_config(env: &Env) -> Result<Rc<Config>, ProxyError> {
    let now = worker::Date::now().as_millis() as f64 / 1000.0;
    let ttl =
        string_binding(env, "LLMPROXY_CONFIG_TTL_SECONDS").and_then(|v| v.parse().ok()).unwrap_or(CONFIG_TTL_SECONDS);
    if let Some(config) = CONFIG.with_borrow(|c| c.as_ref().filter(|(at, _)| now - at < ttl).map(|(_, c)| c.clone())) {
        return Ok(config);
    }
    let stored = match env.kv("CONFIG") {
        Ok(kv) => kv
            .get("config")
            .text()
            .await
            .map_err(|e| ProxyError::internal(format!("could not read the config from KV: {e}")))?,
        Err(_) => None,
    };
    let config_error = |e: crate::config::ConfigError| ProxyError::internal(e.to_string());
    let config = match stored {
        Some(text) => Config::from_json(&text).map_err(config_error)?,
        None => Config::from_vars(|name| string_binding(env, name)).map_err(config_error)?.ok_or_else(|| {
            ProxyError::internal(
                "no config: put one under the key `config` in the KV namespace bound as CONFIG, or set LLMPROXY_BACKEND",
            )
        })?,
    };
    let config = Rc::new(config);
    CONFIG.with_borrow_mut(|c| *c = Some((now, config.clone())));
    Ok(config)
}

async fn read_body(req: &mut Request, env: &Env) -> Result<Vec<u8>, ProxyError> {
    let limit = string_binding(env, "LLMPROXY_MAX_BODY_BYTES").and_then(|v| v.parse().ok()).unwrap_or(MAX_BODY_BYTES);
    let too_large =
        || ProxyError::new(413, ErrorKind::PayloadTooLarge, format!("the request body is larger than {limit} bytes"));
    if header(req, "content-length").and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > limit) {
        // Read the body to its end without keeping it: a client still sending when the answer
        // comes would otherwise see its connection reset instead of the 413.
        if let Some(body) = req.inner().body() {
            if let Ok(sink) = WritableStream::new() {
                let _ = JsFuture::from(body.pipe_to(&sink)).await;
            }
        }
        return Err(too_large());
    }
    let body = req.bytes().await.map_err(|e| ProxyError::invalid(format!("could not read the request body: {e}")))?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

async fn call(req: &mut Request, env: &Env, endpoint: Endpoint, query: &str) -> Result<Response, ProxyError> {
    let body = read_body(req, env).await?;
    let config = load_config(env).await?;
    let inbound = Inbound {
        dialect: endpoint.dialect,
        operation: endpoint.operation,
        model: endpoint.model.as_deref(),
        stream: endpoint.stream,
        body: &body,
        query,
        header: &|name| header(req, name),
        secret: &|name| string_binding(env, name),
        now: worker::Date::now().as_millis() / 1000,
    };
    match proxy::plan(&config, &inbound)? {
        Plan::Local(answer) => {
            let mut meta = meta_headers(&answer.backend, &answer.dropped);
            if answer.estimated {
                meta.push(("x-llmproxy-estimate", "true".into()));
            }
            if answer.stream {
                stream_response(Response::from_bytes(answer.body).expect("byte responses build"), &meta)
            } else {
                json_response(200, std::str::from_utf8(&answer.body).unwrap_or_default(), &meta)
            }
        }
        Plan::Upstream(call) => forward(call, env).await,
    }
}

fn meta_headers(backend: &str, dropped: &[String]) -> Vec<(&'static str, String)> {
    let mut meta = vec![("x-llmproxy-backend", backend.to_string())];
    if let Some(names) = crate::ir::dropped_header(dropped) {
        meta.push(("x-llmproxy-dropped", names));
    }
    meta
}

async fn forward(call: UpstreamCall, env: &Env) -> Result<Response, ProxyError> {
    let headers = Headers::new();
    for (name, value) in &call.headers {
        headers.set(name, value).map_err(|_| {
            ProxyError::internal(format!("the upstream header `{name}` has a value that is not allowed"))
        })?;
    }
    if let Some(settings) = &call.vertex {
        let token = google_auth::bearer(env, settings).await?;
        headers.set("authorization", &format!("Bearer {token}")).map_err(|e| ProxyError::internal(e.to_string()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(call.body.as_slice()).into()));
    let request = Request::new_with_init(&call.url, &init)
        .map_err(|e| ProxyError::internal(format!("could not build the upstream request: {e}")))?;
    let mut upstream = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| ProxyError::bad_gateway(format!("could not reach the upstream: {e}")))?;
    let mut meta = meta_headers(&call.backend, &call.dropped);
    for name in ["request-id", "x-request-id"] {
        if let Ok(Some(value)) = upstream.headers().get(name) {
            meta.push((name, value));
        }
    }
    let status = upstream.status_code();
    let exchange = call.exchange;
    if !(200..300).contains(&status) {
        let body = upstream.bytes().await.unwrap_or_default();
        let body = exchange.translate_error(status, &body);
        return json_response(status, std::str::from_utf8(&body).unwrap_or_default(), &meta);
    }
    if call.stream {
        let ResponseBody::Stream(chunks) = upstream.body() else {
            return Err(ProxyError::bad_gateway("the upstream sent no body"));
        };
        let body = transcoded(chunks.clone(), exchange.transcoder())?;
        return stream_response(Response::from_body(ResponseBody::Stream(body)).expect("body responses build"), &meta);
    }
    if exchange.is_passthrough() {
        // The same dialect both sides: hand the upstream body over without reading it.
        let response = Response::from_body(upstream.body().clone()).expect("body responses build");
        return with_headers(response.with_status(status), "application/json", &meta);
    }
    let body =
        upstream.bytes().await.map_err(|e| ProxyError::bad_gateway(format!("reading the upstream failed: {e}")))?;
    let body = exchange.translate_response(&body)?;
    json_response(status, std::str::from_utf8(&body).unwrap_or_default(), &meta)
}

/// The upstream body piped through the transcoder inside a `TransformStream`: the runtime moves the
/// bytes and calls into Rust once per chunk, synchronously; backpressure is the runtime's own.
fn transcoded(upstream: ReadableStream, transcoder: Transcoder) -> Result<ReadableStream, ProxyError> {
    let transcoder = Rc::new(RefCell::new(transcoder));
    let controller: Rc<RefCell<Option<TransformStreamDefaultController>>> = Rc::default();

    let start = Closure::<dyn FnMut(TransformStreamDefaultController)>::new({
        let controller = controller.clone();
        move |c| *controller.borrow_mut() = Some(c)
    });
    let transform = Closure::<dyn FnMut(JsValue, TransformStreamDefaultController)>::new({
        let transcoder = transcoder.clone();
        move |chunk: JsValue, c: TransformStreamDefaultController| {
            let mut transcoder = transcoder.borrow_mut();
            emit(&c, transcoder.push(&Uint8Array::new(&chunk).to_vec()));
            if transcoder.is_finished() {
                // An error event was written: stop reading the upstream.
                c.terminate();
            }
        }
    });
    let flush = Closure::<dyn FnMut(TransformStreamDefaultController)>::new({
        let transcoder = transcoder.clone();
        move |c: TransformStreamDefaultController| emit(&c, transcoder.borrow_mut().end())
    });
    let transformer = js_sys::Object::new();
    for (name, function) in
        [("start", start.into_js_value()), ("transform", transform.into_js_value()), ("flush", flush.into_js_value())]
    {
        js_sys::Reflect::set(&transformer, &JsValue::from_str(name), &function)
            .map_err(|_| ProxyError::internal("could not set up the stream transform"))?;
    }
    let stream = TransformStream::new_with_transformer(&transformer)
        .map_err(|_| ProxyError::internal("could not set up the stream transform"))?;

    // A failed upstream read rejects the pipe instead of reaching the transform: the client then
    // gets an error event in its dialect rather than a broken connection.
    let on_failure = Closure::once(move |reason: JsValue| {
        let Some(c) = controller.borrow_mut().take() else { return };
        let message = js_sys::Error::from(reason).message();
        emit(
            &c,
            transcoder.borrow_mut().fail(&ProxyError::bad_gateway(format!("reading the upstream failed: {message}"))),
        );
        c.terminate();
    });
    let options = StreamPipeOptions::new();
    options.set_prevent_abort(true);
    let piped = upstream.pipe_to_with_options(&stream.writable(), &options);
    // `catch` through JS, so the handler is owned (and freed) by JS rather than borrowed from Rust.
    let catch = js_sys::Reflect::get(&piped, &JsValue::from_str("catch"))
        .map_err(|_| ProxyError::internal("could not set up the stream transform"))?;
    let _ = catch.unchecked_into::<js_sys::Function>().call1(&piped, &on_failure.into_js_value());
    Ok(stream.readable())
}

fn emit(controller: &TransformStreamDefaultController, bytes: Vec<u8>) {
    if !bytes.is_empty() {
        // Fails only when the client went away; there is nobody left to tell.
        let _ = controller.enqueue_with_chunk(&Uint8Array::from(bytes.as_slice()));
    }
}

fn with_headers(response: Response, content_type: &str, meta: &[(&str, String)]) -> Result<Response, ProxyError> {
    let headers = Headers::new();
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| ProxyError::internal(e.to_string()));
    set("content-type", content_type)?;
    for (name, value) in meta {
        set(name, value)?;
    }
    Ok(response.with_headers(headers))
}

fn stream_response(response: Response, meta: &[(&str, String)]) -> Result<Response, ProxyError> {
    let mut meta = meta.to_vec();
    meta.push(("cache-control", "no-cache".into()));
    with_headers(response, "text/event-stream; charset=utf-8", &meta)
}

fn json_response(status: u16, body: &str, meta: &[(&str, String)]) -> Result<Response, ProxyError> {
    let response = Response::from_body(ResponseBody::Body(body.as_bytes().to_vec())).expect("body responses build");
    with_headers(response.with_status(status), "application/json", meta)
}

fn error_response(error: &ProxyError, dialect: Dialect) -> worker::Result<Response> {
    json_response(error.status, &error.to_body(dialect), &[]).or_else(|_| Response::error(error.message.clone(), 500))
}
