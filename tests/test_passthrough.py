"""Same dialect on both sides: the body goes through with only the model rewritten, and the
answer comes back byte for byte."""

import json

import recorded
from conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY
from upstream import Reply, wire


def test_chat_stream_with_parallel_tools_passes_through(chat, upstream):
    upstream.script("gpt-alias-target", Reply.sse(wire("openai-chat-parallel-tools.sdkpy.sse")))
    expected = recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-parallel-tools.sdkpy.sse")))

    with chat.chat.completions.stream(
        model="fast",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": {"name": "GetWeatherArgs", "parameters": {"type": "object"}}}],
        extra_body={"vendor_extension": {"keep": [1, 2]}},
    ) as stream:
        completion = stream.get_final_completion()

    message = completion.choices[0].message
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == expected["tools"]
    assert completion.choices[0].finish_reason == expected["finish_reason"]
    assert completion.usage.prompt_tokens == expected["prompt_tokens"]
    sent = upstream.last("gpt-alias-target")
    assert sent.body["model"] == "gpt-alias-target", "the alias is resolved"
    assert sent.body["vendor_extension"] == {"keep": [1, 2]}, "unknown fields survive"
    assert sent.body["stream"] is True and "stream_options" not in sent.body, "nothing is added on a passthrough"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert CLIENT_KEY not in json.dumps(sent.headers)


def test_chat_body_is_forwarded_unchanged_when_the_model_is_not_renamed(chat, upstream):
    upstream.script("gpt-t-same", Reply(body=[wire("openai-chat-text.vercel.json")]))
    completion = chat.chat.completions.create(
        model="gpt-t-same", messages=[{"role": "user", "content": "hi"}], logprobs=False, seed=3,
    )
    assert completion.choices[0].message.content == recorded.chat_completion(json.loads(wire("openai-chat-text.vercel.json")))["text"]
    assert upstream.last("gpt-t-same").body == {
        "model": "gpt-t-same", "messages": [{"role": "user", "content": "hi"}], "logprobs": False, "seed": 3}


def test_messages_stream_passes_through_with_beta_and_version(claude, upstream):
    upstream.script("claude-alias-target", Reply.sse(wire("anthropic-tool-use.sdkpy.sse")))
    expected = recorded.anthropic_stream(recorded.sse_payloads(wire("anthropic-tool-use.sdkpy.sse")))

    with claude.messages.stream(
        model="sonnet", max_tokens=100, messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        extra_query={"beta": "true"}, extra_headers={"anthropic-beta": "fine-grained-tool-streaming-2025-05-14", "anthropic-version": "2099-01-01"},
        extra_body={"context_management": {"edits": []}},
    ) as stream:
        message = stream.get_final_message()

    assert "".join(b.text for b in message.content if b.type == "text") == expected["text"]
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == expected["tools"]
    assert message.stop_reason == expected["stop_reason"]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (expected["input_tokens"], expected["output_tokens"])
    sent = upstream.last("claude-alias-target")
    assert sent.path == "/anthropic/v1/messages?beta=true"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"
    assert sent.headers["anthropic-version"] == "2099-01-01", "the client's version is kept on a passthrough"
    assert sent.body["context_management"] == {"edits": []}
    assert CLIENT_KEY not in json.dumps(sent.headers)


def test_messages_whole_answer_passes_through_untouched(claude, upstream):
    upstream.script("claude-t-same", Reply(body=[wire("anthropic-tool-use.vercel.json")], headers={"request-id": "req_123"}))
    raw = claude.messages.with_raw_response.create(
        model="claude-t-same", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert json.loads(raw.http_response.content) == json.loads(wire("anthropic-tool-use.vercel.json"))
    assert raw.headers["request-id"] == "req_123"
