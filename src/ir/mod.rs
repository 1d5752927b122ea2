//! The canonical intermediate representation every cross-dialect translation goes through:
//! each dialect maps its requests, responses and stream events to and from these types, so N client
//! dialects and M backend dialects need N + M mappings, not N × M.

use serde_json::Value;

mod raw;
mod signature;
mod stream;

pub use raw::{RawString, Schema};
pub use signature::{Provider, Signature};
pub use stream::{BlockStart, Blocks, Delta, EmptyArguments, StreamEvent};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// The model as the backend knows it (aliases already resolved).
    pub model: String,
    /// Instructions before the conversation, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// False when the client asked for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub reasoning: Option<Reasoning>,
    /// The shape the answer must take; None for free text.
    pub output_format: Option<OutputFormat>,
    pub seed: Option<i64>,
    /// Request fields the client sent that the backend dialect has no place for. They are not
    /// sent; the proxy names them in the `x-llmproxy-dropped` response header.
    pub dropped: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An instruction inside the conversation (Chat `system`/`developer` messages after the first
    /// turn, Anthropic `role: "system"` entries).
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// The model's refusal, which Chat and Responses tell apart from its answer.
    Refusal(String),
    Image(Media),
    /// A PDF or other document; `name` is its file name or title where the client gave one.
    Document {
        source: Media,
        name: Option<String>,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Thinking {
        text: String,
        signature: Option<Signature>,
    },
    /// Reasoning the provider encrypted; only the provider that made it can read it back.
    RedactedThinking {
        data: Signature,
    },
}

/// The bytes of an image or a document: inline as base64, or at a URL the backend fetches.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Base64 { media_type: String, data: String },
    Url(String),
}

