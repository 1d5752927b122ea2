//! OpenAI and compatible servers: Chat Completions and Responses, keyed with `Authorization: Bearer`.

use super::{ClientHeaders, HeaderList, Upstream};
use crate::codec::Operation;
use crate::config::Backend;
use crate::dialect::Dialect;
use crate::error::ProxyError;

pub struct ChatCompletions;
pub struct Responses;

fn bearer(key: Option<String>, headers: &mut HeaderList) {
    if let Some(key) = key {
        headers.push(("authorization".into(), format!("Bearer {key}")));
    }
}

impl Upstream for ChatCompletions {
    fn dialect(&self, _model: &str) -> Dialect {
        Dialect::OpenAiChat
    }

    fn url(&self, backend: &Backend, _operation: Operation, _stream: bool, _model: &str) -> Result<String, ProxyError> {
        Ok(format!("{}/chat/completions", backend.base_url))
    }

    fn headers(&self, key: Option<String>, _client: &ClientHeaders, headers: &mut HeaderList) {
        bearer(key, headers);
    }

    fn keeps_query(&self) -> bool {
        true
    }

    fn counts_tokens(&self) -> bool {
        false
    }
}

impl Upstream for Responses {
    fn dialect(&self, _model: &str) -> Dialect {
        Dialect::OpenAiResponses
    }

    fn url(&self, backend: &Backend, _operation: Operation, _stream: bool, _model: &str) -> Result<String, ProxyError> {
        Ok(format!("{}/responses", backend.base_url))
    }

    fn headers(&self, key: Option<String>, _client: &ClientHeaders, headers: &mut HeaderList) {
        bearer(key, headers);
    }

    fn keeps_query(&self) -> bool {
        true
    }

    fn counts_tokens(&self) -> bool {
        false
    }
}
