//! The Cloudflare Workers shell: HTTP routing, client auth, the KV config, secrets, the upstream
//! fetch and stream wiring. Every decision is made by the pure core.

mod admin;
mod backend_admin;
mod call;
mod config_admin;
mod cors;
mod glue;
mod google_auth;
mod incoming;
mod issued;
mod key_object;
mod outgoing;
mod record;
mod task;
mod upstream;

use crate::config::Config;
use crate::dialect::{ClientPath, Dialect};
use crate::error::{ErrorKind, ProxyError};
use crate::keys::KeyPolicy;
use crate::limits::Limits;
use crate::proxy;
use futures_util::FutureExt;
use incoming::Incoming;
use outgoing::Outgoing;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Context, Env, Method};

/// Talc in place of Rust's default for wasm (dlmalloc): a request allocates a hundred times or so,
/// and talc's allocations are fewer instructions in fewer calls, from a smaller module.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

thread_local! {
    static CONFIG: RefCell<Option<(f64, Rc<Config>)>> = const { RefCell::new(None) };
    /// The limits the vars set: read once per isolate, since vars change only with a deployment.
    static LIMITS: RefCell<Option<Limits>> = const { RefCell::new(None) };
    /// The vars and secrets read so far, and those found missing: like the limits, read once per
    /// isolate (a new value is a new deployment, in new isolates), since each read of a binding
    /// is a call into JavaScript.
    static BINDINGS: RefCell<HashMap<String, Option<String>>> = RefCell::default();
}

fn limits(env: &Env) -> Result<Limits, ProxyError> {
    if let Some(limits) = LIMITS.with_borrow(|limits| *limits) {
        return Ok(limits);
    }
    let limits = Limits::from_vars(|name| string_binding(env, name))?;
    LIMITS.with_borrow_mut(|kept| *kept = Some(limits));
    Ok(limits)
}

/// The fetch handler, which worker-build's entry calls with the runtime's env and context: the
/// request runs as a task (see `task`), and the Promise settles with its response.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    console_error_panic_hook::set_once();
    task::start(async move { answer(req, env, Context::new(ctx)).await.map(JsValue::from) })
}

