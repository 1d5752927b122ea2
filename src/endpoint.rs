//! Which API a request path belongs to: the dialect, what is asked, and for Gemini paths the
//! model and streaming that the URL carries instead of the body.

use crate::dialect::Dialect;
use crate::proxy::Operation;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub dialect: Dialect,
    pub operation: Operation,
    /// The model named in the URL (Gemini paths).
    pub model: Option<String>,
    /// Whether the URL asks for a stream (Gemini paths).
    pub stream: Option<bool>,
}

impl Endpoint {
    fn of(dialect: Dialect, operation: Operation) -> Self {
        Self { dialect, operation, model: None, stream: None }
    }
}

/// The endpoint a `POST` to `path` calls, if any.
pub fn post(path: &str) -> Option<Endpoint> {
    match path {
        "/v1/chat/completions" => Some(Endpoint::of(Dialect::OpenAiChat, Operation::Generate)),
        "/v1/messages" => Some(Endpoint::of(Dialect::Anthropic, Operation::Generate)),
        "/v1/messages/count_tokens" => Some(Endpoint::of(Dialect::Anthropic, Operation::CountTokens)),
        "/v1/responses" => Some(Endpoint::of(Dialect::OpenAiResponses, Operation::Generate)),
        _ => gemini(path).or_else(|| vertex(path)),
    }
}

/// Vertex AI's publisher paths, so agents set up for Vertex can point at the proxy instead:
/// `/{v1|v1beta1}/[projects/{p}/locations/{l}/]publishers/{anthropic|google}/models/{model}:{method}`.
/// The project and location are the client's; the proxy routes by model like any request.
fn vertex(path: &str) -> Option<Endpoint> {
    let rest = path.strip_prefix("/v1/").or_else(|| path.strip_prefix("/v1beta1/"))?;
    let rest = match rest.strip_prefix("projects/") {
        Some(project) => {
            let (_, after) = project.split_once("/locations/")?;
            after.split_once('/')?.1
        }
        None => rest,
    };
    let (publisher, model_method) = rest.strip_prefix("publishers/")?.split_once("/models/")?;
    let (model, method) = model_method.rsplit_once(':')?;
    let model = percent_encoding::percent_decode_str(model).decode_utf8().ok()?.into_owned();
    let (dialect, operation, stream) = match (publisher, method) {
        ("anthropic", "rawPredict") if model == "count-tokens" => (Dialect::Anthropic, Operation::CountTokens, false),
        ("anthropic", "rawPredict") => (Dialect::Anthropic, Operation::Generate, false),
        ("anthropic", "streamRawPredict") => (Dialect::Anthropic, Operation::Generate, true),
        ("google", "generateContent") => (Dialect::Gemini, Operation::Generate, false),
        ("google", "streamGenerateContent") => (Dialect::Gemini, Operation::Generate, true),
        ("google", "countTokens") => (Dialect::Gemini, Operation::CountTokens, false),
        _ => return None,
    };
    // Vertex counts Claude tokens at a shared endpoint: the model is then the body's.
    let model = (operation == Operation::Generate || dialect == Dialect::Gemini).then_some(model);
    Some(Endpoint { dialect, operation, model, stream: Some(stream) })
}

/// `/v1beta/models/{model}:{method}`, and the same under `/v1` (google-genai's Python default).
fn gemini(path: &str) -> Option<Endpoint> {
    let rest = path.strip_prefix("/v1beta/models/").or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.rsplit_once(':')?;
    let (operation, stream) = match method {
        "generateContent" => (Operation::Generate, false),
        "streamGenerateContent" => (Operation::Generate, true),
        "countTokens" => (Operation::CountTokens, false),
        _ => return None,
    };
    let model = percent_encoding::percent_decode_str(model).decode_utf8().ok()?.into_owned();
    Some(Endpoint { dialect: Dialect::Gemini, operation, model: Some(model), stream: Some(stream) })
}

