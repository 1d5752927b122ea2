//! Anthropic's own API: Messages and token counting, keyed with `x-api-key`.

use super::{betas_into_header, BodyContext, ClientHeaders, HeaderList, Upstream};
use crate::codec::Operation;
use crate::config::Backend;
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::json_object::{self, to_raw};

/// The `anthropic-version` sent when the client is not an Anthropic client.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct Messages;

impl Upstream for Messages {
    fn dialect(&self, _model: &str) -> Dialect {
        Dialect::Anthropic
    }

    fn url(&self, backend: &Backend, operation: Operation, _stream: bool, _model: &str) -> Result<String, ProxyError> {
        Ok(match operation {
            Operation::Generate => format!("{}/v1/messages", backend.base_url),
            Operation::CountTokens => format!("{}/v1/messages/count_tokens", backend.base_url),
        })
    }

    fn headers(&self, key: Option<String>, client: &ClientHeaders, headers: &mut HeaderList) {
        if let Some(key) = key {
            headers.push(("x-api-key".into(), key));
        }
        let version = client.same_dialect.then(|| (client.header)("anthropic-version")).flatten();
        headers.push(("anthropic-version".into(), version.unwrap_or_else(|| ANTHROPIC_VERSION.into())));
        if let Some(beta) = (client.header)("anthropic-beta") {
            headers.push(("anthropic-beta".into(), beta));
        }
    }

    /// Vertex- and Bedrock-shaped Claude paths name the model in the URL and their version (and,
    /// on Bedrock, the betas and whether to stream) in the body; Anthropic's own API wants the
    /// model and `stream` in the body and the version and betas as headers.
    fn body(&self, body: Vec<u8>, call: &BodyContext, headers: &mut HeaderList) -> Result<Vec<u8>, ProxyError> {
        if !call.model_in_url {
            return Ok(body);
        }
        json_object::edit(&body, |fields| {
            fields.remove("anthropic_version");
            betas_into_header(fields, headers);
            fields.insert("model".into(), to_raw(call.model)?);
            if call.stream {
                fields.insert("stream".into(), to_raw(&true)?);
            }
            Ok(())
        })
    }

    fn keeps_query(&self) -> bool {
        true
    }

    fn counts_tokens(&self) -> bool {
        true
    }
}
