//! The API dialects clients and backends speak. Each lives in its own folder (wire types, request
//! and answer mappings, stream decoder and encoder) and implements `codec::Codec`; this is the one
//! place that lists them, so adding a dialect is adding a folder and a line here.

pub mod anthropic;
pub mod bedrock_converse;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

use crate::codec::{Call, Claim, Codec};
use crate::error::ProxyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    OpenAiResponses,
    /// Gemini `generateContent`.
    Gemini,
    /// AWS Bedrock `Converse`.
    BedrockConverse,
}

/// A `POST` a client made: its dialect and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub dialect: Dialect,
    pub call: Call,
}

impl Dialect {
    /// A one-token request for `model` (an admin's test of a backend), in the dialect it is in;
    /// the answer's text is at `/choices/0/message/content`, an error's at `/error/message`.
    pub fn probe_request(model: &str) -> (Self, String) {
        let body =
            serde_json::json!({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Say OK."}]});
        (Self::OpenAiChat, body.to_string())
    }

    pub const ALL: [Self; 5] =
        [Self::OpenAiChat, Self::Anthropic, Self::OpenAiResponses, Self::Gemini, Self::BedrockConverse];

    pub fn codec(self) -> &'static dyn Codec {
        match self {
            Self::OpenAiChat => &openai_chat::OpenAiChat,
            Self::Anthropic => &anthropic::Anthropic,
            Self::OpenAiResponses => &openai_responses::OpenAiResponses,
            Self::Gemini => &gemini::Gemini,
            Self::BedrockConverse => &bedrock_converse::BedrockConverse,
        }
    }

    pub fn name(self) -> &'static str {
        self.codec().name()
    }

    /// The endpoint a `POST` to `path` calls, if any.
    pub fn endpoint(path: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find_map(|dialect| dialect.codec().endpoint(path).map(|call| Endpoint { dialect, call }))
    }

    /// The dialect that most strongly claims a request that reached no endpoint.
    fn claimed(path: &str, header: &dyn Fn(&str) -> Option<String>) -> Option<(Claim, Self)> {
        // Reversed, so that of equal claims the first dialect wins.
        Self::ALL
            .into_iter()
            .rev()
            .filter_map(|dialect| dialect.codec().claim(path, header).map(|claim| (claim, dialect)))
            .max_by_key(|(claim, _)| *claim)
    }

    /// Whether a `GET` to `path` lists models, and in which dialect's shape.
    pub fn model_list(path: &str, header: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        Self::claimed(path, header).map(|(_, dialect)| dialect).filter(|dialect| dialect.codec().lists_models(path))
    }

    /// The dialect to report an error in: the called endpoint's, else the one that claims the
    /// request, else OpenAI's.
    pub fn of_errors(path: &str, header: &dyn Fn(&str) -> Option<String>) -> Self {
        Self::endpoint(path)
            .map(|endpoint| endpoint.dialect)
            .or_else(|| Self::claimed(path, header).map(|(_, dialect)| dialect))
            .unwrap_or(Self::OpenAiChat)
    }

