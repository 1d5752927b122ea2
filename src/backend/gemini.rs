//! The Gemini API with a key (`x-goog-api-key`); the model is one segment of the URL path.

use super::{ClientHeaders, HeaderList, Upstream};
use crate::codec::Operation;
use crate::config::Backend;
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::routing;

pub struct GenerateContent;

/// Gemini's method for an operation, with the query a stream needs.
pub fn method(operation: Operation, stream: bool) -> &'static str {
    match (operation, stream) {
        (Operation::CountTokens, _) => "countTokens",
        (Operation::Generate, true) => "streamGenerateContent?alt=sse",
        (Operation::Generate, false) => "generateContent",
    }
}

impl Upstream for GenerateContent {
    fn dialect(&self, _model: &str) -> Dialect {
        Dialect::Gemini
    }

    fn url(&self, backend: &Backend, operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError> {
        let model = routing::model_path_segment(model)?;
        Ok(format!("{}/v1beta/models/{model}:{}", backend.base_url, method(operation, stream)))
    }

    fn headers(&self, key: Option<String>, _client: &ClientHeaders, headers: &mut HeaderList) {
        if let Some(key) = key {
            headers.push(("x-goog-api-key".into(), key));
        }
    }

    fn keeps_query(&self) -> bool {
        false
    }

    fn counts_tokens(&self) -> bool {
        true
    }
}
