//! The admin API, behind the `LLMPROXY_ADMIN_KEY` secret and closed without it: issued keys
//! (`/admin/keys`: create, list, read, update, revoke), usage totals (`/admin/usage`) and the
//! config (`/admin/config`, see `config_admin`). Keys are listed from the D1 database `DB`; each
//! key's hash, policy and counters are its object's.

use super::incoming::Incoming;
use super::issued::{self, random_key_bytes};
use super::outgoing::Outgoing;
use super::{json_response, record, string_binding};
use crate::error::{ErrorKind, ProxyError};
use crate::keys::object::{Message, Reply};
use crate::keys::{self, KeyPolicy};
use crate::limits::Limits;
use crate::usage;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Context, D1Database, Env, Method};

/// The largest admin request body read.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The range `/admin/usage` covers when it is given no `from`.
const DEFAULT_RANGE_MS: f64 = 30.0 * 86_400_000.0;

pub async fn handle(
    req: &Incoming,
    env: &Env,
    ctx: &Context,
    path: &str,
    query: &str,
    limits: &Limits,
) -> Result<Outgoing, ProxyError> {
    let Some(admin_keys) = string_binding(env, "LLMPROXY_ADMIN_KEY").filter(|k| !k.trim().is_empty()) else {
        return Err(ProxyError::new(
            403,
            ErrorKind::Permission,
            "the admin API is closed: set the secret LLMPROXY_ADMIN_KEY to open it",
        ));
    };
    // Headers only: a key in a query string ends up in logs.
    let presented = crate::auth::presented_key(|name| req.header(name), "");
    if !crate::auth::is_authorized(&admin_keys, presented.as_deref()) {
        return Err(ProxyError::new(401, ErrorKind::Authentication, "the admin key is missing or not valid"));
    }
    let database = env.d1(record::DATABASE).map_err(|_| {
        ProxyError::new(503, ErrorKind::Api, "the admin API needs the D1 database bound as DB (see the README)")
    })?;
    let method = req.method.clone();
    if path == "/admin/schema" || path == "/admin/config" || path.starts_with("/admin/config/") {
        return super::config_admin::handle(env, &database, method, path, body_of(req)).await;
    }
    match (&method, path) {
        (Method::Get, "/admin/backends") => return super::backend_admin::status(env, &database, limits).await,
        (Method::Post, "/admin/backends/test") => {
            return super::backend_admin::test(env, ctx, limits, body_of(req).await?).await
        }
        _ => {}
    }
    let id = path.strip_prefix("/admin/keys/");
    match (method, path, id) {
        (Method::Post, "/admin/keys", _) => create(req, env, &database).await,
        (Method::Get, "/admin/keys", _) => list(&database).await,
        (Method::Get, "/admin/usage", _) => {
            // Where the prices came from, when the config says.
            let source = super::load_config(env, limits).await.ok().and_then(|config| config.price_source.clone());
            usage_totals(&database, query, source).await
        }
        (method, _, Some(id)) => {
            if !keys::is_id(id) {
                return Err(ProxyError::not_found(format!("no key `{id}`")));
            }
            match method {
                Method::Get => read(env, &database, id).await,
                Method::Patch => update(req, env, &database, id).await,
                Method::Delete => revoke(env, &database, id).await,
                _ => Err(ProxyError::new(
                    405,
                    ErrorKind::InvalidRequest,
                    "a key is read (GET), changed (PATCH) or revoked (DELETE)",
                )),
            }
        }
        (_, "/admin/keys" | "/admin/usage" | "/admin/backends" | "/admin/backends/test", _) => {
            Err(ProxyError::new(405, ErrorKind::InvalidRequest, format!("{path} does not accept this method")))
        }
        _ => Err(ProxyError::not_found(format!("no admin endpoint at {path}"))),
    }
}

fn answer(status: u16, value: &Value) -> Result<Outgoing, ProxyError> {
    Ok(json_response(status, value.to_string().as_bytes(), &[]))
}

fn store_failed(e: worker::Error) -> ProxyError {
    ProxyError::new(503, ErrorKind::Api, format!("the key list failed: {e}"))
}

