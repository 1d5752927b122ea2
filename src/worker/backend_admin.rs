//! The backends through the admin API: `GET /admin/backends`, each backend's breaker as this
//! isolate knows it and its last recorded error; `POST /admin/backends/test`, a one-token Chat
//! request to one backend, through the same planning and upstream call as any request.

use super::outgoing::Outgoing;
use super::{json_response, load_config, string_binding, upstream};
use crate::codec::Operation;
use crate::config::Config;
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::limits::Limits;
use crate::proxy::{self, Inbound};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Context, D1Database, Env};

/// How far back the last error of a backend is looked for.
const LAST_ERROR_RANGE_MS: f64 = 7.0 * 86_400_000.0;
/// The most of a test's answer that is shown.
const SHOWN_ANSWER_CHARS: usize = 500;
/// The most of a test answer read: a short answer to a short question, with room to spare.
const PROBE_ANSWER_MAX_BYTES: usize = 1024 * 1024;

pub async fn status(env: &Env, database: &D1Database, limits: &Limits) -> Result<Outgoing, ProxyError> {
    let config = load_config(env, limits).await?;
    let breakers = upstream::status(config.backends.iter().map(|b| b.name.as_str()), &config.breaker);
    // SQLite gives the other columns of the row that holds the MAX.
    let errors = database
        .prepare(
            "SELECT backend, error, status, MAX(at_ms) AS at_ms FROM usage \
             WHERE error IS NOT NULL AND backend != '' AND at_ms >= ?1 GROUP BY backend",
        )
        .bind(&[JsValue::from(js_sys::Date::now() - LAST_ERROR_RANGE_MS)])
        .map_err(|e| ProxyError::internal(e.to_string()))?
        .all()
        .await
        .and_then(|result| result.results::<Value>())
        .unwrap_or_default();
    let backends: Vec<Value> = config
        .backends
        .iter()
        .map(|backend| {
            let last_error = errors.iter().find(|row| row["backend"] == backend.name.as_str());
            json!({
                "name": backend.name,
                "kind": backend.kind.name(),
                "base_url": backend.base_url,
                "models": backend.models,
                "test_model": Config::probe_model(backend),
                "isolate": breakers[&backend.name],
                "last_error": last_error.map(|row| json!({"error": row["error"], "status": row["status"], "at_ms": row["at_ms"]})),
            })
        })
        .collect();
    Ok(json_response(200, json!({"backends": backends, "breaker_scope": "this isolate"}).to_string().as_bytes(), &[]))
}

pub async fn test(env: &Env, ctx: &Context, limits: &Limits, body: Value) -> Result<Outgoing, ProxyError> {
    let config = load_config(env, limits).await?;
    let name =
        body.get("backend").and_then(Value::as_str).ok_or_else(|| ProxyError::invalid("`backend` is required"))?;
    let backend = config.backends.iter().find(|b| b.name == name);
    let (Some(backend), Some(probe)) = (backend, config.probe(name)) else {
        return Err(ProxyError::not_found(format!("no backend `{name}`")));
    };
    let model = match body.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
        Some(model) => model.to_string(),
        None => Config::probe_model(backend).map(str::to_string).ok_or_else(|| {
            ProxyError::invalid(format!("`{name}` serves only model patterns: say which `model` to test"))
        })?,
    };
    let (dialect, request) = Dialect::probe_request(&model);
    let inbound = Inbound {
        dialect,
        operation: Operation::Generate,
        model: None,
        stream: Some(false),
        framing: Default::default(),
        body: request.as_bytes(),
        query: "",
        header: &|_| None,
        secret: &|name| string_binding(env, name),
        own_key: None,
        now: (js_sys::Date::now() / 1000.0) as u64,
        random: 0,
        policy: None,
        metered: false,
    };
    let started = js_sys::Date::now();
    let plan = proxy::plan(&probe, &inbound)?;
    let served = upstream::serve(&plan, &probe.breaker, env, ctx, limits, None).await?;
    let response = served.response.into_response()?;
    let text = super::glue::read(&response, PROBE_ANSWER_MAX_BYTES, limits.idle_ms, None)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let latency_ms = (js_sys::Date::now() - started) as u64;
    let answer: Value = serde_json::from_slice(text.as_bytes()).unwrap_or(Value::Null);
    let ok = (200..300).contains(&served.status);
    let said = match ok {
        true => answer.pointer("/choices/0/message/content").and_then(Value::as_str).map(str::to_string),
        false => answer.pointer("/error/message").and_then(Value::as_str).map(str::to_string),
    };
    let said = said.map(|text| text.chars().take(SHOWN_ANSWER_CHARS).collect::<String>());
    let shown = json!({
        "backend": name,
        "model": model,
        "ok": ok,
        "status": served.status,
        "latency_ms": latency_ms,
        "attempts": served.attempts,
        "error": served.error,
        "said": said,
    });
    Ok(json_response(200, shown.to_string().as_bytes(), &[]))
}
