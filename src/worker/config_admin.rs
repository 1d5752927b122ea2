//! The config through the admin API. Every saved document is a revision in the D1 table
//! `config_revisions`, written only when it was based on the latest revision (one conditional
//! insert, so two writers cannot both win); the request path goes on reading KV's `config`, which
//! follows the latest revision. The last `KEPT_REVISIONS` are kept, and any of them can be rolled
//! back to (as a new revision). Header values are never shown (`config::document`).

use super::outgoing::Outgoing;
use super::{json_response, string_binding};
use crate::config::document::{redacted, restored};
use crate::config::{Config, Problem, SCHEMA};
use crate::error::{ErrorKind, ProxyError};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Method};

/// Revisions kept for history and rollback.
pub const KEPT_REVISIONS: i64 = 50;
/// How often a writer re-reads the latest revision after publishing, until KV holds it.
const PUBLISH_ROUNDS: usize = 5;

/// A stored revision, or what the worker runs on before the first one.
struct Revision {
    revision: i64,
    document: Option<Value>,
    created_at: Option<f64>,
    note: String,
    /// Where the document came from: `revisions`, or before any, `kv`, `var` or `none`.
    source: &'static str,
}

impl Revision {
    fn shown(&self) -> Value {
        json!({
            "revision": self.revision,
            "config": self.document.as_ref().map(redacted),
            "created_at": self.created_at.map(|at| at as u64),
            "note": self.note,
            "source": self.source,
        })
    }
}

fn store_failed(e: worker::Error) -> ProxyError {
    ProxyError::new(503, ErrorKind::Api, format!("the config revisions failed: {e}"))
}

fn answer(status: u16, value: &Value) -> Result<Outgoing, ProxyError> {
    Ok(json_response(status, value.to_string().as_bytes(), &[]))
}

/// `/admin/config`, `/admin/config/...` and `/admin/schema`.
pub async fn handle(
    env: &Env,
    database: &D1Database,
    method: Method,
    path: &str,
    body: impl std::future::Future<Output = Result<Value, ProxyError>>,
) -> Result<Outgoing, ProxyError> {
    match (method, path) {
        (Method::Get, "/admin/schema") => {
            Ok(Outgoing::bytes(200, "application/schema+json", SCHEMA.as_bytes().to_vec()))
        }
        (Method::Get, "/admin/config") => answer(200, &latest(env, database).await?.shown()),
        (Method::Put, "/admin/config") => {
            let body = body.await?;
            let document = body.get("config").cloned().ok_or_else(|| ProxyError::invalid("`config` is required"))?;
            save(env, database, document, base_revision(&body)?, note(&body)).await
        }
        (Method::Post, "/admin/config/validate") => {
            let body = body.await?;
            let document = body.get("config").cloned().ok_or_else(|| ProxyError::invalid("`config` is required"))?;
            let base = latest(env, database).await?;
            let problems = match restored(document, base.document.as_ref()) {
                Ok(document) => Config::check(&document.to_string()).err().unwrap_or_default(),
                Err(problems) => problems,
            };
            answer(200, &json!({"valid": problems.is_empty(), "problems": problems}))
        }
        (Method::Post, "/admin/config/rollback") => {
            let body = body.await?;
            let to = body.get("to").and_then(Value::as_i64).ok_or_else(|| ProxyError::invalid("`to` is required"))?;
            let old = stored(database, to).await?.ok_or_else(|| ProxyError::not_found(format!("no revision {to}")))?;
            let document = old.document.unwrap_or_default();
            let note = note(&body).unwrap_or_else(|| format!("rollback to revision {to}"));
            save(env, database, document, base_revision(&body)?, Some(note)).await
        }
        (Method::Get, "/admin/config/revisions") => list(database).await,
        (Method::Get, path) if path.starts_with("/admin/config/revisions/") => {
            let number = &path["/admin/config/revisions/".len()..];
            let missing = || ProxyError::not_found(format!("no revision {number}"));
            let revision = number.parse::<i64>().map_err(|_| missing())?;
            answer(200, &stored(database, revision).await?.ok_or_else(missing)?.shown())
        }
        (_, "/admin/schema" | "/admin/config" | "/admin/config/validate" | "/admin/config/rollback") => {
            Err(ProxyError::new(405, ErrorKind::InvalidRequest, format!("{path} does not accept this method")))
        }
        _ => Err(ProxyError::not_found(format!("no admin endpoint at {path}"))),
    }
}

