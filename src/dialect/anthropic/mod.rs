//! Anthropic Messages (`POST /v1/messages`, `/v1/messages/count_tokens`), and Claude's Vertex
//! publisher paths and Bedrock `InvokeModel` paths, which carry the same bodies.

pub mod request;
pub mod response;
pub mod stream;
pub mod types;

use crate::codec::{
    self, Call, Claim, ClientContext, Codec, EndMark, Framing, Operation, StreamDecoder, StreamEncoder,
};
use crate::config::Backend;
use crate::error::ProxyError;
use crate::json_object;
use crate::system_prompt::Rewriter;
use crate::{bedrock, ir, sse, vertex};
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub struct Anthropic;

impl Codec for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn endpoint(&self, path: &str) -> Option<Call> {
        match path {
            "/v1/messages" => return Some(Call::of(Operation::Generate)),
            "/v1/messages/count_tokens" => return Some(Call::of(Operation::CountTokens)),
            _ => {}
        }
        // Claude Code with CLAUDE_CODE_USE_BEDROCK, and Anthropic's Bedrock SDKs: streams come
        // back as event-stream chunks.
        if let Some((model, method)) = bedrock::model_path(path) {
            let stream = match method {
                "invoke" => false,
                "invoke-with-response-stream" => true,
                _ => return None,
            };
            let (operation, framing) = (Operation::Generate, Framing::EventStreamChunks);
            return Some(Call { operation, model: Some(model), stream: Some(stream), framing });
        }
        // Claude Code with CLAUDE_CODE_USE_VERTEX. Vertex counts Claude tokens at a shared
        // endpoint, whose model is then the body's.
        let (publisher, model, method) = vertex::publisher_path(path)?;
        let (operation, stream) = match (publisher, method) {
            ("anthropic", "rawPredict") if model == "count-tokens" => (Operation::CountTokens, false),
            ("anthropic", "rawPredict") => (Operation::Generate, false),
            ("anthropic", "streamRawPredict") => (Operation::Generate, true),
            _ => return None,
        };
        let model = (operation == Operation::Generate).then_some(model);
        Some(Call { operation, model, stream: Some(stream), framing: Framing::Sse })
    }

    fn claim(&self, _path: &str, header: &dyn Fn(&str) -> Option<String>) -> Option<Claim> {
        header("anthropic-version").map(|_| Claim::Header)
    }

    fn lists_models(&self, path: &str) -> bool {
        path == "/v1/models"
    }

    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError> {
        request::to_ir(serde_json::from_slice(body).map_err(codec::invalid_request)?)
    }

    /// Its answer remembers nothing of its request.
    fn request_to_ir_in_context(
        &self,
        body: &[u8],
        now: u64,
    ) -> Option<Result<(ir::Request, ClientContext), ProxyError>> {
        let context = |_: &types::MessagesRequest| ClientContext::at(now);
        Some(codec::read_in_context(body, context, request::to_ir))
    }

    /// `system`, a string or text blocks, which an appended text ends (or becomes), and
    /// `role: "system"` entries in `messages`.
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError> {
        json_object::edit(body, |fields| {
            let mut system: Value = json_object::field(fields, "system")?.unwrap_or_default();
            rewriter.content(&mut system)?;
            rewriter.append_to(&mut system, |text| json!({"type": "text", "text": text}))?;
            if !system.is_null() {
                fields.insert("system".into(), json_object::to_raw(&system)?);
            }
            if let (true, Some(messages)) = (rewriter.replaces(), fields.get("messages")) {
                let mut messages: Vec<Box<RawValue>> = json_object::parse(messages)?;
                rewriter.messages(&mut messages, &["system"])?;
                fields.insert("messages".into(), json_object::to_raw(&messages)?);
            }
            Ok(())
        })
    }

    fn response_from_ir(&self, response: ir::Response, _client: &ClientContext) -> Result<Vec<u8>, ProxyError> {
        codec::to_json(&response::from_ir(response))
    }

    fn encoder(&self, _client: &ClientContext) -> Box<dyn StreamEncoder> {
        Box::<stream::Encoder>::default()
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        error.anthropic_body()
    }

    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>) {
        stream::write_error(error, out);
    }

    fn models_list(&self, models: &[(&str, &str)]) -> Option<Value> {
        let data: Vec<Value> = models
            .iter()
            .map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}))
            .collect();
        Some(json!({
            "data": data,
            "has_more": false,
            "first_id": models.first().map(|(id, _)| *id),
            "last_id": models.last().map(|(id, _)| *id),
        }))
    }

    fn token_count(&self, tokens: u64) -> Option<Value> {
        Some(json!({ "input_tokens": tokens }))
    }

    fn answer_id(&self, now: u64) -> String {
        format!("msg_mock{now}")
    }

    fn request_from_ir(&self, request: ir::Request, backend: &Backend) -> Result<(Vec<u8>, Vec<String>), ProxyError> {
        let (request, dropped) = request::from_ir(request, backend)?;
        Ok((codec::to_json(&request)?, dropped))
    }

    fn response_to_ir(&self, body: &[u8]) -> Result<ir::Response, ProxyError> {
        response::to_ir(serde_json::from_slice(body).map_err(codec::unreadable_answer)?)
    }

    fn decoder(&self) -> Box<dyn StreamDecoder> {
        Box::<stream::Decoder>::default()
    }

    fn end_mark(&self, event: &sse::Event) -> Option<EndMark> {
        matches!(event.event.as_str(), "message_stop" | "error").then_some(EndMark::Last)
    }
}
