//! Vertex AI: Claude through Anthropic's publisher paths, other models through Google's. The
//! bearer token is the shell's to add (see `UpstreamCall::vertex`); Claude's betas go through as
//! on Anthropic's own API.

use super::{betas_into_header, gemini, BodyContext, ClientHeaders, HeaderList, Upstream};
use crate::codec::Operation;
use crate::config::Backend;
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::json_object::{self, to_raw};
use crate::routing;
use crate::vertex::{self, Publisher};

pub struct Vertex;

impl Upstream for Vertex {
    fn dialect(&self, model: &str) -> Dialect {
        match Publisher::of(model) {
            Publisher::Anthropic => Dialect::Anthropic,
            Publisher::Google => Dialect::Gemini,
        }
    }

    fn url(&self, backend: &Backend, operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError> {
        let Some(settings) = backend.vertex.as_ref() else {
            return Err(ProxyError::internal(format!("backend `{}` has no Vertex settings", backend.name)));
        };
        let publisher = Publisher::of(model);
        let segment = routing::model_path_segment(model)?;
        let (model, method) = match (publisher, operation) {
            // Vertex counts Claude tokens at one shared endpoint, with the model in the body.
            (Publisher::Anthropic, Operation::CountTokens) => ("count-tokens", "rawPredict"),
            (Publisher::Anthropic, Operation::Generate) => {
                (segment.as_str(), if stream { "streamRawPredict" } else { "rawPredict" })
            }
            (Publisher::Google, operation) => (segment.as_str(), gemini::method(operation, stream)),
        };
        Ok(vertex::model_url(&backend.base_url, &settings.project, &settings.location, publisher, model, method))
    }

    fn headers(&self, _key: Option<String>, client: &ClientHeaders, headers: &mut HeaderList) {
        if let Some(beta) = (client.header)("anthropic-beta") {
            headers.push(("anthropic-beta".into(), beta));
        }
    }

    /// Claude bodies carry Vertex's `anthropic_version`, the model only for token counting, and
    /// `stream` whenever the answer streams (a Bedrock-shaped client says so in its URL only).
    fn body(&self, body: Vec<u8>, call: &BodyContext, headers: &mut HeaderList) -> Result<Vec<u8>, ProxyError> {
        if Publisher::of(call.model) == Publisher::Google {
            return Ok(body);
        }
        json_object::edit(&body, |fields| {
            betas_into_header(fields, headers);
            match call.operation {
                Operation::CountTokens => fields.insert("model".into(), to_raw(call.model)?),
                Operation::Generate => fields.remove("model"),
            };
            if call.stream {
                fields.insert("stream".into(), to_raw(&true)?);
            }
            fields.insert("anthropic_version".into(), to_raw(vertex::ANTHROPIC_VERSION)?);
            Ok(())
        })
    }

    fn keeps_query(&self) -> bool {
        false
    }

    fn counts_tokens(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn context(model: &str, operation: Operation) -> BodyContext<'_> {
        BodyContext { model, operation, stream: false, model_in_url: false }
    }

    #[test]
    fn claude_bodies_lose_the_model_and_gain_vertex_version() {
        let body = br#"{"model":"claude-x","anthropic_version":"2023-06-01","max_tokens":5}"#.to_vec();
        let body = Vertex.body(body, &context("claude-x", Operation::Generate), &mut Vec::new()).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 5}));
        let count = Vertex
            .body(br#"{"messages":[]}"#.to_vec(), &context("claude-y@1", Operation::CountTokens), &mut Vec::new())
            .unwrap();
        let count: Value = serde_json::from_slice(&count).unwrap();
        assert_eq!(count, json!({"anthropic_version": "vertex-2023-10-16", "model": "claude-y@1", "messages": []}));
        let gemini = br#"{"contents":[]}"#.to_vec();
        assert_eq!(
            Vertex.body(gemini.clone(), &context("gemini-2.5-pro", Operation::Generate), &mut Vec::new()).unwrap(),
            gemini
        );
    }
}
