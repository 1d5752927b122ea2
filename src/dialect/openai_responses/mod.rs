//! OpenAI Responses (`POST /v1/responses`), as OpenAI and OpenResponses servers speak it.

pub mod request;
pub mod response;
pub mod stream;
pub mod types;

use crate::codec::{
    self, Call, Claim, ClientContext, Codec, EndMark, Operation, RequestFields, StreamDecoder, StreamEncoder,
};
use crate::config::Backend;
use crate::error::ProxyError;
use crate::json_object;
use crate::system_prompt::Rewriter;
use crate::{ir, sse};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub struct OpenAiResponses;

impl Codec for OpenAiResponses {
    fn name(&self) -> &'static str {
        "openai-responses"
    }

    fn endpoint(&self, path: &str) -> Option<Call> {
        (path == "/v1/responses").then(|| Call::of(Operation::Generate))
    }

    fn claim(&self, _path: &str, _header: &dyn Fn(&str) -> Option<String>) -> Option<Claim> {
        None
    }

    fn lists_models(&self, _path: &str) -> bool {
        false
    }

    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError> {
        request::to_ir(serde_json::from_slice(body).map_err(codec::invalid_request)?)
    }

    /// `instructions`, which an appended text ends (or becomes), and system and developer
    /// messages anywhere in `input`.
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError> {
        json_object::edit(body, |fields| {
            let mut instructions: Value = json_object::field(fields, "instructions")?.unwrap_or_default();
            rewriter.content(&mut instructions)?;
            rewriter.append_to(&mut instructions, |text| Value::from(text))?;
            if !instructions.is_null() {
                fields.insert("instructions".into(), json_object::to_raw(&instructions)?);
            }
            // A string `input` is one user message.
            let items = fields.get("input").filter(|input| input.get().starts_with('['));
            if let (true, Some(items)) = (rewriter.replaces(), items) {
                let mut items: Vec<Box<RawValue>> = json_object::parse(items)?;
                rewriter.messages(&mut items, &["system", "developer"])?;
                fields.insert("input".into(), json_object::to_raw(&items)?);
            }
            Ok(())
        })
    }

    fn context_fields(&self) -> &'static [&'static str] {
        &["tools"]
    }

    fn client_context(&self, fields: &RequestFields, now: u64) -> ClientContext {
        context(&fields.read::<Vec<types::Tool>>("tools").unwrap_or_default(), now)
    }

    fn request_to_ir_in_context(
        &self,
        body: &[u8],
        now: u64,
    ) -> Option<Result<(ir::Request, ClientContext), ProxyError>> {
        let tools_context = |request: &types::ResponsesRequest| context(&request.tools, now);
        Some(codec::read_in_context(body, tools_context, request::to_ir))
    }

    fn response_from_ir(&self, response: ir::Response, client: &ClientContext) -> Result<Vec<u8>, ProxyError> {
        codec::to_json(&response::from_ir(response, client.now, &client.namespaces))
    }

    fn encoder(&self, client: &ClientContext) -> Box<dyn StreamEncoder> {
        Box::new(stream::Encoder::new(client.now, client.namespaces.clone()))
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        json!({"error": error.openai_object()})
    }

    /// Outside a translated stream the response's id is not known, so the failure is the
    /// protocol's plain `error` event rather than `response.failed`.
    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>) {
        let mut event = error.openai_object();
        event["type"] = "error".into();
        sse::write_event(out, Some("error"), &event.to_string());
    }

    fn answer_id(&self, now: u64) -> String {
        format!("resp_mock{now}")
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
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<&'a str>,
        }
        match serde_json::from_slice::<Kind>(event.data.as_bytes()).ok()?.kind? {
            "response.completed" | "response.incomplete" | "response.failed" => Some(EndMark::Last),
            // OpenAI sends `response.failed` after an `error`.
            "error" => Some(EndMark::Complete),
            _ => None,
        }
    }
}

/// What a Responses client's answer must remember of its request: its tools' namespaces.
fn context(tools: &[types::Tool], now: u64) -> ClientContext {
    ClientContext { now, namespaces: stream::namespaces_of(tools), ..ClientContext::default() }
}
