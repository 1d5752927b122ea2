//! Rewriting a request's system prompt as its route says (`config::SystemPromptRewrite`), in the
//! client's own JSON, before the request is passed through or translated: each dialect's codec
//! finds its instructions (`Codec::rewrite_system_prompt`) and the `Rewriter` makes the
//! replacements and the append, bounding what they add.

use crate::config::{Replacement, SystemPromptRewrite};
use crate::error::{ErrorKind, ProxyError};
use crate::json_object::{parse, to_raw};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The most a rewrite may add to one request, its replacements and its append together: short
/// texts replaced by long ones could otherwise grow a prompt many times over.
pub const MAX_GROWTH_BYTES: usize = 1024 * 1024;

/// Makes one request's rewrite, keeping count of what it adds.
pub struct Rewriter<'a> {
    rewrite: &'a SystemPromptRewrite,
    /// What the rewrite may still add, in bytes.
    budget: usize,
}

impl<'a> Rewriter<'a> {
    pub fn new(rewrite: &'a SystemPromptRewrite) -> Self {
        Self { rewrite, budget: MAX_GROWTH_BYTES }
    }

    /// Whether the rewrite appends a text.
    pub fn appends(&self) -> bool {
        self.rewrite.append.is_some()
    }

    /// Whether the rewrite replaces any text.
    pub fn replaces(&self) -> bool {
        !self.rewrite.replacements.is_empty()
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ProxyError> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            ProxyError::new(
                413,
                ErrorKind::PayloadTooLarge,
                format!(
                    "the route's system prompt rewrite would add more than {MAX_GROWTH_BYTES} bytes to the request"
                ),
            )
        })?;
        Ok(())
    }

    /// `text` with every replacement made in turn, each on every occurrence. What one would add
    /// is counted before it is made, so an oversized result is refused, never built.
    pub fn replaced(&mut self, text: &str) -> Result<String, ProxyError> {
        let mut text = Cow::Borrowed(text);
        for Replacement { find, replace } in &self.rewrite.replacements {
            let count = text.matches(find.as_str()).count();
            if count > 0 {
                self.charge(count.saturating_mul(replace.len().saturating_sub(find.len())))?;
                text = Cow::Owned(text.replace(find.as_str(), replace));
            }
        }
        Ok(text.into_owned())
    }

    /// Rewrites a content in place: a string, or the `text` of each of its parts.
    pub fn content(&mut self, content: &mut Value) -> Result<(), ProxyError> {
        match content {
            Value::String(text) => *text = self.replaced(text)?,
            Value::Array(parts) => {
                for part in parts {
                    if let Some(Value::String(text)) = part.get_mut("text") {
                        *text = self.replaced(text)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Puts the appended text at the end of `content`: after a blank line in a string, as a part
    /// of its own (`part(text)`) in a list of parts, as the whole content when there is none.
    pub fn append_to(&mut self, content: &mut Value, part: impl Fn(&str) -> Value) -> Result<(), ProxyError> {
        let Some(append) = self.rewrite.append.as_deref() else {
            return Ok(());
        };
        self.charge(append.len() + 2)?;
        match content {
            Value::String(text) if !text.is_empty() => {
                text.push_str("\n\n");
                text.push_str(append);
            }
            Value::Array(parts) => parts.push(part(append)),
            other => *other = Value::String(append.to_string()),
        }
        Ok(())
    }

    /// Rewrites the content of the instruction messages of a list (those whose `role` is one of
    /// `roles`), and gives the index of the last of those that come before any other message:
    /// the end of the system prompt, where an appended text goes.
    pub fn messages(&mut self, messages: &mut [Box<RawValue>], roles: &[&str]) -> Result<Option<usize>, ProxyError> {
        #[derive(Deserialize)]
        struct Role<'a> {
            #[serde(borrow)]
            role: Option<Cow<'a, str>>,
        }
        let (mut leading, mut conversation_began) = (None, false);
        for (i, raw) in messages.iter_mut().enumerate() {
            let role = parse::<Role>(raw).ok().and_then(|peek| peek.role.map(Cow::into_owned));
            if !role.is_some_and(|role| roles.contains(&role.as_str())) {
                conversation_began = true;
                continue;
            }
            if !conversation_began {
                leading = Some(i);
            }
            if self.replaces() {
                let mut message: Map<String, Value> = parse(raw)?;
                if let Some(content) = message.get_mut("content") {
                    self.content(content)?;
                }
                *raw = to_raw(&message)?;
            }
        }
        Ok(leading)
    }

    /// Appends the text to the content of one message of a list.
    pub fn append_to_message(
        &mut self,
        message: &mut Box<RawValue>,
        part: impl Fn(&str) -> Value,
    ) -> Result<(), ProxyError> {
        let mut fields: Map<String, Value> = parse(message)?;
        self.append_to(fields.entry("content").or_insert(Value::Null), part)?;
        *message = to_raw(&fields)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rewrite(replacements: &[(&str, &str)], append: Option<&str>) -> SystemPromptRewrite {
        SystemPromptRewrite {
            replacements: replacements
                .iter()
                .map(|(find, replace)| Replacement { find: find.to_string(), replace: replace.to_string() })
                .collect(),
            append: append.map(str::to_string),
        }
    }

    #[test]
    fn replacements_are_made_in_turn_on_every_occurrence() {
        let rewrite = rewrite(&[("Claude", "Ada"), ("Ada Code", "the agent"), ("x", "")], None);
        let mut rewriter = Rewriter::new(&rewrite);
        assert_eq!(rewriter.replaced("You are Claude Code. Claude xx").unwrap(), "You are the agent. Ada ");
        let mut parts = json!([{"type": "text", "text": "Claude"}, {"type": "image"}, {"text": "x"}]);
        rewriter.content(&mut parts).unwrap();
        assert_eq!(parts, json!([{"type": "text", "text": "Ada"}, {"type": "image"}, {"text": ""}]));
    }

    #[test]
    fn an_appended_text_ends_a_string_or_a_list_of_parts_or_becomes_the_content() {
        let rewrite = rewrite(&[], Some("Be brief."));
        let mut rewriter = Rewriter::new(&rewrite);
        let part = |text: &str| json!({"type": "text", "text": text});
        for (mut content, expected) in [
            (json!("Hi."), json!("Hi.\n\nBe brief.")),
            (json!(""), json!("Be brief.")),
            (Value::Null, json!("Be brief.")),
            (json!([part("Hi.")]), json!([part("Hi."), part("Be brief.")])),
        ] {
            rewriter.append_to(&mut content, part).unwrap();
            assert_eq!(content, expected);
        }
    }

    #[test]
    fn a_rewrite_that_would_grow_a_prompt_without_bound_is_refused_before_it_is_made() {
        let rewrite = rewrite(&[("a", &"b".repeat(1000))], None);
        let mut rewriter = Rewriter::new(&rewrite);
        assert!(rewriter.replaced(&"a".repeat(1000)).is_ok(), "about 1 MB is within bounds");
        let error = rewriter.replaced(&"a".repeat(100)).unwrap_err();
        assert_eq!((error.status, error.kind), (413, ErrorKind::PayloadTooLarge), "the budget is the request's");
        let mut fresh = Rewriter::new(&rewrite);
        assert_eq!(fresh.replaced(&"a".repeat(2_000_000)).unwrap_err().status, 413);
        let shrinking = self::rewrite(&[("aa", "a")], None);
        assert_eq!(Rewriter::new(&shrinking).replaced(&"a".repeat(3_000_000)).unwrap().len(), 1_500_000);
        let long = self::rewrite(&[], Some(&"z".repeat(MAX_GROWTH_BYTES)));
        assert_eq!(Rewriter::new(&long).append_to(&mut json!("x"), |_| Value::Null).unwrap_err().status, 413);
    }

    #[test]
    fn instruction_messages_are_rewritten_and_the_last_leading_one_found() {
        let rewrite = rewrite(&[("old", "new")], Some("End."));
        let mut rewriter = Rewriter::new(&rewrite);
        let mut messages: Vec<Box<RawValue>> = [
            json!({"role": "system", "content": "old"}),
            json!({"role": "developer", "content": [{"type": "text", "text": "old old"}]}),
            json!({"role": "user", "content": "old"}),
            json!({"role": "system", "content": "old"}),
            json!({"type": "function_call", "name": "old"}),
        ]
        .iter()
        .map(|message| to_raw(message).unwrap())
        .collect();
        let leading = rewriter.messages(&mut messages, &["system", "developer"]).unwrap();
        assert_eq!(leading, Some(1));
        rewriter.append_to_message(&mut messages[1], |text| json!({"type": "text", "text": text})).unwrap();
        let messages: Vec<Value> =
            messages.iter().map(|raw| serde_json::from_slice(raw.get().as_bytes()).unwrap()).collect();
        assert_eq!(messages[0]["content"], "new");
        assert_eq!(
            messages[1]["content"],
            json!([{"type": "text", "text": "new new"}, {"type": "text", "text": "End."}])
        );
        assert_eq!((messages[2]["content"].as_str(), messages[3]["content"].as_str()), (Some("old"), Some("new")));
        assert_eq!(messages[4]["name"], "old", "only instructions");
        let mut none: Vec<Box<RawValue>> = vec![to_raw(&json!({"role": "user", "content": "x"})).unwrap()];
        assert_eq!(rewriter.messages(&mut none, &["system"]).unwrap(), None);
    }
}
