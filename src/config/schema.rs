//! The JSON Schema of the config document, generated from the types the config is read with, so
//! that it cannot drift from them. The worker serves the committed copy (`SCHEMA`); a test fails
//! when that copy is not what the types generate (`scripts/config schema` rewrites it).

/// The schema the config's types describe, as the committed file holds it.
pub fn generated() -> String {
    let schema = schemars::schema_for!(super::RawConfig);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_is_the_one_the_config_types_generate() {
        assert!(
            generated() == super::super::SCHEMA,
            "src/config/config.schema.json is out of date: run `scripts/config schema`"
        );
    }

    #[test]
    fn the_schema_knows_every_field_and_kind() {
        let schema: serde_json::Value = serde_json::from_slice(super::super::SCHEMA.as_bytes()).unwrap();
        let top = schema["properties"].as_object().unwrap();
        for field in
            ["$schema", "backends", "aliases", "routes", "retry", "breaker", "prices", "reserved_output_tokens"]
        {
            assert!(top.contains_key(field), "no `{field}` in the schema");
        }
        assert_eq!(schema["additionalProperties"], false, "unknown fields are refused, as the worker does");
        let text = super::super::SCHEMA;
        for kind in ["openai", "openresponses", "anthropic", "gemini", "vertex", "bedrock", "mock", "self_signed_jwt"] {
            assert!(text.contains(&format!("\"{kind}\"")), "`{kind}` is not in the schema");
        }
    }
}
