//! Gemini API (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:countTokens`, the same under `/v1`), and Gemini's Vertex publisher paths.

mod partial_args;
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
use crate::{ir, sse, vertex};
use serde_json::{json, Value};

pub struct Gemini;

/// What a Gemini method asks: the operation, and whether it streams.
fn method(name: &str) -> Option<(Operation, bool)> {
    match name {
        "generateContent" => Some((Operation::Generate, false)),
        "streamGenerateContent" => Some((Operation::Generate, true)),
        "countTokens" => Some((Operation::CountTokens, false)),
        _ => None,
    }
}

impl Codec for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    /// The model is in the path; google-genai for Python calls `/v1`, the rest `/v1beta`, and
    /// agents set up for Vertex call Google's publisher paths.
    fn endpoint(&self, path: &str) -> Option<Call> {
        let (model, name) = match path.strip_prefix("/v1beta/models/").or_else(|| path.strip_prefix("/v1/models/")) {
            Some(rest) => {
                let (model, name) = rest.rsplit_once(':')?;
                (percent_encoding::percent_decode_str(model).decode_utf8().ok()?.into_owned(), name)
            }
            None => match vertex::publisher_path(path)? {
                ("google", model, name) => (model, name),
                _ => return None,
            },
        };
        let (operation, stream) = method(name)?;
        Some(Call { operation, model: Some(model), stream: Some(stream), framing: Framing::Sse })
    }

    fn claim(&self, path: &str, header: &dyn Fn(&str) -> Option<String>) -> Option<Claim> {
        if path.starts_with("/v1beta/") {
            Some(Claim::Path)
        } else {
            header("x-goog-api-key").map(|_| Claim::Header)
        }
    }

    fn lists_models(&self, path: &str) -> bool {
        matches!(path, "/v1beta/models" | "/v1/models")
    }

    /// The caller sets the model and streaming from the URL: the body names neither.
    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError> {
        request::to_ir(serde_json::from_slice(body).map_err(codec::invalid_request)?)
    }

    /// The parts of `systemInstruction` (or `system_instruction`, which the API takes too); an
    /// appended text is a part of its own at their end, or the whole instruction.
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError> {
        json_object::edit(body, |fields| {
            let name = match fields.contains_key("system_instruction") {
                true => "system_instruction",
                false => "systemInstruction",
            };
            let mut instruction: Value = json_object::field(fields, name)?.unwrap_or_default();
            if let Some(parts) = instruction.get_mut("parts") {
                rewriter.content(parts)?;
            }
            if rewriter.appends() {
                if !instruction.is_object() {
                    instruction = json!({"parts": []});
                }
                if let Some(instruction) = instruction.as_object_mut() {
                    let parts = instruction.entry("parts").or_insert_with(|| json!([]));
                    rewriter.append_to(parts, |text| json!({"text": text}))?;
                }
            }
            if !instruction.is_null() {
                fields.insert(name.into(), json_object::to_raw(&instruction)?);
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
        error.gemini_body()
    }

    /// Gemini SDKs raise on a chunk holding `error`, shaped as Gemini's error bodies.
    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>) {
        sse::write_event(out, None, &self.error_body(error).to_string());
    }

    fn models_list(&self, models: &[(&str, &str)]) -> Option<Value> {
        let models: Vec<Value> = models
            .iter()
            .map(|(id, _)| {
                json!({
                    "name": format!("models/{id}"),
                    "displayName": id,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
                })
            })
            .collect();
        Some(json!({ "models": models }))
    }

    fn token_count(&self, tokens: u64) -> Option<Value> {
        Some(json!({ "totalTokens": tokens }))
    }

    fn answer_id(&self, now: u64) -> String {
        format!("mock{now}")
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

    /// Gemini's last chunk is the one with a finish reason.
    fn end_mark(&self, event: &sse::Event) -> Option<EndMark> {
        (event.data.contains("\"finishReason\"") || event.data.starts_with("{\"error\"")).then_some(EndMark::Last)
    }
}
