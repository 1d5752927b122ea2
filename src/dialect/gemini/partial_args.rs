//! Function-call arguments Gemini streams in pieces (Vertex's `streamFunctionCallArguments`): a
//! call starts with its name and `willContinue`, later parts of the same call carry `partialArgs`,
//! each a JSON path and a value (strings may come in several pieces), and the first part without
//! `willContinue` ends it. The pieces are assembled here into the call's whole arguments object.

use super::types::PartialArg;
use crate::error::ProxyError;
use serde_json::{Map, Value};

/// How deep a path may reach. Arrays grow one element at a time, so no index makes the proxy
/// allocate more than the pieces themselves hold.
const MAX_PATH_DEPTH: usize = 32;

#[derive(Debug)]
pub struct Arguments {
    /// Always an object.
    root: Value,
}

enum Step {
    Key(String),
    Index(usize),
}

impl Arguments {
    /// The arguments a call's first part already holds (usually none).
    pub fn new(initial: &Value) -> Self {
        Self { root: Value::Object(initial.as_object().cloned().unwrap_or_default()) }
    }

    /// Sets (or, for a string continuing an earlier piece, extends) the value at each path.
    pub fn apply(&mut self, pieces: &[PartialArg]) -> Result<(), ProxyError> {
        for piece in pieces {
            let path = &piece.json_path;
            let steps = parse_path(path)?;
            if steps.is_empty() {
                return Err(unreadable(path, "it names no field"));
            }
            let mut cursor = &mut self.root;
            for step in &steps {
                if cursor.is_null() {
                    *cursor = match step {
                        Step::Key(_) => Value::Object(Map::new()),
                        Step::Index(_) => Value::Array(Vec::new()),
                    };
                }
                cursor = match (cursor, step) {
                    (Value::Object(fields), Step::Key(key)) => fields.entry(key.clone()).or_insert(Value::Null),
                    (Value::Array(items), Step::Index(index)) => {
                        if *index == items.len() {
                            items.push(Value::Null);
                        }
                        match items.get_mut(*index) {
                            Some(item) => item,
                            None => return Err(unreadable(path, "it skips array elements")),
                        }
                    }
                    _ => return Err(unreadable(path, "it goes through a value of another kind")),
                };
            }
            match (cursor, piece.value()) {
                (Value::String(text), Value::String(more)) => text.push_str(&more),
                (cursor, value) => *cursor = value,
            }
        }
        Ok(())
    }

    /// The whole arguments as JSON text.
    pub fn into_json(self) -> String {
        self.root.to_string()
    }
}

/// `$.a.b[0]['c']` as its steps.
fn parse_path(path: &str) -> Result<Vec<Step>, ProxyError> {
    let mut rest = path.strip_prefix('$').ok_or_else(|| unreadable(path, "it does not start with `$`"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if steps.len() == MAX_PATH_DEPTH {
            return Err(unreadable(path, "it is too deep"));
        }
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err(unreadable(path, "it has an empty field name"));
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| unreadable(path, "a `[` is not closed"))?;
            let inside = &after[..end];
            let quoted = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            steps.push(match quoted {
                Some(key) => Step::Key(key.to_string()),
                None => Step::Index(inside.parse().map_err(|_| unreadable(path, "an index is not a number"))?),
            });
            rest = &after[end + 1..];
        } else {
            return Err(unreadable(path, "it is not a JSON path"));
        }
    }
    Ok(steps)
}

fn unreadable(path: &str, why: &str) -> ProxyError {
    let path: String = path.chars().take(100).collect();
    ProxyError::bad_gateway(format!(
        "the upstream streamed a function argument at `{path}`, which cannot be read: {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn piece(path: &str, value: Value) -> PartialArg {
        serde_json::from_value(json!({"jsonPath": path, "stringValue": value})).unwrap()
    }

    #[test]
    fn pieces_assemble_into_nested_objects_and_arrays() {
        let mut arguments = Arguments::new(&Value::Null);
        arguments.apply(&[piece("$.recipe.ingredients[0].amount", json!("16 "))]).unwrap();
        arguments.apply(&[piece("$.recipe.ingredients[0].amount", json!("oz"))]).unwrap();
        arguments.apply(&[piece("$.recipe.steps[0]", json!("Boil."))]).unwrap();
        arguments.apply(&[piece("$['a b']", json!("x"))]).unwrap();
        let numbers: PartialArg = serde_json::from_value(json!({"jsonPath": "$.n", "numberValue": 2.5})).unwrap();
        let flag: PartialArg = serde_json::from_value(json!({"jsonPath": "$.f", "boolValue": true})).unwrap();
        let null: PartialArg = serde_json::from_value(json!({"jsonPath": "$.z", "nullValue": null})).unwrap();
        arguments.apply(&[numbers, flag, null]).unwrap();
        let value: Value = serde_json::from_slice(arguments.into_json().as_bytes()).unwrap();
        assert_eq!(
            value,
            json!({"recipe": {"ingredients": [{"amount": "16 oz"}], "steps": ["Boil."]}, "a b": "x", "n": 2.5, "f": true, "z": null})
        );
    }

    #[test]
    fn hostile_paths_are_errors_not_allocations() {
        for path in ["$.a[4294967295]", "$[0]", "a", "$.", "$.a[x]", "$.a[", &format!("${}", ".a".repeat(40))] {
            let mut arguments = Arguments::new(&Value::Null);
            assert_eq!(arguments.apply(&[piece(path, json!("v"))]).unwrap_err().status, 502, "{path}");
        }
        let mut arguments = Arguments::new(&Value::Null);
        arguments.apply(&[piece("$.a", json!("text"))]).unwrap();
        assert!(arguments.apply(&[piece("$.a.b", json!("v"))]).is_err(), "through a string");
    }
}
