//! Bedrock Converse wire types (`Converse`, `ConverseStream`). Converse's unions (content blocks,
//! sources, tools, tool choices, deltas) are objects whose one key names the member, as serde's
//! externally tagged enums read and write them; members the proxy does not translate are kept
//! whole in `Other`, and unknown fields of the request in `extra`.

use crate::ir::{RawString, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The model is not in the body, and neither is whether to stream: both are in the URL
/// (`/model/{modelId}/converse`, `/model/{modelId}/converse-stream`).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<ContentBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Fields passed to the model as they are (Claude's `thinking`, `top_k`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// A content block of a message, of the system prompt (text and cache points only), or of the
/// generated text of a citation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(Image),
    Document(Document),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
    ReasoningContent(ReasoningContent),
    /// Text the model wrote from documents, with the passages it cites.
    CitationsContent(CitationsContent),
    /// Where the prompt cache ends: it only steers Bedrock itself.
    CachePoint(Value),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Image {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    pub source: Source,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Document {
    /// `pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`, `html`, `txt` or `md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Required: letters, digits, single spaces, hyphens, parentheses and square brackets.
    #[serde(default)]
    pub name: String,
    pub source: Source,
    /// `context`, `citations`: how Bedrock reads and cites the document.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where an image's or a document's bytes are.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Base64.
    Bytes(String),
    S3Location(S3Location),
    /// A document given as plain text.
    Text(String),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// `s3://bucket/key`.
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    /// An object.
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    pub tool_use_id: String,
    #[serde(default)]
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    Text(String),
    Json(Value),
    Image(Image),
    Document(Document),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContent {
    ReasoningText(ReasoningText),
    /// Reasoning Bedrock encrypted (base64 bytes).
    RedactedContent(String),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ReasoningText {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CitationsContent {
    /// The text written, as `text` blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The settings every model takes; the others go in `additionalModelRequestFields`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpec),
    CachePoint(Value),
    /// Bedrock's own tools (`systemTool`).
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    /// Read as a tree first, as `InputSchema::json` is: a tool is read through the buffer of the
    /// `untagged` variant of `Tool`, which raw JSON text cannot be read from.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "RawString::maybe_from_tree")]
    pub description: Option<RawString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<InputSchema>,
    /// `strict`: calls held to their schema.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InputSchema {
    /// JSON Schema of the arguments object. A tool is read through the buffer of the `untagged`
    /// variant of `Tool`, which raw JSON text cannot be read from, so it is read as a tree first.
    #[serde(deserialize_with = "Schema::from_tree")]
    pub json: Schema,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    /// `{}`.
    Auto(Map<String, Value>),
    /// Some tool must be called; `{}`.
    Any(Map<String, Value>),
    Tool(ToolName),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ToolName {
    pub name: String,
}

/// Structured output: `{"textFormat": {"type": "json_schema", "structure": {"jsonSchema": …}}}`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<TextFormat>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TextFormat {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<FormatStructure>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatStructure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaDefinition>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JsonSchemaDefinition {
    /// The schema as JSON text.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A whole answer. It names no model and has no id.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    #[serde(default)]
    pub output: Output,
    #[serde(default)]
    pub stop_reason: String,
    #[serde(default)]
    pub usage: TokenUsage,
    #[serde(default)]
    pub metrics: Metrics,
    /// Claude's `stop_sequence`, among others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Output {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// `inputTokens` are the prompt tokens that were neither read from nor written to the cache.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(default)]
    pub latency_ms: u64,
}

/// The payload of a `messageStart` event.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MessageStart {
    #[serde(default)]
    pub role: String,
}

/// The payload of a `contentBlockStart` event; text blocks may have none.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    pub content_block_index: usize,
    #[serde(default)]
    pub start: BlockStart,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseStart>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

/// The payload of a `contentBlockDelta` event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    pub content_block_index: usize,
    pub delta: BlockDelta,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockDelta {
    Text(String),
    ToolUse(ToolUseDelta),
    ReasoningContent(ReasoningDelta),
    /// Citations and the like.
    #[serde(untagged)]
    Other(Value),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ToolUseDelta {
    /// A piece of the arguments' JSON text.
    pub input: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningDelta {
    Text(String),
    Signature(String),
    RedactedContent(String),
    #[serde(untagged)]
    Other(Value),
}

/// The payload of a `contentBlockStop` event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    pub content_block_index: usize,
}

/// The payload of a `messageStop` event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    #[serde(default)]
    pub stop_reason: String,
    /// Claude's `{"delta": {"stop_sequence": …}}`, among others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

/// The payload of the `metadata` event, the stream's last.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub usage: TokenUsage,
    #[serde(default)]
    pub metrics: Metrics,
}
