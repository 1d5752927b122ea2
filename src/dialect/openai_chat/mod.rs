//! OpenAI Chat Completions (`POST /v1/chat/completions`), as OpenAI and compatible servers speak it.

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
use serde_json::{json, Map, Value};

pub struct OpenAiChat;

impl Codec for OpenAiChat {
    fn name(&self) -> &'static str {
        "openai-chat"
    }

    fn endpoint(&self, path: &str) -> Option<Call> {
        (path == "/v1/chat/completions").then(|| Call::of(Operation::Generate))
    }

    /// OpenAI's shapes are the default for requests nobody else claims.
    fn claim(&self, _path: &str, _header: &dyn Fn(&str) -> Option<String>) -> Option<Claim> {
        Some(Claim::Fallback)
    }

    fn lists_models(&self, path: &str) -> bool {
        path == "/v1/models"
    }

    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError> {
        request::to_ir(serde_json::from_slice(body).map_err(codec::invalid_request)?)
    }

    /// System and developer messages anywhere; an appended text ends the last of those that
    /// open the conversation, or is a system message of its own before it.
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError> {
        json_object::edit(body, |fields| {
            let mut messages: Vec<Box<RawValue>> = json_object::field(fields, "messages")?.unwrap_or_default();
            let text_part = |text: &str| json!({"type": "text", "text": text});
            match rewriter.messages(&mut messages, &["system", "developer"])? {
                Some(last) => rewriter.append_to_message(&mut messages[last], text_part)?,
                None if rewriter.appends() => {
                    let mut content = Value::Null;
                    rewriter.append_to(&mut content, text_part)?;
                    messages.insert(0, json_object::to_raw(&json!({"role": "system", "content": content}))?);
                }
                None => {}
            }
            fields.insert("messages".into(), json_object::to_raw(&messages)?);
            Ok(())
        })
    }

    fn context_fields(&self) -> &'static [&'static str] {
        &["stream_options"]
    }

    fn client_context(&self, fields: &RequestFields, now: u64) -> ClientContext {
        // Only the flag: options that the typed request would not read (an array) still give it.
        #[derive(Deserialize)]
        struct Options {
            include_usage: Option<bool>,
        }
        context(fields.read::<Options>("stream_options").and_then(|options| options.include_usage), now)
    }

    fn request_to_ir_in_context(
        &self,
        body: &[u8],
        now: u64,
    ) -> Option<Result<(ir::Request, ClientContext), ProxyError>> {
        let include_usage = |request: &types::ChatRequest| request.stream_options.as_ref()?.include_usage;
        Some(codec::read_in_context(body, |request| context(include_usage(request), now), request::to_ir))
    }

    fn response_from_ir(&self, response: ir::Response, client: &ClientContext) -> Result<Vec<u8>, ProxyError> {
        codec::to_json(&response::from_ir(response, client.now))
    }

    fn encoder(&self, client: &ClientContext) -> Box<dyn StreamEncoder> {
        Box::new(stream::Encoder::new(client.now, client.include_usage))
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        json!({"error": error.openai_object()})
    }

    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>) {
        stream::write_error(error, out);
    }

    fn models_list(&self, models: &[(&str, &str)]) -> Option<Value> {
        let data: Vec<Value> = models
            .iter()
            .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
            .collect();
        Some(json!({"object": "list", "data": data}))
    }

    fn answer_id(&self, now: u64) -> String {
        format!("chatcmpl-mock{now}")
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
        let data = &event.data;
        if data == "[DONE]" || data.starts_with("{\"error\"") {
            Some(EndMark::Last)
        } else if has_finish_reason(data) {
            // The usage chunk and `[DONE]` follow; some compatible servers send neither.
            Some(EndMark::Complete)
        } else {
            None
        }
    }

    fn with_usage_reported(&self, body: &[u8], backend: &Backend) -> Result<Option<Vec<u8>>, ProxyError> {
        if !backend.takes_stream_options() {
            return Ok(None);
        }
        let mut fields = json_object::read(body)?;
        let mut options: Map<String, Value> = match fields.get("stream_options") {
            Some(raw) if raw.get() != "null" => json_object::parse(raw)?,
            _ => Map::new(),
        };
        if options.get("include_usage") == Some(&Value::Bool(true)) {
            return Ok(None);
        }
        options.insert("include_usage".into(), Value::Bool(true));
        fields.insert("stream_options".into(), json_object::to_raw(&options)?);
        json_object::write(&fields).map(Some)
    }

    fn is_unasked_usage(&self, event: &sse::Event) -> bool {
        #[derive(Deserialize)]
        struct Peek<'a> {
            #[serde(borrow, default)]
            choices: Vec<&'a RawValue>,
            #[serde(borrow)]
            usage: Option<&'a RawValue>,
        }
        serde_json::from_slice::<Peek>(event.data.as_bytes())
            .is_ok_and(|peek| peek.choices.is_empty() && peek.usage.is_some())
    }
}

/// Whether a chunk's text names a finish reason, without parsing it: a non-empty string, as older
/// Ollama sends `""` on every chunk.
fn has_finish_reason(data: &str) -> bool {
    ["\"finish_reason\":\"", "\"finish_reason\": \""]
        .iter()
        .any(|key| data.match_indices(key).any(|(at, key)| !data[at + key.len()..].starts_with('"')))
}

/// What a Chat client's answer must remember of its request: whether it asked for the usage chunk.
fn context(include_usage: Option<bool>, now: u64) -> ClientContext {
    ClientContext { now, include_usage: include_usage.unwrap_or(false), ..ClientContext::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_mark(data: &str) -> Option<EndMark> {
        OpenAiChat.end_mark(&sse::Event { event: String::new(), data: data.into() })
    }

    #[test]
    fn an_empty_finish_reason_does_not_end_the_stream() {
        // Ollama 0.1.x (ollama/ollama#4357) sends `""` until its last chunk.
        let ollama = r#"{"id":"chatcmpl-693","object":"chat.completion.chunk","created":1715427619,"model":"mistral:latest","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" Hello"},"finish_reason":""}]}"#;
        assert_eq!(end_mark(ollama), None);
        let last = ollama.replace(r#""finish_reason":"""#, r#""finish_reason":"stop""#);
        assert_eq!(end_mark(&last), Some(EndMark::Complete));
        assert_eq!(end_mark(r#"{"choices":[{"finish_reason": "length"}]}"#), Some(EndMark::Complete));
    }
}
