//! What an issued key may do: the models it may ask for (globs, aliases included), requests and
//! tokens per minute, a spend budget per day, week or month, an expiry and a disabled flag. Read
//! from the admin API's JSON and validated field by field.

use serde::{Deserialize, Serialize};

/// The period a spend budget is counted over, in UTC: a day, a week from Monday, a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[default]
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicy {
    pub name: String,
    /// Globs of the models (or aliases) the key may ask for; empty: every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens (input and output) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// US dollars per `budget_period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_period: Period,
    /// When the key stops working (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<f64>,
    #[serde(default)]
    pub disabled: bool,
}

/// A JSON error's message without its ` at line … column …`.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

impl KeyPolicy {
    /// A policy from the admin API's JSON; errors name the field.
    pub fn from_json(value: serde_json::Value) -> Result<Self, String> {
        // Read as bytes, as every JSON in the worker is, so that the policy has one deserializer
        // (the key's object reads it from its messages' bytes). Where the error is in text written
        // here says nothing to the caller, so it is left out.
        let text = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        let policy: Self = serde_json::from_slice(&text).map_err(|e| without_position(&e))?;
        policy.check()?;
        Ok(policy)
    }

    /// The policy with the fields of `patch` (the admin API's partial update) changed.
    pub fn patched(&self, patch: serde_json::Value) -> Result<Self, String> {
        let mut merged = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let Some(fields) = patch.as_object() else {
            return Err("the update is not a JSON object".into());
        };
        for (name, value) in fields {
            if value.is_null() {
                merged.as_object_mut().map(|m| m.remove(name));
            } else {
                merged[name] = value.clone();
            }
        }
        Self::from_json(merged)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: must be 1 to 200 characters".into());
        }
        if self.models.iter().any(|m| m.is_empty()) {
            return Err("models: a pattern is empty".into());
        }
        if self.rpm == Some(0) || self.tpm == Some(0) {
            return Err("rpm, tpm: a limit must be at least 1 (leave it out for none)".into());
        }
        if self.budget_usd.is_some_and(|b| !b.is_finite() || b < 0.0) {
            return Err("budget_usd: must be a number of dollars, at least 0".into());
        }
        Ok(())
    }

    /// Whether the key may ask for `model` (as the client named it, or as its alias resolved).
    pub fn allows_model(&self, asked: &str, resolved: &str) -> bool {
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|glob| glob_match::glob_match(glob, asked) || glob_match::glob_match(glob, resolved))
    }

    /// Whether the key has expired or is disabled at `now`.
    pub fn is_usable(&self, now: f64) -> bool {
        !self.disabled && self.expires_at.is_none_or(|at| now < at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_are_validated_and_patched_by_field() {
        let policy = KeyPolicy::from_json(json!({"name": "ci", "models": ["gpt-*"], "rpm": 10})).unwrap();
        assert!(policy.allows_model("gpt-4o", "gpt-4o") && !policy.allows_model("claude-x", "claude-x"));
        assert!(policy.allows_model("fast", "gpt-4o-mini"), "an alias of an allowed model");
        assert_eq!(policy.budget_period, Period::Day);
        let patched = policy.patched(json!({"rpm": null, "tpm": 500, "disabled": true})).unwrap();
        assert_eq!((patched.rpm, patched.tpm, patched.disabled), (None, Some(500), true));
        assert!(!patched.is_usable(0.0));
        for bad in [
            json!({"name": ""}),
            json!({"name": "x", "rpm": 0}),
            json!({"name": "x", "budget_usd": -1}),
            json!({"name": "x", "budget_period": "year"}),
            json!({"name": "x", "secret": "y"}),
        ] {
            assert!(KeyPolicy::from_json(bad.clone()).is_err(), "{bad}");
        }
        let expiring = KeyPolicy::from_json(json!({"name": "x", "expires_at": 1000.0})).unwrap();
        assert!(expiring.is_usable(999.0) && !expiring.is_usable(1000.0));
    }

    #[test]
    fn a_policy_of_the_wrong_shape_is_refused_by_field_without_a_position() {
        let cases = [
            (json!({"name": "x", "secret": "y"}), "unknown field `secret`"),
            (json!({"name": "x", "rpm": "ten"}), "invalid type: string \"ten\", expected u32"),
            (json!({"rpm": 1}), "missing field `name`"),
            (json!("x"), "invalid type: string \"x\", expected struct KeyPolicy"),
        ];
        for (policy, expected) in cases {
            let error = KeyPolicy::from_json(policy.clone()).unwrap_err();
            assert!(error.starts_with(expected), "{policy}: {error}");
            assert!(!error.contains(" at line "), "{policy}: {error}");
        }
    }
}
