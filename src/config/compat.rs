//! OpenAI-compatible servers whose Chat Completions API differs from OpenAI's in ways the proxy
//! allows for: a backend of kind `openai` names one in `compat`, or its `base_url` implies it. What
//! each changes is listed here and in the README (the backend fields).

use super::{Backend, BackendKind, MaxTokensField};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// DeepSeek: the output limit in `max_tokens`; assistant turns that call tools are sent with
    /// `content: ""` (it refuses `null`) and with their reasoning as `reasoning_content`, which its
    /// thinking mode requires of such turns.
    DeepSeek,
    /// xAI: no `stop` in translated requests, which its reasoning models refuse.
    Xai,
    /// Ollama: the output limit in `max_tokens`. It ignores fields it does not know, so
    /// `stream_options` stays: older versions send no usage chunk, newer ones do.
    Ollama,
    /// vLLM: the output limit in `max_tokens`, and no `stream_options`, which older versions
    /// refuse with a 400.
    Vllm,
}

impl Compat {
    pub(super) const NAMES: &'static str = "deepseek, xai, ollama, vllm";

    pub(super) fn parse(name: &str) -> Option<Self> {
        Self::deserialize(serde_json::Value::from(name)).ok()
    }

    /// The server an `openai` backend's URL names by its public API host.
    pub(super) fn implied(kind: BackendKind, base_url: &str) -> Option<Self> {
        let host = base_url.split_once("://")?.1.split(['/', ':', '?']).next()?;
        match (kind, host.to_ascii_lowercase().as_str()) {
            (BackendKind::OpenAi, "api.deepseek.com") => Some(Self::DeepSeek),
            (BackendKind::OpenAi, "api.x.ai") => Some(Self::Xai),
            _ => None,
        }
    }

    /// The field that carries the output limit when the config does not name one.
    pub(super) fn max_tokens_field(compat: Option<Self>) -> MaxTokensField {
        match compat {
            Some(Self::DeepSeek | Self::Ollama | Self::Vllm) => MaxTokensField::MaxTokens,
            Some(Self::Xai) | None => MaxTokensField::default(),
        }
    }
}

/// What a backend's `compat` changes in the Chat Completions requests it is sent.
impl Backend {
    /// Whether a streamed request may ask for the usage chunk with `stream_options`.
    pub fn takes_stream_options(&self) -> bool {
        self.compat != Some(Compat::Vllm)
    }

    /// Whether translated requests may carry stop sequences.
    pub fn takes_stop(&self) -> bool {
        self.compat != Some(Compat::Xai)
    }

    /// Whether an assistant turn that calls tools must be sent whole: with its text (`""` when it
    /// has none) and its reasoning (`""` when there is none to send).
    pub fn wants_tool_turns_whole(&self) -> bool {
        self.compat == Some(Compat::DeepSeek)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_hosts_imply_their_server_and_nothing_else_does() {
        let implied = |url| Compat::implied(BackendKind::OpenAi, url);
        assert_eq!(implied("https://api.deepseek.com"), Some(Compat::DeepSeek));
        assert_eq!(implied("https://API.deepseek.com/v1/"), Some(Compat::DeepSeek));
        assert_eq!(implied("https://api.x.ai/v1"), Some(Compat::Xai));
        assert_eq!(implied("https://api.x.ai:443/v1"), Some(Compat::Xai));
        assert_eq!(implied("https://api.openai.com/v1"), None);
        assert_eq!(implied("https://api.deepseek.com.example.org/v1"), None);
        assert_eq!(implied("http://127.0.0.1:11434/v1"), None, "a port is no proof of a server");
        assert_eq!(Compat::implied(BackendKind::OpenResponses, "https://api.x.ai/v1"), None);
    }

    fn backend(fields: &str) -> Result<super::super::Backend, Vec<super::super::Problem>> {
        let text = format!(r#"{{"backends": [{{"name": "b", "models": ["*"], {fields}}}]}}"#);
        super::super::Config::check(&text).map(|config| config.backends[0].clone())
    }

    #[test]
    fn compat_is_named_implied_by_the_host_or_absent_and_explicit_fields_win() {
        let deepseek = backend(r#""kind": "openai", "base_url": "https://api.deepseek.com""#).unwrap();
        assert_eq!((deepseek.compat, deepseek.max_tokens_field), (Some(Compat::DeepSeek), MaxTokensField::MaxTokens));
        let named = backend(r#""kind": "openai", "base_url": "http://gpu:8000/v1", "compat": "vllm""#).unwrap();
        assert_eq!((named.compat, named.max_tokens_field), (Some(Compat::Vllm), MaxTokensField::MaxTokens));
        assert!(!named.takes_stream_options() && named.takes_stop());
        let xai = backend(r#""kind": "openai", "base_url": "https://api.x.ai/v1""#).unwrap();
        assert_eq!((xai.compat, xai.max_tokens_field), (Some(Compat::Xai), MaxTokensField::MaxCompletionTokens));
        assert!(!xai.takes_stop() && xai.takes_stream_options());
        let explicit = r#""kind": "openai", "base_url": "https://api.deepseek.com", "compat": "ollama",
                          "max_tokens_field": "max_completion_tokens""#;
        let explicit = backend(explicit).unwrap();
        assert_eq!(
            (explicit.compat, explicit.max_tokens_field),
            (Some(Compat::Ollama), MaxTokensField::MaxCompletionTokens)
        );
        let plain = backend(r#""kind": "openai""#).unwrap();
        assert_eq!((plain.compat, plain.max_tokens_field), (None, MaxTokensField::MaxCompletionTokens));
        assert!(plain.takes_stream_options() && plain.takes_stop() && !plain.wants_tool_turns_whole());
    }

    #[test]
    fn a_wrong_compat_is_reported_at_its_path() {
        let problems = backend(r#""kind": "openai", "compat": "deepsake""#).unwrap_err();
        assert_eq!(problems[0].path, "backends[0].compat");
        assert_eq!(problems[0].message, "unknown server `deepsake` (expected deepseek, xai, ollama, vllm)");
        let problems = backend(r#""kind": "anthropic", "compat": "deepseek""#).unwrap_err();
        assert_eq!(
            (problems[0].path.as_str(), problems[0].message.as_str()),
            ("backends[0].compat", "only `openai` backends take it")
        );
        let problems = backend(r#""kind": "openai", "compat": 7"#).unwrap_err();
        assert_eq!(problems[0].path, "backends[0].compat");
    }
}
