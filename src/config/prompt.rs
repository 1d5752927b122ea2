//! What a route does to the system prompt of its requests: text replacements, then a text
//! appended. Validated with the rest of the config, every problem at its path.

use super::Problems;
use serde::Deserialize;

/// The longest `find`, `replace` or `append` text.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The most replacements one route makes.
pub const MAX_REPLACEMENTS: usize = 64;

/// A route's rewrite of the system prompt, made in every client dialect, whether the request is
/// translated or passed through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemPromptRewrite {
    /// Made in order, each on every occurrence, in every instruction text of the request.
    pub replacements: Vec<Replacement>,
    /// Added at the end of the system prompt, which it becomes when the request has none.
    pub append: Option<String>,
}

/// One text replacement: every occurrence of `find` becomes `replace`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// The text to find: not empty.
    pub find: String,
    /// What each occurrence becomes (may be empty, to remove it).
    pub replace: String,
}

/// Rewrites of the system prompt of a route's requests: the replacements first, then `append`.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "SystemPrompt"))]
#[serde(deny_unknown_fields)]
pub(super) struct RawSystemPrompt {
    /// Text replacements, made in order on every occurrence in every instruction of the request
    /// (at most 64; `find` not empty, each text at most 65536 bytes).
    #[serde(default)]
    replace: Vec<Replacement>,
    /// Text added at the end of the system prompt (after a blank line), which it becomes when the
    /// request has none (at most 65536 bytes).
    append: Option<String>,
}

impl RawSystemPrompt {
    /// The rewrite, its problems added at `at`.
    pub(super) fn check(self, at: &str, problems: &mut Problems) -> SystemPromptRewrite {
        let too_long = format!("must be at most {MAX_TEXT_BYTES} bytes");
        if self.replace.is_empty() && self.append.is_none() {
            problems.add(at, "set `replace`, `append` or both");
        }
        if self.replace.len() > MAX_REPLACEMENTS {
            problems.add(format!("{at}.replace"), format!("at most {MAX_REPLACEMENTS} replacements"));
        }
        for (i, replacement) in self.replace.iter().enumerate() {
            if replacement.find.is_empty() {
                problems.add(format!("{at}.replace[{i}].find"), "must not be empty");
            }
            for (name, text) in [("find", &replacement.find), ("replace", &replacement.replace)] {
                if text.len() > MAX_TEXT_BYTES {
                    problems.add(format!("{at}.replace[{i}].{name}"), too_long.as_str());
                }
            }
        }
        match self.append.as_deref() {
            Some("") => problems.add(format!("{at}.append"), "must not be empty"),
            Some(text) if text.len() > MAX_TEXT_BYTES => problems.add(format!("{at}.append"), too_long.as_str()),
            _ => {}
        }
        SystemPromptRewrite { replacements: self.replace, append: self.append }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(system_prompt: &str) -> Vec<String> {
        let text = format!(
            r#"{{"backends": [{{"name": "m", "kind": "mock", "models": ["*"]}}],
                "routes": {{"r": {{"targets": [{{"backend": "m"}}], "system_prompt": {system_prompt}}}}}}}"#
        );
        Config::check(&text).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_route_rewrites_its_system_prompt() {
        let text = r#"{"backends": [{"name": "m", "kind": "mock", "models": ["*"]}],
            "routes": {"r": {"targets": [{"backend": "m"}],
              "system_prompt": {"replace": [{"find": "Claude", "replace": "the assistant"}], "append": "Be brief."}}}}"#;
        let config = Config::from_json(text).unwrap();
        let rewrite = config.routes["r"].system_prompt.as_ref().unwrap();
        assert_eq!(
            (rewrite.replacements[0].find.as_str(), rewrite.replacements[0].replace.as_str()),
            ("Claude", "the assistant")
        );
        assert_eq!(rewrite.append.as_deref(), Some("Be brief."));
        assert!(problems(r#"{"replace": [{"find": "a", "replace": ""}]}"#).is_empty(), "a find may be removed");
    }

    #[test]
    fn problems_are_told_at_their_path() {
        let at = "routes.r.system_prompt";
        assert_eq!(problems("{}"), [format!("{at}: set `replace`, `append` or both")]);
        assert_eq!(
            problems(r#"{"replace": [{"find": "x", "replace": "y"}, {"find": "", "replace": "y"}], "append": ""}"#),
            [format!("{at}.replace[1].find: must not be empty"), format!("{at}.append: must not be empty")]
        );
        let long = "x".repeat(super::MAX_TEXT_BYTES + 1);
        assert_eq!(
            problems(&format!(r#"{{"replace": [{{"find": "a", "replace": "{long}"}}], "append": "{long}"}}"#)),
            [
                format!("{at}.replace[0].replace: must be at most 65536 bytes"),
                format!("{at}.append: must be at most 65536 bytes")
            ]
        );
        let many = vec![r#"{"find": "a", "replace": "b"}"#; 65].join(",");
        assert_eq!(
            problems(&format!(r#"{{"replace": [{many}]}}"#)),
            [format!("{at}.replace: at most 64 replacements")]
        );
        assert!(problems(r#"{"replace": [{"find": "a"}]}"#)[0]
            .starts_with(&format!("{at}.replace[0]: missing field `replace`")));
        assert!(problems(r#"{"prepend": "x"}"#)[0].contains("unknown field `prepend`"));
    }
}