async fn answer(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response, JsValue> {
    let req = Incoming::read(req);
    // The one place the path is read: every route below sees it without a vendor prefix.
    let path = ClientPath::read(req.path());
    let (answer, allowed) = match cors::allowed(&req, &env, &path.path) {
        Ok(allowed) => (handle(&req, &env, &ctx, &path, allowed.as_deref()).await, allowed),
        Err(error) => (Err(error), None),
    };
    let dialect = || error_dialect(&req, &path);
    let reply = answer.unwrap_or_else(|error| error_response(&error, dialect(), &[]));
    let reply = match allowed {
        Some(allowed) => cors::with_headers(reply, &allowed),
        None => reply,
    };
    // A reply the runtime refuses (a header value no response may hold) becomes an error in the
    // client's dialect, whose headers are the proxy's own.
    let response = reply
        .into_response()
        .or_else(|error| error_response(&error, dialect(), &[]).into_response())
        .map_err(|error| JsValue::from(js_sys::Error::new(&error.message)))?;
    Ok(response)
}

/// The dialect errors are reported in: the called endpoint's, else the one whose client the
/// request looks like, else OpenAI's.
fn error_dialect(req: &Incoming, path: &ClientPath) -> Dialect {
    Dialect::of_errors(path, &|name| req.header(name))
}

/// Whether a path is the admin API's (or the dashboard's).
fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

fn string_binding(env: &Env, name: &str) -> Option<String> {
    if let Some(value) = BINDINGS.with_borrow(|bindings| bindings.get(name).cloned()) {
        return value;
    }
    let value = env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok();
    BINDINGS.with_borrow_mut(|bindings| bindings.insert(name.to_string(), value.clone()));
    value
}

async fn handle(
    req: &Incoming,
    env: &Env,
    ctx: &Context,
    client_path: &ClientPath,
    allowed_origin: Option<&str>,
) -> Result<Outgoing, ProxyError> {
    let path = &client_path.path;
    let method = req.method.clone();
    match (&method, path.as_str()) {
        (Method::Options, _) => return Ok(cors::preflight(req, allowed_origin)),
        (Method::Head, "/") => return Ok(Outgoing::empty(200)),
        (Method::Get, "/healthz") => return Ok(Outgoing::bytes(200, "text/plain;charset=UTF-8", b"ok".to_vec())),
        _ => {}
    }
    let (host, query) = crate::auth::host_and_query(&req.url);
    let limits = limits(env)?;
    if is_admin(path) {
        return admin::handle(req, env, ctx, path, query, &limits).await;
    }
    let caller = authorize(req, env, query, host).await?;
    let called = Dialect::endpoint(path);
    if let Some(endpoint) = called.clone().filter(|_| method == Method::Post) {
        return call::call(req, env, ctx, &limits, endpoint, query, caller).await;
    }
    // Boxed as a `dyn` future, which is polled through a call the compiler cannot inline: the code
    // of what a model call does not take stays out of the function that serves one.
    listing(req, env, client_path, &limits, method, called.is_some(), caller).boxed_local().await
}

/// What is not a model call: `/status`, the dialects' model lists, and the 404 or 405 of any other
/// path or method.
async fn listing(
    req: &Incoming,
    env: &Env,
    client_path: &ClientPath,
    limits: &Limits,
    method: Method,
    called: bool,
    caller: Caller,
) -> Result<Outgoing, ProxyError> {
    let path = &client_path.path;
    if (&method, path.as_str()) == (&Method::Get, "/status") {
        let config = load_config(env, limits).await?;
        let backends = upstream::status(config.backends.iter().map(|b| b.name.as_str()), &config.breaker);
        let status = serde_json::json!({"backends": backends, "scope": "this isolate"});
        return Ok(json_response(200, status.to_string().as_bytes(), &[]));
    }
    let model_list = Dialect::model_list(client_path, &|name| req.header(name));
    match (method, model_list) {
        (Method::Get, Some(dialect)) => {
            let config = load_config(env, limits).await?;
            let list = proxy::models_list(&config, dialect, caller.policy())
                .ok_or_else(|| ProxyError::not_found("no model list"))?;
            Ok(json_response(200, list.to_string().as_bytes(), &[]))
        }
        _ if model_list.is_some() || called => {
            Err(ProxyError::new(405, ErrorKind::InvalidRequest, format!("{path} does not accept this method")))
        }
        _ => Err(ProxyError::not_found(format!("no endpoint at {path}"))),
    }
}

/// Who is calling.
pub enum Caller {
    /// No key is configured, and the request may come without one.
    Anonymous,
    /// One of the `LLMPROXY_API_KEY` keys: unrestricted.
    Static,
    /// A key the proxy issued, with its policy and limits.
    Issued(issued::Caller),
}

impl Caller {
    /// The caller in usage records.
    fn record_id(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".into(),
            Self::Static => "static".into(),
            Self::Issued(caller) => caller.id.clone(),
        }
    }

    fn policy(&self) -> Option<&KeyPolicy> {
        match self {
            Self::Issued(caller) => Some(&caller.policy),
            _ => None,
        }
    }
}

