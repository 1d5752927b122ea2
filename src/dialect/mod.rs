//! The API dialects clients and backends speak. Each lives in its own folder (wire types, request
//! and answer mappings, stream decoder and encoder) and implements `codec::Codec`; this is the one
//! place that lists them, so adding a dialect is adding a folder and a line here.

pub mod anthropic;
pub mod bedrock_converse;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;
mod text_or_list;

use crate::codec::{Call, Codec};
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

/// The path a request was sent to, as the endpoints read it: a vendor prefix that other proxies'
/// clients are configured with (`/openai/v1/…`, `/anthropic/v1/…`, `/gemini/v1beta/…`) taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPath {
    /// What endpoints are matched against: `/v1/chat/completions` for `/openai/v1/chat/completions`.
    pub path: String,
    /// The dialect the prefix names, which then shapes model lists and errors whatever the
    /// headers say.
    pub prefixed: Option<Dialect>,
}

/// The vendor prefixes, the API versions each may be followed by, and the dialect it names.
const PREFIXES: [(&str, &[&str], Dialect); 4] = [
    ("/openai", &["/v1"], Dialect::OpenAiChat),
    ("/anthropic", &["/v1"], Dialect::Anthropic),
    ("/gemini", &["/v1beta", "/v1"], Dialect::Gemini),
    ("/google", &["/v1beta", "/v1"], Dialect::Gemini),
];

impl ClientPath {
    /// `path` with its vendor prefix taken off, when one is followed by a version and the rest is
    /// plain (see `is_plain`); any other path is kept as it came. So a prefix reaches exactly what
    /// the path without it reaches, and a prefixed path that is not plain keeps its prefix, which
    /// no endpoint has.
    pub fn read(path: &str) -> Self {
        let unprefixed = PREFIXES.iter().find_map(|(prefix, versions, dialect)| {
            let rest = path.strip_prefix(prefix)?;
            let versioned = versions.iter().any(|version| {
                rest.strip_prefix(version).is_some_and(|after| after.is_empty() || after.starts_with('/'))
            });
            (versioned && is_plain(rest)).then(|| Self { path: rest.to_string(), prefixed: Some(*dialect) })
        });
        unprefixed.unwrap_or_else(|| Self { path: path.to_string(), prefixed: None })
    }
}

