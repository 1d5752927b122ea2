//! The Durable Object of one issued key (class `IssuedKey`, bound as `KEYS`, named by the key's
//! id): `keys::object` decides, this keeps its state in the object's SQLite storage. Storage calls
//! are synchronous, so each message is handled whole before the next: counts stay exact however
//! many requests arrive at once.

use crate::keys::object::{Changes, Issued, KeyState, Message};
use crate::keys::{Entry, Meter, UNSETTLED_KEPT_MS};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS issued (k INTEGER PRIMARY KEY CHECK (k = 1), issued TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS entries (
        id TEXT PRIMARY KEY, at REAL NOT NULL, tokens INTEGER NOT NULL, cost REAL NOT NULL, settled INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS spend (k INTEGER PRIMARY KEY CHECK (k = 1), period_start REAL NOT NULL, spent REAL NOT NULL);
";

#[durable_object]
pub struct IssuedKey {
    state: State,
    /// The key's state, read from storage on the first message.
    loaded: RefCell<Option<KeyState>>,
}

impl DurableObject for IssuedKey {
    fn new(state: State, _env: Env) -> Self {
        Self { state, loaded: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Read as bytes, as every JSON in the worker is (`Request::json` goes through a JS value).
        let message = Message::from_json(&req.bytes().await?)?;
        let sql = self.state.storage().sql();
        let now = js_sys::Date::now();
        // No await from here on: the message is handled whole.
        let mut loaded = self.loaded.borrow_mut();
        let state = match loaded.as_mut() {
            Some(state) => state,
            None => loaded.insert(load(&sql, now)?),
        };
        let (reply, changes) = state.apply(message, now);
        store(&sql, state, &changes, now)?;
        Response::from_json(&reply)
    }
}

#[derive(Deserialize)]
struct IssuedRow {
    issued: String,
}

#[derive(Deserialize)]
struct EntryRow {
    id: String,
    at: f64,
    tokens: f64,
    cost: f64,
    settled: f64,
}

#[derive(Deserialize)]
struct SpendRow {
    period_start: f64,
    spent: f64,
}

fn load(sql: &SqlStorage, now: f64) -> Result<KeyState> {
    sql.exec(SCHEMA, None)?;
    let issued = sql.exec("SELECT issued FROM issued", None)?.to_array::<IssuedRow>()?;
    let issued = match issued.first() {
        Some(row) => Some(serde_json::from_slice::<Issued>(row.issued.as_bytes())?),
        None => None,
    };
    let entries = sql.exec("SELECT id, at, tokens, cost, settled FROM entries", None)?.to_array::<EntryRow>()?;
    let entries = entries
        .into_iter()
        .map(|row| Entry {
            at: row.at,
            id: row.id,
            tokens: row.tokens as u64,
            cost: row.cost,
            settled: row.settled != 0.0,
        })
        .collect();
    let spend = sql.exec("SELECT period_start, spent FROM spend", None)?.to_array::<SpendRow>()?;
    let (period_start, spent) = spend.first().map_or((0.0, 0.0), |row| (row.period_start, row.spent));
    Ok(KeyState { issued, meter: Meter::restore(entries, period_start, spent, now) })
}

fn store(sql: &SqlStorage, state: &KeyState, changes: &Changes, now: f64) -> Result<()> {
    if let (true, Some(issued)) = (changes.key, &state.issued) {
        let text = serde_json::to_string(issued)?;
        sql.exec("INSERT OR REPLACE INTO issued (k, issued) VALUES (1, ?)", vec![SqlStorageValue::from(text)])?;
    }
    if let Some(entry) = changes.entry.as_deref().and_then(|id| state.meter.entry(id)) {
        let values = vec![
            SqlStorageValue::from(entry.id.clone()),
            SqlStorageValue::from(entry.at),
            SqlStorageValue::from(entry.tokens as f64),
            SqlStorageValue::from(entry.cost),
            SqlStorageValue::from(i64::from(entry.settled)),
        ];
        sql.exec("INSERT OR REPLACE INTO entries (id, at, tokens, cost, settled) VALUES (?, ?, ?, ?, ?)", values)?;
        let (period_start, spent) = state.meter.spend();
        let values = vec![SqlStorageValue::from(period_start), SqlStorageValue::from(spent)];
        sql.exec("INSERT OR REPLACE INTO spend (k, period_start, spent) VALUES (1, ?, ?)", values)?;
        sql.exec("DELETE FROM entries WHERE at <= ?", vec![SqlStorageValue::from(now - UNSETTLED_KEPT_MS)])?;
    }
    Ok(())
}
