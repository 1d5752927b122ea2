//! The usage record of every request — who asked which model of which backend, what it cost in
//! tokens and dollars, how long it took, how it ended — and the price table costs come from. No
//! prompt or answer text is ever part of a record.

use crate::ir::Usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// US dollars per million tokens. Cache reads and writes cost the input price when not given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

/// Prices by model glob. The most specific pattern wins: an exact name, else the longest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices {
    patterns: Vec<(String, Price)>,
}

impl Prices {
    /// The prices, or the pattern whose price is not one and why.
    pub fn from_map(map: BTreeMap<String, Price>) -> Result<Self, (String, String)> {
        if let Some((model, _)) = map.iter().find(|(_, p)| {
            [Some(p.input), Some(p.output), p.cache_read, p.cache_write]
                .iter()
                .flatten()
                .any(|v| !v.is_finite() || *v < 0.0)
        }) {
            return Err((model.clone(), "prices are dollars per million tokens, at least 0".into()));
        }
        let mut patterns: Vec<(String, Price)> = map.into_iter().collect();
        let literal = |p: &str| !p.contains(['*', '?', '[', '{']);
        patterns.sort_by(|(a, _), (b, _)| literal(b).cmp(&literal(a)).then(b.len().cmp(&a.len())));
        Ok(Self { patterns })
    }

    pub fn of(&self, model: &str) -> Option<&Price> {
        self.patterns.iter().find(|(glob, _)| glob_match::glob_match(glob, model)).map(|(_, price)| price)
    }

    /// What `usage` of `model` cost; None when the model has no price (never a made-up one).
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.of(model)?;
        let cached = usage.cache_read_tokens.saturating_add(usage.cache_write_tokens);
        let uncached = usage.input_tokens.saturating_sub(cached) as f64;
        let dollars = uncached * price.input
            + usage.cache_read_tokens as f64 * price.cache_read.unwrap_or(price.input)
            + usage.cache_write_tokens as f64 * price.cache_write.unwrap_or(price.input)
            + usage.output_tokens as f64 * price.output;
        Some(dollars / 1_000_000.0)
    }
}

/// One request's record, as it is stored (D1) and sent (Analytics Engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Record {
    /// When the request came (ms since the epoch).
    pub at_ms: u64,
    /// The issued key's id, `static` for an `LLMPROXY_API_KEY` key, `anonymous` without one.
    pub key_id: String,
    pub client: String,
    pub endpoint: String,
    pub backend: String,
    pub model_asked: String,
    pub model_sent: String,
    pub status: u16,
    pub streamed: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: Option<f64>,
    pub ttfb_ms: u64,
    pub total_ms: u64,
    pub attempts: u32,
    /// What went wrong, when something did (`status 503`, `timeout`, `cut`, …).
    pub error: Option<String>,
    /// The tokens are the answer's own report; otherwise (a stream cut short) an estimate.
    pub usage_reported: bool,
}

/// The most of a client's text (its path, the model it named) a record keeps.
const MAX_TEXT_CHARS: usize = 256;

/// `text` as a record keeps it: at most `MAX_TEXT_CHARS` characters.
pub fn bounded(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}

/// The columns of the `usage` table (see `migrations/`), in the order of `Record::values`.
const COLUMNS: [&str; 19] = [
    "at_ms",
    "key_id",
    "client",
    "endpoint",
    "backend",
    "model_asked",
    "model_sent",
    "status",
    "streamed",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "ttfb_ms",
    "total_ms",
    "attempts",
    "error",
    "usage_reported",
];

/// The statement that stores a record; its bindings are `Record::values`.
pub fn insert_statement() -> String {
    let marks: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO usage ({}) VALUES ({})", COLUMNS.join(", "), marks.join(", "))
}

impl Record {
    /// The record's values, column by column (see `insert_statement`).
    pub fn values(&self) -> Vec<serde_json::Value> {
        use serde_json::json;
        vec![
            json!(self.at_ms),
            json!(self.key_id),
            json!(self.client),
            json!(self.endpoint),
            json!(self.backend),
            json!(self.model_asked),
            json!(self.model_sent),
            json!(self.status),
            json!(u8::from(self.streamed)),
            json!(self.input_tokens),
            json!(self.output_tokens),
            json!(self.cached_tokens),
            json!(self.reasoning_tokens),
            json!(self.cost_usd),
            json!(self.ttfb_ms),
            json!(self.total_ms),
            json!(self.attempts),
            json!(self.error),
            json!(u8::from(self.usage_reported)),
        ]
    }

    pub fn set_usage(&mut self, usage: &Usage, prices: &Prices) {
        self.input_tokens = usage.input_tokens;
        self.output_tokens = usage.output_tokens;
        self.cached_tokens = usage.cache_read_tokens;
        self.reasoning_tokens = usage.reasoning_tokens;
        self.cost_usd = prices.cost(&self.model_sent, usage);
    }
}