async fn body_of(req: &Incoming) -> Result<Value, ProxyError> {
    let bytes = super::glue::read(req.body_owner(), MAX_BODY_BYTES, 10_000, None)
        .await
        .map_err(|_| ProxyError::invalid("could not read the request body"))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ProxyError::new(413, ErrorKind::PayloadTooLarge, "the request body is too large"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: {e}")))
}

/// A reply that is not the key's state, as the admin's error.
fn refused(reply: Reply) -> ProxyError {
    match reply {
        Reply::Refused { status, message } => ProxyError::new(status, ErrorKind::from_status(status), message),
        Reply::Unknown => ProxyError::not_found("no such key"),
        other => ProxyError::internal(format!("the key's object answered {other:?}")),
    }
}

async fn create(req: &Incoming, env: &Env, database: &D1Database) -> Result<Outgoing, ProxyError> {
    let policy = KeyPolicy::from_json(body_of(req).await?).map_err(ProxyError::invalid)?;
    let (id, key) = keys::new_key(&random_key_bytes()?);
    let created = js_sys::Date::now();
    let reply = issued::send(env, &id, &Message::Create { hash: keys::hash(&key), policy: policy.clone() }).await?;
    let Reply::State { policy, .. } = reply else {
        return Err(refused(reply));
    };
    let text = serde_json::to_string(&policy).map_err(|e| ProxyError::internal(e.to_string()))?;
    let values =
        [JsValue::from_str(&id), JsValue::from_str(&policy.name), JsValue::from_str(&text), JsValue::from(created)];
    let statement = database.prepare("INSERT INTO api_keys (id, name, policy, created_at) VALUES (?1, ?2, ?3, ?4)");
    let listed = match statement.bind(&values) {
        Ok(statement) => statement.run().await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = listed {
        // A key nobody could list must not work.
        issued::send(env, &id, &Message::Revoke).await?;
        return Err(store_failed(error));
    }
    let shown = json!({
        "id": id,
        "key": key,
        "policy": policy,
        "created_at": created as u64,
        "note": "the key is shown only this once: only its hash is stored",
    });
    answer(201, &shown)
}

/// A row of `api_keys` as the API shows it.
fn shown(row: &Value) -> Value {
    let policy = row["policy"].as_str().and_then(|text| serde_json::from_slice::<Value>(text.as_bytes()).ok());
    json!({
        "id": row["id"],
        "name": row["name"],
        "policy": policy,
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    })
}

async fn list(database: &D1Database) -> Result<Outgoing, ProxyError> {
    let rows = database
        .prepare("SELECT id, name, policy, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
        .all()
        .await
        .and_then(|result| result.results::<Value>())
        .map_err(store_failed)?;
    answer(200, &json!({"keys": rows.iter().map(shown).collect::<Vec<_>>()}))
}

async fn row(database: &D1Database, id: &str) -> Result<Value, ProxyError> {
    database
        .prepare("SELECT id, name, policy, created_at, revoked_at FROM api_keys WHERE id = ?1")
        .bind(&[JsValue::from_str(id)])
        .map_err(store_failed)?
        .first::<Value>(None)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| ProxyError::not_found(format!("no key `{id}`")))
}

/// The key's row with its object's state: its live policy and usage.
fn with_state(row: &Value, reply: Reply) -> Result<Value, ProxyError> {
    let Reply::State { policy, revoked, usage } = reply else {
        return Err(refused(reply));
    };
    let mut shown = shown(row);
    shown["policy"] = json!(policy);
    shown["name"] = json!(policy.name);
    shown["revoked"] = json!(revoked);
    shown["usage"] = usage;
    Ok(shown)
}

async fn read(env: &Env, database: &D1Database, id: &str) -> Result<Outgoing, ProxyError> {
    let row = row(database, id).await?;
    let reply = issued::send(env, id, &Message::Read).await?;
    answer(200, &with_state(&row, reply)?)
}

async fn update(req: &Incoming, env: &Env, database: &D1Database, id: &str) -> Result<Outgoing, ProxyError> {
    let row = row(database, id).await?;
    let patch = body_of(req).await?;
    let reply = issued::send(env, id, &Message::Update { patch }).await?;
    let shown = with_state(&row, reply)?;
    let values = [
        JsValue::from_str(&shown["policy"].to_string()),
        JsValue::from_str(shown["name"].as_str().unwrap_or("")),
        JsValue::from_str(id),
    ];
    database
        .prepare("UPDATE api_keys SET policy = ?1, name = ?2 WHERE id = ?3")
        .bind(&values)
        .map_err(store_failed)?
        .run()
        .await
        .map_err(store_failed)?;
    answer(200, &shown)
}

async fn revoke(env: &Env, database: &D1Database, id: &str) -> Result<Outgoing, ProxyError> {
    let row = row(database, id).await?;
    let reply = issued::send(env, id, &Message::Revoke).await?;
    let mut shown = with_state(&row, reply)?;
    let now = js_sys::Date::now();
    database
        .prepare("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
        .bind(&[JsValue::from(now), JsValue::from_str(id)])
        .map_err(store_failed)?
        .run()
        .await
        .map_err(store_failed)?;
    if shown["revoked_at"].is_null() {
        shown["revoked_at"] = json!(now as u64);
    }
    answer(200, &shown)
}

/// A time in a query: ms since the epoch, or a date or time JavaScript reads (`2026-12-01`,
/// `2026-12-01T12:00:00Z`).
fn time_of(name: &str, value: &str) -> Result<f64, ProxyError> {
    let ms = value.parse::<f64>().ok().unwrap_or_else(|| js_sys::Date::parse(value));
    if ms.is_finite() {
        Ok(ms)
    } else {
        Err(ProxyError::invalid(format!("{name}: `{value}` is neither ms since the epoch nor a date")))
    }
}

async fn usage_totals(
    database: &D1Database,
    query: &str,
    price_source: Option<String>,
) -> Result<Outgoing, ProxyError> {
    let param = |name: &str| {
        query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(|value| {
            percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned()
        })
    };
    let to = param("to").map_or(Ok(js_sys::Date::now()), |v| time_of("to", &v))?;
    let from = param("from").map_or(Ok(to - DEFAULT_RANGE_MS), |v| time_of("from", &v))?;
    let group = param("group").filter(|g| !g.is_empty());
    let key = param("key").map_or(JsValue::NULL, |key| JsValue::from_str(&key));
    let run = |sql: String| {
        let bindings = [JsValue::from(from), JsValue::from(to), key.clone()];
        async move {
            database
                .prepare(sql)
                .bind(&bindings)
                .map_err(store_failed)?
                .all()
                .await
                .and_then(|result| result.results::<Value>())
                .map_err(store_failed)
        }
    };
    let totals = run(usage::summary_query(None).map_err(ProxyError::invalid)?).await?;
    let mut shown =
        json!({"from": from as u64, "to": to as u64, "totals": totals.first(), "price_source": price_source});
    if let Some(group) = group {
        let query = usage::summary_query(Some(&group)).map_err(ProxyError::invalid)?;
        shown["group"] = json!(group);
        shown["groups"] = json!(run(query).await?);
    }
    answer(200, &shown)
}