/// The revision a change was based on: required, so that no edit silently overwrites another.
fn base_revision(body: &Value) -> Result<i64, ProxyError> {
    body.get("if_revision").and_then(Value::as_i64).ok_or_else(|| {
        ProxyError::new(
            428,
            ErrorKind::InvalidRequest,
            "`if_revision` is required: the revision the change is based on (GET /admin/config)",
        )
    })
}

fn note(body: &Value) -> Option<String> {
    body.get("note").and_then(Value::as_str).map(crate::usage::bounded)
}

fn revision_of(row: &Value) -> Revision {
    Revision {
        revision: row["revision"].as_i64().unwrap_or_default(),
        document: row["document"].as_str().and_then(|text| serde_json::from_slice(text.as_bytes()).ok()),
        created_at: row["created_at"].as_f64(),
        note: row["note"].as_str().unwrap_or_default().to_string(),
        source: "revisions",
    }
}

async fn stored(database: &D1Database, revision: i64) -> Result<Option<Revision>, ProxyError> {
    let row = database
        .prepare("SELECT revision, document, created_at, note FROM config_revisions WHERE revision = ?1")
        .bind(&[JsValue::from(revision as f64)])
        .map_err(store_failed)?
        .first::<Value>(None)
        .await
        .map_err(store_failed)?;
    Ok(row.as_ref().map(revision_of))
}

/// The latest revision; before the first, revision 0: what the worker runs on (KV's document,
/// else the `LLMPROXY_CONFIG` var), so that the first save is based on it.
async fn latest(env: &Env, database: &D1Database) -> Result<Revision, ProxyError> {
    let row = database
        .prepare("SELECT revision, document, created_at, note FROM config_revisions ORDER BY revision DESC LIMIT 1")
        .first::<Value>(None)
        .await
        .map_err(store_failed)?;
    if let Some(row) = row {
        return Ok(revision_of(&row));
    }
    let kv = match env.kv("CONFIG") {
        Ok(kv) => kv.get("config").text().await.map_err(|e| ProxyError::internal(format!("KV: {e}")))?,
        Err(_) => None,
    };
    let (text, source) = match kv {
        Some(text) => (Some(text), "kv"),
        None => match string_binding(env, "LLMPROXY_CONFIG") {
            Some(text) => (Some(text), "var"),
            None => (None, "none"),
        },
    };
    let document = text.and_then(|text| serde_json::from_slice(text.as_bytes()).ok());
    Ok(Revision { revision: 0, document, created_at: None, note: String::new(), source })
}

fn conflict(based_on: i64, latest: i64) -> Result<Outgoing, ProxyError> {
    let message = format!(
        "the config changed since revision {based_on}: it is at revision {latest}; read it again, and apply the change to it"
    );
    let error = json!({"message": message, "type": "invalid_request_error", "code": "revision_conflict"});
    answer(412, &json!({"error": error, "revision": latest}))
}

fn invalid(problems: &[Problem]) -> Result<Outgoing, ProxyError> {
    let listed: Vec<String> = problems.iter().map(Problem::to_string).collect();
    let message = format!("the config is not valid: {}", listed.join("; "));
    let error = json!({"message": message, "type": "invalid_request_error", "code": "invalid_config"});
    answer(400, &json!({"error": error, "problems": problems}))
}

