//! The config document as the admin API shows and takes it: the values of backends' extra
//! headers (which may carry a credential) are never shown; a document sent back with the
//! placeholder keeps the value it stands for.

use super::Problem;
use serde_json::Value;

/// What a header value is shown as.
pub const REDACTED: &str = "<redacted>";

/// `document` with every backend header value replaced by `REDACTED`.
pub fn redacted(document: &Value) -> Value {
    let mut shown = document.clone();
    for backend in backends_mut(&mut shown) {
        if let Some(Value::Object(headers)) = backend.get_mut("headers") {
            for value in headers.values_mut().filter(|value| value.is_string()) {
                *value = Value::from(REDACTED);
            }
        }
    }
    shown
}

/// `document` with each header value that is `REDACTED` put back from `base` (the revision it
/// was based on): the same header of the backend of the same name. A placeholder with nothing
/// behind it is a problem at its path.
pub fn restored(mut document: Value, base: Option<&Value>) -> Result<Value, Vec<Problem>> {
    let kept = |backend: &str, header: &str| -> Option<Value> {
        let backends = base?.get("backends")?.as_array()?;
        let found = backends.iter().find(|b| b.get("name").and_then(Value::as_str) == Some(backend))?;
        found.get("headers")?.get(header).filter(|value| value.is_string()).cloned()
    };
    let mut problems = Vec::new();
    for (i, backend) in backends_mut(&mut document).enumerate() {
        let name = backend.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(Value::Object(headers)) = backend.get_mut("headers") else { continue };
        for (header, value) in headers.iter_mut().filter(|(_, value)| value.as_str() == Some(REDACTED)) {
            match kept(&name, header) {
                Some(original) => *value = original,
                None => problems.push(Problem {
                    path: format!("backends[{i}].headers.{header}"),
                    message: format!("`{REDACTED}` stands for the value kept, but the config it is based on has none"),
                }),
            }
        }
    }
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(problems)
    }
}

fn backends_mut(document: &mut Value) -> impl Iterator<Item = &mut serde_json::Map<String, Value>> {
    let backends = document.get_mut("backends").and_then(Value::as_array_mut);
    backends.into_iter().flatten().filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployed() -> Value {
        json!({"backends": [
            {"name": "a", "kind": "openai", "models": ["*"], "headers": {"x-token": "s3cret", "x-team": "ml"}},
            {"name": "b", "kind": "mock", "models": ["m"]}
        ]})
    }

    #[test]
    fn header_values_are_never_shown_and_come_back_from_the_base() {
        let shown = redacted(&deployed());
        assert!(!shown.to_string().contains("s3cret") && !shown.to_string().contains("\"ml\""), "{shown}");
        assert_eq!(shown["backends"][0]["headers"]["x-token"], REDACTED);
        // Sent back as shown, with one header changed and one added: the rest is what it was.
        let mut edited = shown.clone();
        edited["backends"][0]["headers"]["x-team"] = json!("infra");
        edited["backends"][1]["headers"] = json!({"x-new": "v"});
        let saved = restored(edited, Some(&deployed())).unwrap();
        assert_eq!(saved["backends"][0]["headers"], json!({"x-token": "s3cret", "x-team": "infra"}));
        assert_eq!(saved["backends"][1]["headers"], json!({"x-new": "v"}));
    }

    #[test]
    fn a_placeholder_with_nothing_behind_it_is_refused_at_its_path() {
        let mut renamed = redacted(&deployed());
        renamed["backends"][0]["name"] = json!("c");
        let problems = restored(renamed, Some(&deployed())).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["backends[0].headers.x-team", "backends[0].headers.x-token"]);
        assert!(restored(redacted(&deployed()), None).is_err(), "no base, nothing to restore");
        // Anything that is not a config document passes through for validation to judge.
        assert_eq!(restored(json!([1]), None).unwrap(), json!([1]));
    }
}
