//! Model-name routing: aliases first, then the first backend whose glob matches.

use crate::config::{Backend, Config};
use crate::error::ProxyError;

/// Aliases may point at other aliases; this bounds the chain so a cycle is an error, not a hang.
const MAX_ALIAS_HOPS: usize = 8;
/// The longest model name accepted, in bytes; real ones are far shorter.
pub const MAX_MODEL_NAME_BYTES: usize = 256;

/// Checks a model name a client sent: printable characters only (no whitespace or control
/// characters, which could end up in a header or a log line), at most `MAX_MODEL_NAME_BYTES`.
pub fn check_model_name(model: &str) -> Result<(), ProxyError> {
    let refuse = |why: &str| {
        let mut error = ProxyError::invalid(format!("`model` is not a model name: {why}"));
        error.param = Some("model".into());
        Err(error)
    };
    if model.len() > MAX_MODEL_NAME_BYTES {
        return refuse(&format!("it is longer than {MAX_MODEL_NAME_BYTES} bytes"));
    }
    if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("it holds whitespace or a control character");
    }
    Ok(())
}

/// A model name as the one URL path segment a backend puts it in (Gemini, Vertex): names that
/// could leave the segment (`/`, `\`, `?`, `#`, `..`) are refused whatever the routing globs
/// allow, and every character outside letters, digits and `-._~@` is percent-encoded.
pub fn model_path_segment(model: &str) -> Result<String, ProxyError> {
    check_model_name(model)?;
    let escapes = model.contains(['/', '\\', '?', '#']) || model.contains("..") || model.is_empty() || model == ".";
    if escapes {
        let mut error = ProxyError::invalid(format!(
            "model `{model}` cannot be sent to this backend: it is not one URL path segment"
        ));
        error.param = Some("model".into());
        return Err(error);
    }
    const KEPT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'@');
    Ok(percent_encoding::utf8_percent_encode(model, KEPT).to_string())
}

impl Config {
    /// The model name after alias resolution.
    pub fn resolve_alias<'a>(&'a self, model: &'a str) -> Result<&'a str, ProxyError> {
        let mut current = model;
        for _ in 0..MAX_ALIAS_HOPS {
            match self.aliases.get(current) {
                Some(target) => current = target,
                None => return Ok(current),
            }
        }
        Err(ProxyError::invalid(format!("alias `{model}` does not resolve to a model (cycle in `aliases`)")))
    }

    /// The backend for a model that is already alias-resolved. Backends are tried in config order.
    pub fn route(&self, model: &str) -> Result<&Backend, ProxyError> {
        self.backends
            .iter()
            .find(|backend| backend.models.iter().any(|pattern| glob_match::glob_match(pattern, model)))
            .ok_or_else(|| ProxyError::not_found(format!("model `{model}` is not served by any configured backend")))
    }

    /// Names a client can list, each with the backend that serves it: every alias and every
    /// model pattern without wildcards.
    pub fn listed_models(&self) -> Vec<(&str, &str)> {
        let backend_of = |model: &str| {
            self.resolve_alias(model).ok().and_then(|m| self.route(m).ok()).map_or("", |b| b.name.as_str())
        };
        let mut models: Vec<(&str, &str)> =
            self.aliases.keys().map(|alias| (alias.as_str(), backend_of(alias))).collect();
        for backend in &self.backends {
            for pattern in &backend.models {
                let literal = !pattern.contains(['*', '?', '[', '{', '!', '\\']);
                if literal && !models.iter().any(|(id, _)| id == pattern) {
                    models.push((pattern.as_str(), backend_of(pattern)));
                }
            }
        }
        models
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn config() -> Config {
        Config::from_json(
            r#"{"backends": [
                {"name": "openai", "kind": "openai", "models": ["gpt-*", "o[0-9]*", "gpt-4o-mini"]},
                {"name": "anthropic", "kind": "anthropic", "models": ["claude-*", "gpt-4o"]},
                {"name": "router", "kind": "openai", "base_url": "http://127.0.0.1:1", "models": ["meta-llama/*", "**"]}
              ],
              "aliases": {"fast": "gpt-4o-mini", "smart": "best", "best": "claude-opus-4-1", "loop": "loop"}}"#,
        )
        .unwrap()
    }

    fn backend_for(config: &Config, model: &str) -> String {
        let model = config.resolve_alias(model).unwrap();
        config.route(model).unwrap().name.clone()
    }

    #[test]
    fn first_matching_backend_wins() {
        let config = config();
        assert_eq!(backend_for(&config, "gpt-4o"), "openai", "earlier glob beats later exact name");
        assert_eq!(backend_for(&config, "o3-mini"), "openai");
        assert_eq!(backend_for(&config, "claude-sonnet-4-5"), "anthropic");
        assert_eq!(backend_for(&config, "meta-llama/Llama-3.3-70B"), "router");
        assert_eq!(backend_for(&config, "anything/else/at-all"), "router");
    }

    #[test]
    fn aliases_resolve_through_chains_and_cycles_are_errors() {
        let config = config();
        assert_eq!(config.resolve_alias("fast").unwrap(), "gpt-4o-mini");
        assert_eq!(config.resolve_alias("smart").unwrap(), "claude-opus-4-1");
        assert_eq!(config.resolve_alias("gpt-4o").unwrap(), "gpt-4o");
        assert!(config.resolve_alias("loop").unwrap_err().message.contains("cycle"));
    }

    #[test]
    fn a_model_name_is_one_path_segment_or_refused() {
        use super::model_path_segment;
        assert_eq!(model_path_segment("gemini-2.5-flash").unwrap(), "gemini-2.5-flash");
        assert_eq!(model_path_segment("claude-sonnet-4-5@20250929").unwrap(), "claude-sonnet-4-5@20250929");
        assert_eq!(model_path_segment("a:b%c+é").unwrap(), "a%3Ab%25c%2B%C3%A9");
        for hostile in
            ["x/../../v1/projects/OTHER/customJobs#", "..", ".", "a?b", "a#b", "a\\b", "a/b", "", "a b", "a\nb"]
        {
            let error = model_path_segment(hostile).unwrap_err();
            assert_eq!((error.status, error.param.as_deref()), (400, Some("model")), "{hostile:?}");
        }
        assert!(model_path_segment(&"m".repeat(super::MAX_MODEL_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn unrouted_model_is_a_404_naming_it() {
        let config = Config::from_json(r#"{"backends":[{"name":"m","kind":"mock","models":["mock-*"]}]}"#).unwrap();
        let error = config.route("gpt-5").unwrap_err();
        assert_eq!(error.status, 404);
        assert!(error.message.contains("`gpt-5`"));
    }

    #[test]
    fn lists_aliases_and_literal_models_with_their_backend() {
        let config = config();
        let listed = config.listed_models();
        assert!(listed.contains(&("fast", "openai")));
        assert!(listed.contains(&("smart", "anthropic")));
        assert!(listed.contains(&("gpt-4o-mini", "openai")));
        assert!(listed.contains(&("gpt-4o", "openai")), "listed under the backend that really serves it");
        assert!(!listed.iter().any(|(id, _)| id.contains('*')));
    }
}
