//! AWS Bedrock Converse (`POST /model/{modelId}/converse`, `/model/{modelId}/converse-stream`),
//! the API Bedrock gives every model in one shape. Its streams are AWS event streams, which the
//! decoder and the encoder see as SSE (see `transcode::framing`).

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
use crate::{bedrock, ir, sse};
use serde_json::{json, Value};

pub struct BedrockConverse;

impl Codec for BedrockConverse {
    fn name(&self) -> &'static str {
        "bedrock-converse"
    }

    fn endpoint(&self, path: &str) -> Option<Call> {
        let (model, method) = bedrock::model_path(path)?;
        let stream = match method {
            "converse" => false,
            "converse-stream" => true,
            _ => return None,
        };
        let (operation, framing) = (Operation::Generate, Framing::EventStreamEvents);
        Some(Call { operation, model: Some(model), stream: Some(stream), framing })
    }

    /// AWS SDKs send nothing that other clients do not: their signed `authorization` and
    /// `x-amz-*` headers would be sent by any SigV4 client.
    fn claim(&self, _path: &str, _header: &dyn Fn(&str) -> Option<String>) -> Option<Claim> {
        None
    }

    fn lists_models(&self, _path: &str) -> bool {
        false
    }

    /// The caller sets the model and streaming from the URL: the body names neither.
    fn request_to_ir(&self, body: &[u8]) -> Result<ir::Request, ProxyError> {
        request::to_ir(serde_json::from_slice(body).map_err(codec::invalid_request)?)
    }

    /// `system`, a list of blocks of which the text ones are rewritten; an appended text is one
    /// more block (the list is made when the request has none).
    fn rewrite_system_prompt(&self, body: &[u8], rewriter: &mut Rewriter) -> Result<Vec<u8>, ProxyError> {
        json_object::edit(body, |fields| {
            let mut system: Value = json_object::field(fields, "system")?.unwrap_or_else(|| Value::Array(Vec::new()));
            rewriter.content(&mut system)?;
            rewriter.append_to(&mut system, |text| json!({"text": text}))?;
            if system.as_array().is_none_or(|blocks| !blocks.is_empty()) {
                fields.insert("system".into(), json_object::to_raw(&system)?);
            }
            Ok(())
        })
    }

    fn response_from_ir(&self, response: ir::Response, _client: &ClientContext) -> Result<Vec<u8>, ProxyError> {
        codec::to_json(&response::from_ir(response))
    }

    fn encoder(&self, _client: &ClientContext) -> Box<dyn StreamEncoder> {
        Box::new(stream::Encoder)
    }

    /// AWS's JSON error shape: AWS SDKs read the exception from `__type` when the
    /// `x-amzn-errortype` header is absent.
    fn error_body(&self, error: &ProxyError) -> Value {
        json!({"message": error.message, "__type": bedrock::exception_of_kind(error.kind)})
    }

    fn write_stream_error(&self, error: &ProxyError, out: &mut Vec<u8>) {
        stream::write_error(error, out);
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

    /// The stop reason completes the answer; the usage after it ends the stream.
    fn end_mark(&self, event: &sse::Event) -> Option<EndMark> {
        match event.event.as_str() {
            "messageStop" => Some(EndMark::Complete),
            "metadata" | "error" => Some(EndMark::Last),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn converse_paths_carry_the_model_and_streaming() {
        let call = BedrockConverse.endpoint("/model/us.amazon.nova-pro-v1%3A0/converse-stream").unwrap();
        assert_eq!(
            call,
            Call {
                operation: Operation::Generate,
                model: Some("us.amazon.nova-pro-v1:0".into()),
                stream: Some(true),
                framing: Framing::EventStreamEvents
            }
        );
        assert_eq!(BedrockConverse.endpoint("/model/m/converse").unwrap().stream, Some(false));
        for other in ["/model/m/invoke", "/model//converse", "/v1/messages", "/model/m/converse/x"] {
            assert_eq!(BedrockConverse.endpoint(other), None, "{other}");
        }
        assert_eq!(BedrockConverse.claim("/model/m/converse", &|_| Some("AWS4-HMAC-SHA256".into())), None);
        assert!(BedrockConverse.models_list(&[("m", "o")]).is_none() && BedrockConverse.token_count(1).is_none());
    }

    #[test]
    fn errors_are_aws_exceptions() {
        let cases = [
            (ProxyError::new(429, ErrorKind::RateLimit, "slow down"), "ThrottlingException"),
            (ProxyError::invalid("bad"), "ValidationException"),
            (ProxyError::new(403, ErrorKind::Permission, "no"), "AccessDeniedException"),
            (ProxyError::not_found("where"), "ResourceNotFoundException"),
            (ProxyError::new(503, ErrorKind::Overloaded, "busy"), "ServiceUnavailableException"),
            (ProxyError::internal("oops"), "InternalServerException"),
        ];
        for (error, exception) in cases {
            assert_eq!(BedrockConverse.error_body(&error), json!({"message": error.message, "__type": exception}));
        }
        let event = |name: &str| sse::Event { event: name.into(), data: "{}".into() };
        assert_eq!(BedrockConverse.end_mark(&event("messageStop")), Some(EndMark::Complete));
        assert_eq!(BedrockConverse.end_mark(&event("metadata")), Some(EndMark::Last));
        assert_eq!(BedrockConverse.end_mark(&event("contentBlockDelta")), None);
    }
}
