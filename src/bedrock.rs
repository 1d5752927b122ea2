//! AWS Bedrock: the paths its clients call, where a model's calls go, which API a model takes
//! (Anthropic's body through `InvokeModel` for Claude, `Converse` for the rest), and how Bedrock's
//! exceptions map to and from the error types clients know.

use crate::error::{ErrorKind, ProxyError};
use crate::sse;

/// What Bedrock wants in Claude bodies instead of an `anthropic-version` header.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
/// The SigV4 signing name of the Bedrock runtime.
pub const SIGNING_NAME: &str = "bedrock";

/// A Bedrock runtime path, `/model/{modelId}/{method}`: the model id (percent-decoded; ARNs hold
/// `/` and `:`, sent encoded) and the method (`invoke`, `invoke-with-response-stream`,
/// `converse`, `converse-stream`).
pub fn model_path(path: &str) -> Option<(String, &str)> {
    let (model, method) = path.strip_prefix("/model/")?.split_once('/')?;
    let model = percent_encoding::percent_decode_str(model).decode_utf8().ok()?.into_owned();
    (!model.is_empty()).then_some((model, method))
}

/// Whether Bedrock serves `model` through Anthropic's Messages body: Claude ids
/// (`anthropic.claude-…`, with a cross-region prefix such as `us.` or `global.`) and inference
/// profile ARNs that name one.
pub fn is_claude(model: &str) -> bool {
    model.contains("anthropic.claude") || model.starts_with("claude")
}

/// The runtime host of a region.
pub fn host(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// `{base}/model/{modelId}/{method}`, the model id percent-encoded as one path segment (`:` →
/// `%3A`, `/` → `%2F`, and every other character but letters, digits and `-._~`), as AWS SDKs
/// send it.
pub fn model_url(base: &str, model: &str, method: &str) -> Result<String, ProxyError> {
    if model.is_empty() || model == "." || model == ".." {
        let mut error = ProxyError::invalid(format!("model `{model}` cannot be sent to Bedrock"));
        error.param = Some("model".into());
        return Err(error);
    }
    const KEPT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    Ok(format!("{base}/model/{}/{method}", percent_encoding::utf8_percent_encode(model, KEPT)))
}

/// The Anthropic error type of a Bedrock exception (`throttlingException`, …), for clients that
/// read streams as Anthropic events.
pub fn error_type_of_exception(exception: &str) -> &'static str {
    match exception.trim_end_matches("Exception").to_ascii_lowercase().as_str() {
        "throttling" | "servicequotaexceeded" => "rate_limit_error",
        "validation" => "invalid_request_error",
        "accessdenied" => "permission_error",
        "resourcenotfound" => "not_found_error",
        "serviceunavailable" | "modelnotready" => "overloaded_error",
        "modeltimeout" => "timeout_error",
        _ => "api_error",
    }
}

/// The Bedrock stream exception an Anthropic error type is raised as by AWS SDKs (the exceptions
/// `InvokeModelWithResponseStream` and `ConverseStream` declare).
pub fn exception_of_error_type(error_type: &str) -> &'static str {
    match error_type {
        "rate_limit_error" => "throttlingException",
        "invalid_request_error" | "not_found_error" | "request_too_large" => "validationException",
        "overloaded_error" => "serviceUnavailableException",
        "timeout_error" => "modelTimeoutException",
        _ => "internalServerException",
    }
}

/// Appends the SSE event a Bedrock stream exception is on the SSE side of the reframing (see
/// `transcode::framing`): an Anthropic `error` event, which the decoders of both Bedrock dialects
/// read and the reframer turns back into an exception.
pub fn write_error_event(out: &mut Vec<u8>, error_type: &str, message: &str) {
    let event = serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}});
    sse::write_event(out, Some("error"), &event.to_string());
}

/// The exception a Bedrock answer names in `__type` for an error of `kind`.
pub fn exception_of_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimit => "ThrottlingException",
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "ValidationException",
        ErrorKind::Authentication | ErrorKind::Permission => "AccessDeniedException",
        ErrorKind::NotFound => "ResourceNotFoundException",
        ErrorKind::Billing => "ServiceQuotaExceededException",
        ErrorKind::Overloaded => "ServiceUnavailableException",
        ErrorKind::Timeout => "ModelTimeoutException",
        ErrorKind::Api => "InternalServerException",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_decode_their_model() {
        let (model, method) = model_path("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke").unwrap();
        assert_eq!((model.as_str(), method), ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "invoke"));
        let arn = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse";
        assert_eq!(model_path(arn).unwrap().0, "arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-pro-v1:0");
        assert_eq!(model_path("/model//invoke"), None);
        assert_eq!(model_path("/model/m"), None);
        assert_eq!(model_path("/model/%FF/invoke"), None, "not UTF-8");
    }

    #[test]
    fn model_urls_keep_the_model_in_one_segment() {
        let url = model_url("https://b", "anthropic.claude-3-haiku-20240307-v1:0", "invoke").unwrap();
        assert_eq!(url, "https://b/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke");
        let url = model_url("https://b", "arn:aws:bedrock:us-east-1:1:application-inference-profile/x", "converse");
        assert_eq!(
            url.unwrap(),
            "https://b/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fx/converse"
        );
        for hostile in ["..", ".", "a?b", "a#b", "a b", "a\nb"] {
            let url = model_url("https://b", hostile, "invoke");
            assert!(url.as_ref().map_or(true, |url| url.matches('/').count() == 5), "{hostile}: {url:?}");
            if let Ok(url) = url {
                assert!(!url.contains(['?', '#', ' ', '\n']), "{url}");
            }
        }
        assert!(model_url("https://b", "..", "invoke").is_err());
    }

    #[test]
    fn claude_models_are_told_from_the_rest() {
        for claude in ["anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"] {
            assert!(is_claude(claude), "{claude}");
        }
        for other in ["amazon.nova-pro-v1:0", "meta.llama3-70b-instruct-v1:0", "mistral.mistral-large-2402-v1:0"] {
            assert!(!is_claude(other), "{other}");
        }
    }

    #[test]
    fn exceptions_and_error_types_map_both_ways() {
        assert_eq!(error_type_of_exception("throttlingException"), "rate_limit_error");
        assert_eq!(error_type_of_exception("ValidationException"), "invalid_request_error");
        assert_eq!(error_type_of_exception("modelStreamErrorException"), "api_error");
        for error_type in ["rate_limit_error", "invalid_request_error", "overloaded_error", "timeout_error"] {
            assert_eq!(error_type_of_exception(exception_of_error_type(error_type)), error_type);
        }
        assert_eq!(exception_of_error_type("api_error"), "internalServerException");
    }
}