/// Whether a `GET` to `path` lists models, and in which dialect's shape: Gemini's under
/// `/v1beta`, otherwise decided by the client's headers.
pub fn models(path: &str, anthropic_version: bool, goog_api_key: bool) -> Option<Dialect> {
    match path {
        "/v1beta/models" => Some(Dialect::Gemini),
        "/v1/models" if anthropic_version => Some(Dialect::Anthropic),
        "/v1/models" if goog_api_key => Some(Dialect::Gemini),
        "/v1/models" => Some(Dialect::OpenAiChat),
        _ => None,
    }
}

/// The dialect to report an error in when the request reached no endpoint, or failed before.
pub fn error_dialect(path: &str, anthropic_version: bool) -> Dialect {
    if let Some(endpoint) = post(path) {
        return endpoint.dialect;
    }
    if path.starts_with("/v1beta/") {
        Dialect::Gemini
    } else if anthropic_version {
        Dialect::Anthropic
    } else {
        Dialect::OpenAiChat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_paths_carry_model_and_streaming() {
        let endpoint = post("/v1beta/models/gemini-2.5-flash:streamGenerateContent").unwrap();
        assert_eq!(endpoint.dialect, Dialect::Gemini);
        assert_eq!((endpoint.model.as_deref(), endpoint.stream), (Some("gemini-2.5-flash"), Some(true)));
        let endpoint = post("/v1/models/gemini-2.5-flash:countTokens").unwrap();
        assert_eq!((endpoint.operation, endpoint.stream), (Operation::CountTokens, Some(false)));
        assert_eq!(post("/v1/models/my%2Fmodel:generateContent").unwrap().model.as_deref(), Some("my/model"));
        assert_eq!(post("/v1beta/models/x:embedContent"), None);
        assert_eq!(post("/v1beta/models/x"), None);
    }

    #[test]
    fn vertex_paths_route_by_their_model() {
        let claude = post(
            "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
        )
        .unwrap();
        assert_eq!(claude.dialect, Dialect::Anthropic);
        assert_eq!((claude.model.as_deref(), claude.stream), (Some("claude-sonnet-4-5@20250929"), Some(true)));
        let count =
            post("/v1/projects/p/locations/global/publishers/anthropic/models/count-tokens:rawPredict").unwrap();
        assert_eq!((count.operation, count.model), (Operation::CountTokens, None));
        let gemini =
            post("/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent")
                .unwrap();
        assert_eq!(
            (gemini.dialect, gemini.model.as_deref(), gemini.stream),
            (Dialect::Gemini, Some("gemini-2.5-flash"), Some(false))
        );
        let short = post("/v1beta1/publishers/google/models/gemini-3.8-flash:streamGenerateContent").unwrap();
        assert_eq!((short.model.as_deref(), short.stream), (Some("gemini-3.8-flash"), Some(true)));
        assert_eq!(post("/v1/projects/p/locations/l/publishers/meta/models/llama:rawPredict"), None);
    }

    #[test]
    fn every_dialect_has_its_paths() {
        assert_eq!(post("/v1/chat/completions").unwrap().dialect, Dialect::OpenAiChat);
        assert_eq!(post("/v1/responses").unwrap().dialect, Dialect::OpenAiResponses);
        assert_eq!(post("/v1/messages/count_tokens").unwrap().operation, Operation::CountTokens);
        assert_eq!(models("/v1beta/models", false, false), Some(Dialect::Gemini));
        assert_eq!(models("/v1/models", true, false), Some(Dialect::Anthropic));
        assert_eq!(models("/v1/models", false, true), Some(Dialect::Gemini));
        assert_eq!(models("/v1/models", false, false), Some(Dialect::OpenAiChat));
        assert_eq!(error_dialect("/v1beta/nothing", false), Dialect::Gemini);
        assert_eq!(error_dialect("/elsewhere", true), Dialect::Anthropic);
    }
}