/// What `GET /admin/usage` may group by, and the SQL expression of each.
pub fn group_column(group: &str) -> Option<&'static str> {
    Some(match group {
        "key" => "key_id",
        // The model sent, or, for a request refused before it was sent, the one asked for.
        "model" => "CASE WHEN model_sent = '' THEN model_asked ELSE model_sent END",
        "backend" => "backend",
        "client" => "client",
        "day" => "strftime('%Y-%m-%d', at_ms / 1000, 'unixepoch')",
        "hour" => "strftime('%Y-%m-%dT%H:00', at_ms / 1000, 'unixepoch')",
        "minute" => "strftime('%Y-%m-%dT%H:%M', at_ms / 1000, 'unixepoch')",
        _ => return None,
    })
}

/// The query of `GET /admin/usage`: totals grouped by `group` (or one total) over `[from, to)`;
/// its bindings are the range's ends and a key id, or null for every key.
pub fn summary_query(group: Option<&str>) -> Result<String, String> {
    let (column, grouped) = match group {
        None => ("'all'", ""),
        Some(name) => (
            group_column(name).ok_or_else(|| {
                format!("group: `{name}` is not one of key, model, backend, client, day, hour, minute")
            })?,
            " GROUP BY grp ORDER BY grp",
        ),
    };
    // Token sums are 0 over no rows; a cost stays null where no request had a price. The total
    // latency's p50 and p95 are nearest-rank, from each row's rank within its group.
    Ok(format!(
        "SELECT grp, COUNT(*) AS requests, COALESCE(SUM(status >= 400 OR error IS NOT NULL), 0) AS errors, \
         COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, \
         COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens, \
         SUM(cost_usd) AS cost_usd, COUNT(cost_usd) AS priced, \
         AVG(ttfb_ms) AS ttfb_ms_avg, AVG(total_ms) AS total_ms_avg, MAX(total_ms) AS total_ms_max, \
         MIN(CASE WHEN latency_rank * 2 >= in_group THEN total_ms END) AS total_ms_p50, \
         MIN(CASE WHEN latency_rank * 20 >= in_group * 19 THEN total_ms END) AS total_ms_p95 \
         FROM (SELECT *, {column} AS grp, ROW_NUMBER() OVER (PARTITION BY {column} ORDER BY total_ms) AS latency_rank, \
         COUNT(*) OVER (PARTITION BY {column}) AS in_group \
         FROM usage WHERE at_ms >= ?1 AND at_ms < ?2 AND (?3 IS NULL OR key_id = ?3)){grouped}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        let price = |input, output| Price { input, output, cache_read: None, cache_write: None };
        Prices::from_map(BTreeMap::from([
            ("gpt-*".to_string(), price(1.0, 2.0)),
            ("gpt-5*".to_string(), price(1.25, 10.0)),
            ("gpt-5-mini".to_string(), Price { cache_read: Some(0.025), ..price(0.25, 2.0) }),
        ]))
        .unwrap()
    }

    #[test]
    fn the_most_specific_price_wins_and_caching_is_priced_apart() {
        let prices = prices();
        assert_eq!(prices.of("gpt-5-mini").unwrap().input, 0.25);
        assert_eq!(prices.of("gpt-5.1").unwrap().input, 1.25);
        assert_eq!(prices.of("gpt-4o").unwrap().input, 1.0);
        assert_eq!(prices.of("claude-x"), None);
        let usage =
            Usage { input_tokens: 1_000_000, cache_read_tokens: 400_000, output_tokens: 100_000, ..Usage::default() };
        let cost = prices.cost("gpt-5-mini", &usage).unwrap();
        assert!((cost - (0.6 * 0.25 + 0.4 * 0.025 + 0.1 * 2.0)).abs() < 1e-12, "{cost}");
        assert_eq!(prices.cost("claude-x", &usage), None, "no price, no made-up cost");
        let bad = Prices::from_map(BTreeMap::from([(
            "m".into(),
            Price { input: -1.0, output: 0.0, cache_read: None, cache_write: None },
        )]));
        assert_eq!(bad.unwrap_err().0, "m");
    }

    #[test]
    fn a_record_has_a_value_for_each_column() {
        let record = Record { streamed: true, cost_usd: None, ..Record::default() };
        let values = record.values();
        assert_eq!(values.len(), COLUMNS.len());
        assert_eq!(insert_statement().matches('?').count(), COLUMNS.len());
        assert_eq!((&values[8], &values[13]), (&serde_json::json!(1), &serde_json::Value::Null), "no price: null");
        assert_eq!(bounded(&"é".repeat(1000)).chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn usage_groups_are_a_fixed_list_not_sql_from_the_caller() {
        assert!(summary_query(Some("model")).unwrap().contains("ELSE model_sent END AS grp"));
        assert!(summary_query(Some("model")).unwrap().contains("PARTITION BY CASE"), "percentiles per group");
        let total = summary_query(None).unwrap();
        assert!(total.contains("'all' AS grp") && !total.contains("GROUP BY"), "one row, even over no requests");
        assert!(summary_query(Some("key_id; DROP TABLE usage")).is_err());
    }
}
