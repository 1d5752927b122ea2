//! Where usage records go, after the response (`ctx.waitUntil`): the D1 database bound as `DB`,
//! and, when bound, the Analytics Engine dataset `USAGE_EVENTS` as well.

use crate::usage::{self, Record};
use std::cell::Cell;
use wasm_bindgen::JsValue;
use worker::{AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, D1Database, Env};

pub const DATABASE: &str = "DB";
pub const EVENTS: &str = "USAGE_EVENTS";

thread_local! {
    /// Whether the isolate has a usage database or dataset bound, once it has looked.
    static BOUND: Cell<Option<bool>> = const { Cell::new(None) };
}

pub struct Recorder {
    database: Option<D1Database>,
    events: Option<AnalyticsEngineDataset>,
}

impl Recorder {
    /// The recorder of a worker with a usage database or dataset bound; None without either.
    pub fn of(env: &Env) -> Option<Self> {
        // Bindings come with a deployment, so an isolate that found none has none.
        if BOUND.get() == Some(false) {
            return None;
        }
        let database = env.d1(DATABASE).ok();
        let events = env.analytics_engine(EVENTS).ok();
        let bound = database.is_some() || events.is_some();
        BOUND.set(Some(bound));
        bound.then_some(Self { database, events })
    }

    pub async fn write(&self, record: &Record) {
        if let Some(events) = &self.events {
            if let Err(error) = data_point(record).write_to(events) {
                worker::console_error!("could not write a usage data point: {error}");
            }
        }
        if let Some(database) = &self.database {
            let values: Vec<JsValue> = record.values().iter().map(js_value).collect();
            let written = match database.prepare(usage::insert_statement()).bind(&values) {
                Ok(statement) => statement.run().await.map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                worker::console_error!("could not write a usage record: {error}");
            }
        }
    }
}

pub fn js_value(value: &serde_json::Value) -> JsValue {
    match value {
        serde_json::Value::Null => JsValue::NULL,
        serde_json::Value::Bool(b) => JsValue::from(u8::from(*b)),
        serde_json::Value::Number(n) => JsValue::from(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => JsValue::from_str(s),
        other => JsValue::from_str(&other.to_string()),
    }
}

/// A record as an Analytics Engine data point: the key id is the index (sampling keeps keys
/// apart), names are blobs and numbers doubles, in `Record::values` order.
fn data_point(record: &Record) -> AnalyticsEngineDataPointBuilder {
    let error = record.error.clone().unwrap_or_default();
    AnalyticsEngineDataPointBuilder::new()
        .indexes([record.key_id.as_str()])
        .blobs([
            record.client.as_str(),
            record.endpoint.as_str(),
            record.backend.as_str(),
            record.model_asked.as_str(),
            record.model_sent.as_str(),
            error.as_str(),
        ])
        .doubles([
            f64::from(record.status),
            f64::from(u8::from(record.streamed)),
            record.input_tokens as f64,
            record.output_tokens as f64,
            record.cached_tokens as f64,
            record.reasoning_tokens as f64,
            record.cost_usd.unwrap_or(0.0),
            record.ttfb_ms as f64,
            record.total_ms as f64,
            f64::from(record.attempts),
        ])
}
