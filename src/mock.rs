//! The built-in `mock` backend: answers without any network, so the proxy can be tried and tested
//! offline in every client dialect.
//!
//! - It echoes the text of the last user message.
//! - When the last user turn carries tool results, it answers `tool <id> returned: <text>` for each.
//! - When the request offers tools and either `tool_choice` demands one or the last user message
//!   names one of them, it calls that tool instead. The arguments are the first JSON object found
//!   in the message, or `{}`.

use crate::ir::{self, estimate_tokens, Part, Role, StopReason, ToolCall, ToolChoice, Usage};

pub fn answer(request: &ir::Request, id: String) -> ir::Response {
    let last_user = request.messages.iter().rev().find(|m| m.role == Role::User);
    let text = last_user.map(|m| ir::join_text(&m.content)).unwrap_or_default();
    let results: Vec<String> = last_user
        .into_iter()
        .flat_map(|m| &m.content)
        .filter_map(|part| match part {
            Part::ToolResult(result) => {
                Some(format!("tool {} returned: {}", result.call_id, ir::join_text(&result.content)))
            }
            _ => None,
        })
        .collect();

    let called = if results.is_empty() { tool_to_call(request, &text) } else { None };
    let (content, stop_reason) = match called {
        Some(name) => {
            let call = ToolCall { id: format!("call_{id}"), name: name.to_string(), arguments: json_object_in(&text) };
            (vec![Part::ToolCall(call)], StopReason::ToolUse)
        }
        None if !results.is_empty() => (vec![Part::Text(results.join("\n"))], StopReason::EndTurn),
        None => (vec![Part::Text(text)], StopReason::EndTurn),
    };
    let input_tokens = request.estimated_input_tokens();
    let output_tokens = content
        .iter()
        .map(|part| match part {
            Part::Text(text) => estimate_tokens(text),
            Part::ToolCall(call) => estimate_tokens(&call.arguments) + 1,
            _ => 0,
        })
        .sum();
    ir::Response {
        id,
        model: request.model.clone(),
        content,
        stop_reason: Some(stop_reason),
        stop_sequence: None,
        usage: Usage { input_tokens, output_tokens, ..Usage::default() },
    }
}

fn tool_to_call<'a>(request: &'a ir::Request, text: &str) -> Option<&'a str> {
    let first = request.tools.first().map(|t| t.name.as_str());
    match &request.tool_choice {
        Some(ToolChoice::None) => None,
        Some(ToolChoice::Tool(name)) => Some(name.as_str()),
        Some(ToolChoice::Required) => {
            request.tools.iter().map(|t| t.name.as_str()).find(|name| text.contains(name)).or(first)
        }
        _ => request.tools.iter().map(|t| t.name.as_str()).find(|name| text.contains(name)),
    }
}

/// The first `{…}` in the text that parses as a JSON object, as compact JSON.
fn json_object_in(text: &str) -> String {
    text.match_indices('{')
        .find_map(|(start, _)| {
            let mut stream =
                serde_json::Deserializer::from_slice(&text.as_bytes()[start..]).into_iter::<serde_json::Value>();
            stream.next().and_then(Result::ok).filter(serde_json::Value::is_object)
        })
        .map_or_else(|| "{}".to_string(), |value| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Message, Schema, Tool, ToolResult};
    use serde_json::json;

    fn request(text: &str, tools: &[&str], choice: Option<ToolChoice>) -> ir::Request {
        ir::Request {
            model: "mock-1".into(),
            messages: vec![Message { role: Role::User, content: vec![Part::Text(text.into())] }],
            tools: tools
                .iter()
                .map(|name| Tool {
                    name: name.to_string(),
                    description: None,
                    parameters: Schema::from_value(&json!({"type": "object"})),
                })
                .collect(),
            tool_choice: choice,
            ..Default::default()
        }
    }

    #[test]
    fn echoes_the_last_user_message() {
        let response = answer(&request("hello there", &[], None), "1".into());
        assert_eq!(response.content, vec![Part::Text("hello there".into())]);
        assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
        assert!(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);
    }

    #[test]
    fn calls_a_tool_named_in_the_message_with_the_json_given() {
        let response = answer(
            &request(r#"use get_weather with {"city": "Paris"}"#, &["get_time", "get_weather"], None),
            "7".into(),
        );
        let Part::ToolCall(call) = &response.content[0] else { panic!("expected a tool call: {response:?}") };
        assert_eq!((call.name.as_str(), call.arguments.as_str()), ("get_weather", r#"{"city":"Paris"}"#));
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    }

    #[test]
    fn tool_choice_forces_or_forbids_a_call() {
        let forced = answer(&request("hi", &["a", "b"], Some(ToolChoice::Required)), "1".into());
        assert!(matches!(&forced.content[0], Part::ToolCall(c) if c.name == "a" && c.arguments == "{}"));
        let named = answer(&request("hi", &["a", "b"], Some(ToolChoice::Tool("b".into()))), "1".into());
        assert!(matches!(&named.content[0], Part::ToolCall(c) if c.name == "b"));
        let none = answer(&request("call a", &["a"], Some(ToolChoice::None)), "1".into());
        assert_eq!(none.content, vec![Part::Text("call a".into())]);
    }

    #[test]
    fn reports_tool_results() {
        let mut req = request("", &["get_weather"], None);
        req.messages[0].content = vec![Part::ToolResult(ToolResult {
            call_id: "call_1".into(),
            content: vec![Part::Text("sunny".into())],
            is_error: false,
        })];
        let response = answer(&req, "2".into());
        assert_eq!(response.content, vec![Part::Text("tool call_1 returned: sunny".into())]);
    }
}