/// Whether a path holds nothing that could lead elsewhere once a prefix is taken off: no empty
/// segment, no `.` or `..` segment (percent-encoded or not), no backslash and no encoded `/` or `\`.
fn is_plain(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return false;
    }
    path.strip_prefix('/').is_some_and(|segments| {
        segments.split('/').all(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            !segment.is_empty() && decoded != "." && decoded != ".."
        })
    })
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

    /// The dialect that most strongly claims a request that reached no endpoint: the one its
    /// prefix names, else the one whose claim is strongest.
    fn claimed(path: &ClientPath, header: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        if path.prefixed.is_some() {
            return path.prefixed;
        }
        // Reversed, so that of equal claims the first dialect wins.
        Self::ALL
            .into_iter()
            .rev()
            .filter_map(|dialect| dialect.codec().claim(&path.path, header).map(|claim| (claim, dialect)))
            .max_by_key(|(claim, _)| *claim)
            .map(|(_, dialect)| dialect)
    }

    /// Whether a `GET` to `path` lists models, and in which dialect's shape.
    pub fn model_list(path: &ClientPath, header: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        Self::claimed(path, header).filter(|dialect| dialect.codec().lists_models(&path.path))
    }

    /// The dialect to report an error in: the called endpoint's, else the one that claims the
    /// request, else OpenAI's.
    pub fn of_errors(path: &ClientPath, header: &dyn Fn(&str) -> Option<String>) -> Self {
        Self::endpoint(&path.path)
            .map(|endpoint| endpoint.dialect)
            .or_else(|| Self::claimed(path, header))
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
        let path = |path: &str| ClientPath::read(path);
        assert_eq!(Dialect::model_list(&path("/v1beta/models"), &none), Some(Dialect::Gemini));
        assert_eq!(
            Dialect::model_list(&path("/v1/models"), &headers(&[("anthropic-version", "1")])),
            Some(Dialect::Anthropic)
        );
        assert_eq!(
            Dialect::model_list(&path("/v1/models"), &headers(&[("x-goog-api-key", "k")])),
            Some(Dialect::Gemini)
        );
        assert_eq!(Dialect::model_list(&path("/v1/models"), &none), Some(Dialect::OpenAiChat));
        assert_eq!(Dialect::model_list(&path("/v1/elsewhere"), &none), None);
        let both = headers(&[("anthropic-version", "1")]);
        assert_eq!(Dialect::model_list(&path("/v1beta/models"), &both), Some(Dialect::Gemini), "the path says more");
        assert_eq!(Dialect::of_errors(&path("/v1beta/nothing"), &none), Dialect::Gemini);
        assert_eq!(Dialect::of_errors(&path("/elsewhere"), &both), Dialect::Anthropic);
        assert_eq!(Dialect::of_errors(&path("/elsewhere"), &none), Dialect::OpenAiChat);
        assert_eq!(Dialect::of_errors(&path("/v1/messages"), &none), Dialect::Anthropic);
    }

    #[test]
    fn a_vendor_prefix_reaches_the_endpoints_and_shapes_of_the_path_without_it() {
        let read = |raw: &str| ClientPath::read(raw);
        for (raw, path) in [
            ("/openai/v1/chat/completions", "/v1/chat/completions"),
            ("/openai/v1/responses", "/v1/responses"),
            ("/anthropic/v1/messages", "/v1/messages"),
            ("/anthropic/v1/messages/count_tokens", "/v1/messages/count_tokens"),
            ("/gemini/v1beta/models/g:generateContent", "/v1beta/models/g:generateContent"),
            ("/gemini/v1/models/g:countTokens", "/v1/models/g:countTokens"),
            ("/google/v1beta/models/g:streamGenerateContent", "/v1beta/models/g:streamGenerateContent"),
            ("/google/v1/models", "/v1/models"),
        ] {
            assert_eq!(read(raw).path, path, "{raw}");
            assert_eq!(Dialect::endpoint(&read(raw).path), Dialect::endpoint(path), "{raw}");
        }
        let none = headers(&[]);
        let claude = headers(&[("anthropic-version", "1")]);
        assert_eq!(Dialect::model_list(&read("/anthropic/v1/models"), &none), Some(Dialect::Anthropic));
        assert_eq!(Dialect::model_list(&read("/gemini/v1/models"), &none), Some(Dialect::Gemini));
        assert_eq!(
            Dialect::model_list(&read("/openai/v1/models"), &claude),
            Some(Dialect::OpenAiChat),
            "the prefix says more"
        );
        assert_eq!(Dialect::of_errors(&read("/anthropic/v1/nothing"), &none), Dialect::Anthropic);
        assert_eq!(Dialect::of_errors(&read("/google/v1/nothing"), &none), Dialect::Gemini);
        assert_eq!(Dialect::of_errors(&read("/openai/v1/messages"), &none), Dialect::Anthropic, "the endpoint's");
    }

    #[test]
    fn a_prefix_hides_nothing_and_reaches_nothing_else() {
        for raw in [
            "/openai/admin",
            "/openai/v1/../admin",
            "/openai/v1/%2e%2e/admin",
            "/openai/v1/.%2E/admin",
            "/openai/v1/./chat/completions",
            "/openai//v1/chat/completions",
            "/openai/v1//chat/completions",
            "/openai/v1/chat/completions/",
            "/openai/v1%2Fchat%2Fcompletions",
            "/openai/v1/chat%2fcompletions",
            "/openai/v1/chat%5Ccompletions",
            "/openai/v1\\chat/completions",
            "/openai/v2/chat/completions",
            "/openai/v1beta/models",
            "/openai/v1chat/completions",
            "/anthropic/v1beta/models",
            "/gemini/v1beta1/models/g:generateContent",
            "/gemini/v1beta/models/..%2Fadmin:generateContent",
            "/OPENAI/v1/chat/completions",
            "/v1/openai/v1/chat/completions",
        ] {
            let path = ClientPath::read(raw);
            assert_eq!((path.path.as_str(), path.prefixed), (raw, None), "{raw}");
            assert_eq!(Dialect::endpoint(&path.path), None, "{raw}");
        }
        let path = ClientPath::read("/openai/v1");
        assert_eq!((path.path.as_str(), path.prefixed), ("/v1", Some(Dialect::OpenAiChat)));
    }
}