impl Media {
    /// `data:…;base64,` URLs carry the bytes inline; any other URL is a link.
    pub fn from_url(url: String) -> Self {
        match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
            Some((media_type, data)) => Self::Base64 { media_type: media_type.to_string(), data: data.to_string() },
            None => Self::Url(url),
        }
    }

    /// The media as one URL: a `data:` URL for inline bytes.
    pub fn into_url(self) -> String {
        match self {
            Self::Url(url) => url,
            Self::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments of a call whose dialect holds them as a JSON object (Anthropic's `input`,
    /// Gemini's `args`, Bedrock's `input`) as the IR's JSON text; none are the empty object.
    pub fn arguments_of(object: &Value) -> String {
        if object.is_null() {
            "{}".to_string()
        } else {
            object.to_string()
        }
    }

    /// A call id as Anthropic and Bedrock accept one: letters, digits, `_` and `-` only, any other
    /// character made `_`.
    pub fn word_id(id: String) -> String {
        if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            id
        } else {
            id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
        }
    }

    /// The arguments as the JSON object Anthropic's `input` and Gemini's `args` hold. A model that
    /// produced broken JSON is kept as a string inside an object, so nothing is lost.
    pub fn arguments_object(&self) -> Value {
        if self.arguments.trim().is_empty() {
            return serde_json::json!({});
        }
        serde_json::from_slice::<Value>(self.arguments.as_bytes())
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| serde_json::json!({"input": self.arguments}))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Text and image parts only.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<RawString>,
    /// JSON Schema of the arguments object.
    pub parameters: Schema,
}

impl Tool {
    /// Its definition's tokens, estimated from its name and from its description's and schema's
    /// JSON text (whose escapes and quotes count as the characters they are written with).
    fn estimated_tokens(&self) -> u64 {
        let description = self.description.as_ref().map_or(0, |text| estimate_tokens(text.text()));
        estimate_tokens(&self.name) + description + estimate_tokens(self.parameters.text())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    Tool(String),
}

/// Structured output.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Any JSON object.
    Json,
    /// JSON matching a JSON Schema.
    JsonSchema { name: String, schema: Value, strict: Option<bool> },
}

impl OutputFormat {
    /// The schema to give backends that only take a schema: any object when none was set.
    pub fn schema(&self) -> Value {
        match self {
            Self::Json => serde_json::json!({"type": "object"}),
            Self::JsonSchema { schema, .. } => schema.clone(),
        }
    }

    /// The OpenAI shape (`response_format`, and Responses' `text.format` without the nesting).
    pub fn to_openai(&self, nested: bool) -> Value {
        match self {
            Self::Json => serde_json::json!({"type": "json_object"}),
            Self::JsonSchema { name, schema, strict } => {
                let mut format = serde_json::json!({"name": name, "schema": schema});
                if let Some(strict) = strict {
                    format["strict"] = (*strict).into();
                }
                if nested {
                    serde_json::json!({"type": "json_schema", "json_schema": format})
                } else {
                    format["type"] = "json_schema".into();
                    format
                }
            }
        }
    }

    /// Reads the OpenAI shape; `nested` as for `to_openai`. None for plain text.
    pub fn from_openai(value: &Value, nested: bool) -> Result<Option<Self>, String> {
        match value.get("type").and_then(Value::as_str) {
            Some("text") => Ok(None),
            Some("json_object") => Ok(Some(Self::Json)),
            Some("json_schema") => {
                let format = if nested { value.get("json_schema").unwrap_or(&Value::Null) } else { value };
                Ok(Some(Self::JsonSchema {
                    name: format.get("name").and_then(Value::as_str).unwrap_or("output").to_string(),
                    schema: format.get("schema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    strict: format.get("strict").and_then(Value::as_bool),
                }))
            }
            other => Err(format!("unknown format type {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

/// How much the model should think before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    Off,
    Effort(Effort),
    BudgetTokens(u32),
}

impl Reasoning {
    /// The thinking budget an effort stands for, so an OpenAI `reasoning_effort` becomes an
    /// Anthropic budget: low 1024, medium 8192, high 24576 tokens.
    pub fn budget_tokens(self) -> Option<u32> {
        match self {
            Self::Off => None,
            Self::BudgetTokens(n) => Some(n),
            Self::Effort(Effort::Low) => Some(1024),
            Self::Effort(Effort::Medium) => Some(8192),
            Self::Effort(Effort::High) => Some(24576),
        }
    }

    /// Claude's `thinking` setting, which Anthropic's API and Bedrock's
    /// `additionalModelRequestFields` share: `enabled` with a budget, `adaptive` (the model decides,
    /// as a medium effort) or `disabled`; None for any other.
    pub fn of_claude_thinking(kind: &str, budget_tokens: Option<u32>) -> Option<Self> {
        match (kind, budget_tokens) {
            ("enabled", Some(budget)) => Some(Self::BudgetTokens(budget)),
            ("adaptive", _) => Some(Self::Effort(Effort::Medium)),
            ("disabled", _) => Some(Self::Off),
            _ => None,
        }
    }

    /// The output limit for a model that counts its thinking inside it (Claude) and needs room
    /// for an answer after the budget.
    pub fn output_limit_with_budget(max_tokens: u32, budget: u32) -> u32 {
        if max_tokens <= budget {
            max_tokens.saturating_add(budget)
        } else {
            max_tokens
        }
    }

    /// The effort a thinking budget stands for, for backends that take an effort (the reverse of
    /// `budget_tokens`, with the thresholds halfway between).
    pub fn effort(self) -> Option<Effort> {
        match self {
            Self::Off => None,
            Self::Effort(effort) => Some(effort),
            Self::BudgetTokens(n) if n < 4096 => Some(Effort::Low),
            Self::BudgetTokens(n) if n < 16384 => Some(Effort::Medium),
            Self::BudgetTokens(_) => Some(Effort::High),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (a part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache (a part of `input_tokens`).
    pub cache_write_tokens: u64,
    /// Output tokens spent on reasoning (a part of `output_tokens`), where the backend says.
    pub reasoning_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    /// The model declined (Anthropic `refusal`).
    Refusal,
    /// The provider's filter cut the answer (OpenAI `content_filter`).
    ContentFilter,
    /// A long-running turn paused; the client should send it back to continue (Anthropic).
    PauseTurn,
    ContextWindowExceeded,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub id: String,
    pub model: String,
    pub content: Vec<Part>,
    pub stop_reason: Option<StopReason>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

/// The text of some parts, one after another; parts that are not text are left out.
pub fn join_text(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// About four characters a token: the estimate used where no backend counts.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

impl Request {
    /// An estimate of the prompt's tokens: its text, tool calls, tool results and tool definitions
    /// at about four characters a token.
    pub fn estimated_input_tokens(&self) -> u64 {
        let part = |part: &Part| match part {
            Part::Text(text) | Part::Refusal(text) | Part::Thinking { text, .. } => estimate_tokens(text),
            Part::ToolCall(call) => estimate_tokens(&call.name) + estimate_tokens(&call.arguments),
            Part::ToolResult(result) => estimate_tokens(&join_text(&result.content)),
            Part::Image(_) | Part::Document { .. } | Part::RedactedThinking { .. } => 0,
        };
        self.system.iter().map(|s| estimate_tokens(s)).sum::<u64>()
            + self.messages.iter().flat_map(|m| &m.content).map(part).sum::<u64>()
            + self.tools.iter().map(Tool::estimated_tokens).sum::<u64>()
    }
}

/// How many dropped fields are named one by one; past that the list ends with `…`. Field names
/// are the client's, so their number is bounded and each one costs a bounded search.
pub const MAX_DROPPED_NAMED: usize = 32;
/// The longest field name written into the header, in characters.
const MAX_DROPPED_NAME_CHARS: usize = 64;
const MORE_DROPPED: &str = "…";

/// Records a request field that the backend dialect cannot carry, once.
pub fn note_dropped(dropped: &mut Vec<String>, field: &str) {
    if dropped.iter().any(|f| f == field) {
        return;
    }
    if dropped.len() < MAX_DROPPED_NAMED {
        dropped.push(field.to_string());
    } else if dropped.last().is_some_and(|last| last != MORE_DROPPED) {
        dropped.push(MORE_DROPPED.to_string());
    }
}

/// The dropped fields as the value of `x-llmproxy-dropped`: names separated by `, `, each cut to
/// 64 characters and percent-encoded outside visible ASCII (and `,` and `%`), so that any name a
/// client sends makes a valid header value; None when nothing was dropped.
pub fn dropped_header(dropped: &[String]) -> Option<String> {
    const ENCODED: &percent_encoding::AsciiSet =
        &percent_encoding::CONTROLS.add(b' ').add(b',').add(b'%').add(b'"').add(0x7f);
    let names: Vec<String> = dropped
        .iter()
        .map(|name| match name.as_str() {
            MORE_DROPPED => "...".to_string(),
            name => {
                let cut: String = name.chars().take(MAX_DROPPED_NAME_CHARS).collect();
                percent_encoding::utf8_percent_encode(&cut, ENCODED).to_string()
            }
        })
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_names_make_a_bounded_valid_header_whatever_the_client_sent() {
        let mut dropped = Vec::new();
        for name in ["a\r\nset-cookie: x", "名前", "x,y", "metadata", "metadata"] {
            note_dropped(&mut dropped, name);
        }
        assert_eq!(dropped.len(), 4, "each name once");
        let header = dropped_header(&dropped).unwrap();
        assert_eq!(header, "a%0D%0Aset-cookie:%20x, %E5%90%8D%E5%89%8D, x%2Cy, metadata");
        for i in 0..10_000 {
            note_dropped(&mut dropped, &format!("field{i}{}", "z".repeat(200)));
        }
        assert_eq!(dropped.len(), MAX_DROPPED_NAMED + 1);
        let header = dropped_header(&dropped).unwrap();
        assert!(header.ends_with(", ...") && header.len() < 4096, "{}", header.len());
        assert!(header.bytes().all(|b| (0x20..0x7f).contains(&b)));
        assert_eq!(dropped_header(&[]), None);
    }
}