    /// An error as this dialect's error body.
    pub fn error_body(self, error: &ProxyError) -> String {
        self.codec().error_body(error).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Operation;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn every_dialect_has_its_paths() {
        let dialect = |path| Dialect::endpoint(path).map(|e| (e.dialect, e.call.operation));
        assert_eq!(dialect("/v1/chat/completions"), Some((Dialect::OpenAiChat, Operation::Generate)));
        assert_eq!(dialect("/v1/responses"), Some((Dialect::OpenAiResponses, Operation::Generate)));
        assert_eq!(dialect("/v1/messages"), Some((Dialect::Anthropic, Operation::Generate)));
        assert_eq!(dialect("/v1/messages/count_tokens"), Some((Dialect::Anthropic, Operation::CountTokens)));
        assert_eq!(dialect("/v1beta/models/g:countTokens"), Some((Dialect::Gemini, Operation::CountTokens)));
        assert_eq!(
            dialect("/model/amazon.nova-lite-v1%3A0/converse"),
            Some((Dialect::BedrockConverse, Operation::Generate))
        );
        assert_eq!(dialect("/model/m/invoke"), Some((Dialect::Anthropic, Operation::Generate)));
        assert_eq!(dialect("/v1/elsewhere"), None);
    }

    fn call(path: &str) -> Option<(Dialect, Call)> {
        Dialect::endpoint(path).map(|endpoint| (endpoint.dialect, endpoint.call))
    }

    #[test]
    fn gemini_paths_carry_model_and_streaming() {
        let (dialect, endpoint) = call("/v1beta/models/gemini-2.5-flash:streamGenerateContent").unwrap();
        assert_eq!(dialect, Dialect::Gemini);
        assert_eq!((endpoint.model.as_deref(), endpoint.stream), (Some("gemini-2.5-flash"), Some(true)));
        let (_, endpoint) = call("/v1/models/gemini-2.5-flash:countTokens").unwrap();
        assert_eq!((endpoint.operation, endpoint.stream), (Operation::CountTokens, Some(false)));
        assert_eq!(call("/v1/models/my%2Fmodel:generateContent").unwrap().1.model.as_deref(), Some("my/model"));
        assert_eq!(call("/v1beta/models/x:embedContent"), None);
        assert_eq!(call("/v1beta/models/x"), None);
    }

    #[test]
    fn vertex_paths_route_by_their_model() {
        let (dialect, claude) = call(
            "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
        )
        .unwrap();
        assert_eq!(dialect, Dialect::Anthropic);
        assert_eq!((claude.model.as_deref(), claude.stream), (Some("claude-sonnet-4-5@20250929"), Some(true)));
        let (_, count) =
            call("/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict").unwrap();
        assert_eq!((count.operation, count.model), (Operation::CountTokens, None));
        let (dialect, gemini) =
            call("/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent")
                .unwrap();
        assert_eq!(
            (dialect, gemini.model.as_deref(), gemini.stream),
            (Dialect::Gemini, Some("gemini-2.5-flash"), Some(false))
        );
        let (_, short) = call("/v1beta1/publishers/google/models/gemini-3.8-flash:streamGenerateContent").unwrap();
        assert_eq!((short.model.as_deref(), short.stream), (Some("gemini-3.8-flash"), Some(true)));
        assert_eq!(call("/v1/projects/p/locations/l/publishers/meta/models/llama:rawPredict"), None);
    }

    #[test]
    fn model_lists_and_errors_take_the_shape_of_the_client_that_asked() {
        let none = headers(&[]);
        assert_eq!(Dialect::model_list("/v1beta/models", &none), Some(Dialect::Gemini));
        assert_eq!(
            Dialect::model_list("/v1/models", &headers(&[("anthropic-version", "1")])),
            Some(Dialect::Anthropic)
        );
        assert_eq!(Dialect::model_list("/v1/models", &headers(&[("x-goog-api-key", "k")])), Some(Dialect::Gemini));
        assert_eq!(Dialect::model_list("/v1/models", &none), Some(Dialect::OpenAiChat));
        assert_eq!(Dialect::model_list("/v1/elsewhere", &none), None);
        let both = headers(&[("anthropic-version", "1")]);
        assert_eq!(Dialect::model_list("/v1beta/models", &both), Some(Dialect::Gemini), "the path says more");
        assert_eq!(Dialect::of_errors("/v1beta/nothing", &none), Dialect::Gemini);
        assert_eq!(Dialect::of_errors("/elsewhere", &both), Dialect::Anthropic);
        assert_eq!(Dialect::of_errors("/elsewhere", &none), Dialect::OpenAiChat);
        assert_eq!(Dialect::of_errors("/v1/messages", &none), Dialect::Anthropic);
    }
}