/// Stores `document` as the revision after `based_on`, if that is still the latest, and
/// publishes it to KV.
async fn save(
    env: &Env,
    database: &D1Database,
    document: Value,
    based_on: i64,
    note: Option<String>,
) -> Result<Outgoing, ProxyError> {
    let base = latest(env, database).await?;
    if base.revision != based_on {
        return conflict(based_on, base.revision);
    }
    let document = match restored(document, base.document.as_ref()) {
        Ok(document) => document,
        Err(problems) => return invalid(&problems),
    };
    let text = serde_json::to_string_pretty(&document).map_err(|e| ProxyError::internal(e.to_string()))?;
    if let Err(problems) = Config::check(&text) {
        return invalid(&problems);
    }
    let created = js_sys::Date::now();
    let note = note.unwrap_or_default();
    // Written only if `based_on` is still the latest revision: SQLite runs the statement whole.
    let inserted = database
        .prepare(
            "INSERT INTO config_revisions (revision, document, created_at, note) \
             SELECT ?1 + 1, ?2, ?3, ?4 WHERE (SELECT COALESCE(MAX(revision), 0) FROM config_revisions) = ?1",
        )
        .bind(&[
            JsValue::from(based_on as f64),
            JsValue::from_str(&text),
            JsValue::from(created),
            JsValue::from_str(&note),
        ])
        .map_err(store_failed)?
        .run()
        .await;
    let changes = match inserted {
        Ok(result) => result.meta().ok().flatten().and_then(|meta| meta.changes).unwrap_or(0),
        // Another writer took the same revision number first.
        Err(error) if error.to_string().contains("UNIQUE") => 0,
        Err(error) => return Err(store_failed(error)),
    };
    if changes == 0 {
        let now = latest(env, database).await?;
        return conflict(based_on, now.revision);
    }
    let revision = based_on + 1;
    database
        .prepare("DELETE FROM config_revisions WHERE revision <= ?1")
        .bind(&[JsValue::from((revision - KEPT_REVISIONS) as f64)])
        .map_err(store_failed)?
        .run()
        .await
        .map_err(store_failed)?;
    publish(env, database, revision, &text).await?;
    super::forget_config();
    let saved = Revision { revision, document: Some(document), created_at: Some(created), note, source: "revisions" };
    answer(200, &saved.shown())
}

/// Puts the latest revision into KV. Another writer may publish in between, an older revision
/// perhaps: so after each put the latest is read again, and put, until KV holds it. Whoever
/// writes last has just seen its document be the latest.
async fn publish(env: &Env, database: &D1Database, revision: i64, text: &str) -> Result<(), ProxyError> {
    let kv = env.kv("CONFIG").map_err(|_| {
        ProxyError::new(
            503,
            ErrorKind::Api,
            "the config is read from the KV namespace bound as CONFIG, which is not bound",
        )
    })?;
    let (mut revision, mut text) = (revision, text.to_string());
    for _ in 0..PUBLISH_ROUNDS {
        kv.put("config", text.as_str())
            .and_then(|put| put.metadata(json!({"revision": revision})))
            .map_err(|e| ProxyError::internal(format!("KV: {e}")))?
            .execute()
            .await
            .map_err(|e| ProxyError::new(503, ErrorKind::Api, format!("could not write the config to KV: {e}")))?;
        let now = latest(env, database).await?;
        if now.revision == revision {
            return Ok(());
        }
        let row = stored(database, now.revision).await?;
        let Some(document) = row.and_then(|row| row.document) else { return Ok(()) };
        text = serde_json::to_string_pretty(&document).map_err(|e| ProxyError::internal(e.to_string()))?;
        revision = now.revision;
    }
    Ok(())
}

async fn list(database: &D1Database) -> Result<Outgoing, ProxyError> {
    let rows = database
        .prepare(
            "SELECT revision, created_at, note, LENGTH(document) AS bytes FROM config_revisions ORDER BY revision DESC",
        )
        .all()
        .await
        .and_then(|result| result.results::<Value>())
        .map_err(store_failed)?;
    answer(200, &json!({"revisions": rows, "kept": KEPT_REVISIONS}))
}