async fn authorize(req: &Incoming, env: &Env, query: &str, host: &str) -> Result<Caller, ProxyError> {
    let presented = crate::auth::client_key(|name| req.header(name), query);
    if let Some(id) = presented.as_deref().and_then(crate::keys::id_of) {
        let presented = presented.as_deref().unwrap_or_default();
        // Boxed, as `listing` is: most deployments have no issued keys.
        return issued::caller(env, id, presented).boxed_local().await.map(Caller::Issued);
    }
    let Some(keys) = string_binding(env, "LLMPROXY_API_KEY") else {
        let anonymous = string_binding(env, "LLMPROXY_ALLOW_ANONYMOUS").is_some_and(|v| v.trim() == "true");
        if anonymous || crate::auth::is_local(host, req.header("cf-connecting-ip").as_deref()) {
            return Ok(Caller::Anonymous);
        }
        if string_binding(env, "LLMPROXY_ADMIN_KEY").is_some() {
            return Err(ProxyError::new(401, ErrorKind::Authentication, "an API key issued by this proxy is required"));
        }
        return Err(ProxyError::new(401, ErrorKind::Authentication, crate::auth::NO_KEY_CONFIGURED));
    };
    if crate::auth::is_authorized(&keys, presented.as_deref()) {
        Ok(Caller::Static)
    } else {
        let what = if presented.is_some() { "the API key is not valid" } else { "an API key is required" };
        Err(ProxyError::new(401, ErrorKind::Authentication, what))
    }
}

async fn load_config(env: &Env, limits: &Limits) -> Result<Rc<Config>, ProxyError> {
    let now = js_sys::Date::now();
    let ttl = limits.config_ttl_ms as f64;
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
    // A config checked in with the worker, as a var, when KV holds none.
    let stored = stored.or_else(|| string_binding(env, "LLMPROXY_CONFIG"));
    let config_error = |e: crate::config::ConfigError| ProxyError::internal(e.to_string());
    let config = match stored {
        Some(text) => Config::from_json(&text).map_err(config_error)?,
        None => Config::from_vars(|name| string_binding(env, name)).map_err(config_error)?.ok_or_else(|| {
            ProxyError::internal(
                "no config: put one under the key `config` in the KV namespace bound as CONFIG, or in the var LLMPROXY_CONFIG, or set LLMPROXY_BACKEND",
            )
        })?,
    };
    let config = Rc::new(config);
    CONFIG.with_borrow_mut(|c| *c = Some((now, config.clone())));
    Ok(config)
}

/// The isolate's config is read from KV again at the next request (it was just changed).
fn forget_config() {
    CONFIG.with_borrow_mut(|c| *c = None);
}

/// The request body, counted as it is read: past the limit it is a 413, whether or not the client
/// said its length.
pub(crate) async fn read_body(req: &Incoming, limits: &Limits) -> Result<Vec<u8>, ProxyError> {
    let limit = limits.max_body_bytes;
    let too_large =
        || ProxyError::new(413, ErrorKind::PayloadTooLarge, format!("the request body is larger than {limit} bytes"));
    let length = req.header("content-length").and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > limit) {
        // Read the body to its end without keeping it: a client still sending when the answer
        // comes would otherwise see its connection reset instead of the 413.
        glue::drain(req.body_owner()).await;
        return Err(too_large());
    }
    let body = glue::read(req.body_owner(), limit, limits.idle_ms, length).await.map_err(|failure| match failure {
        glue::ReadFailure::TimedOut => {
            ProxyError::new(408, ErrorKind::InvalidRequest, "the request body stopped arriving")
        }
        glue::ReadFailure::Failed(why) => ProxyError::invalid(format!("could not read the request body: {why}")),
    })?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

fn meta_headers(backend: &str, dropped: &[String]) -> Vec<(&'static str, String)> {
    let mut meta = vec![("x-llmproxy-backend", backend.to_string())];
    if let Some(names) = crate::ir::dropped_header(dropped) {
        meta.push(("x-llmproxy-dropped", names));
    }
    meta
}

/// A stream's headers, after `meta`.
fn stream_headers(reply: Outgoing, meta: &[(&'static str, String)]) -> Outgoing {
    reply.with_all(meta).with("cache-control", "no-cache")
}

fn json_response(status: u16, body: &[u8], meta: &[(&'static str, String)]) -> Outgoing {
    Outgoing::bytes(status, "application/json", body.to_vec()).with_all(meta)
}

fn error_response(error: &ProxyError, dialect: Dialect, meta: &[(&'static str, String)]) -> Outgoing {
    json_response(error.status, dialect.error_body(error).as_bytes(), meta)
}
