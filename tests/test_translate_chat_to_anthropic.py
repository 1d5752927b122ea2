"""OpenAI Chat Completions clients on an Anthropic Messages backend, replaying real recordings."""

import json

import recorded
from conftest import ANTHROPIC_KEY, CLIENT_KEY
from upstream import Reply, anthropic_sse_from_chunks, wire


def test_text_answer_matches_the_recording(chat, upstream):
    upstream.script("claude-t-text", Reply(body=[wire("anthropic-text.vercel.json")]))
    expected = recorded.anthropic_message(json.loads(wire("anthropic-text.vercel.json")))

    completion = chat.chat.completions.create(
        model="claude-t-text", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    )

    choice = completion.choices[0]
    assert choice.message.content == expected["text"]
    assert choice.finish_reason == "stop"
    assert completion.usage.prompt_tokens == expected["input_tokens"]
    assert completion.usage.completion_tokens == expected["output_tokens"]
    sent = upstream.last("claude-t-text")
    assert sent.path == "/anthropic/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.body == {
        "model": "claude-t-text",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "max_tokens": 4096,
    }


def test_streamed_tool_call_matches_the_recording(chat, upstream):
    upstream.script("claude-t-stream-tool", Reply.sse(wire("anthropic-tool-use.sdkpy.sse")))
    expected = recorded.anthropic_stream(recorded.sse_payloads(wire("anthropic-tool-use.sdkpy.sse")))

    with chat.chat.completions.stream(
        model="claude-t-stream-tool",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        stream_options={"include_usage": True},
    ) as stream:
        completion = stream.get_final_completion()

    message = completion.choices[0].message
    assert message.content == expected["text"]
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]
    assert calls == expected["tools"]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        expected["input_tokens"], expected["output_tokens"])
    sent = upstream.last("claude-t-stream-tool").body
    assert sent["stream"] is True
    assert sent["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]


def test_whole_tool_call_matches_the_recording(chat, upstream):
    upstream.script("claude-t-tool", Reply(body=[wire("anthropic-tool-use.vercel.json")]))
    expected = recorded.anthropic_message(json.loads(wire("anthropic-tool-use.vercel.json")))

    completion = chat.chat.completions.create(
        model="claude-t-tool", messages=[{"role": "user", "content": "weather as json"}],
        tools=[{"type": "function", "function": {"name": "json", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "json"}},
    )

    message = completion.choices[0].message
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]
    assert calls == expected["tools"]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.prompt_tokens == expected["input_tokens"]
    assert upstream.last("claude-t-tool").body["tool_choice"] == {"type": "tool", "name": "json"}


def test_streamed_thinking_arrives_as_reasoning_content(chat, upstream):
    upstream.script("claude-t-thinking", Reply.sse(anthropic_sse_from_chunks("anthropic-thinking-signature.vercel.chunks.jsonl")))
    expected = recorded.anthropic_stream(recorded.jsonl("anthropic-thinking-signature.vercel.chunks.jsonl"))

    stream = chat.chat.completions.create(
        model="claude-t-thinking", messages=[{"role": "user", "content": "think"}], stream=True,
        reasoning_effort="medium", max_completion_tokens=1000,
    )
    text, reasoning, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            finish = choice.finish_reason or finish

    assert expected["thinking"] and reasoning == expected["thinking"]
    assert text == expected["text"]
    assert finish == "stop"
    sent = upstream.last("claude-t-thinking").body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert sent["max_tokens"] > 8192, "room is left for the answer after the thinking budget"


def test_conversation_with_parallel_tool_results_is_translated(chat, upstream):
    upstream.script("claude-t-history", Reply(body=[wire("anthropic-text.vercel.json")]))
    chat.chat.completions.create(
        model="claude-t-history",
        messages=[
            {"role": "developer", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "call.2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call.2", "content": "rainy"},
            {"role": "user", "content": "Thanks"},
        ],
        tools=[{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        tool_choice="required", parallel_tool_calls=False,
        temperature=0.5, top_p=0.9, stop=["END"], max_tokens=321,
    )
    sent = upstream.last("claude-t-history").body
    assert sent == {
        "model": "claude-t-history",
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "rainy"}]},
                {"type": "text", "text": "Thanks"}]},
        ],
        "max_tokens": 321,
        "tools": [{"name": "get_weather", "description": "Weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "temperature": 0.5,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }


def test_fields_anthropic_cannot_carry_are_refused_or_reported(chat, upstream):
    import openai
    import pytest

    with pytest.raises(openai.BadRequestError) as refused:
        chat.chat.completions.create(model="claude-t-refused", messages=[{"role": "user", "content": "hi"}], n=2)
    assert "`n`" in refused.value.message

    upstream.script("claude-t-dropped", Reply(body=[wire("anthropic-text.vercel.json")]))
    raw = chat.chat.completions.with_raw_response.create(
        model="claude-t-dropped", messages=[{"role": "user", "content": "hi"}], seed=7, presence_penalty=0.5,
    )
    assert raw.headers["x-llmproxy-dropped"] == "presence_penalty, seed"
    assert raw.headers["x-llmproxy-backend"] == "anthropic"
    assert "seed" not in upstream.last("claude-t-dropped").body


def test_json_schema_output_is_carried(chat, upstream):
    upstream.script("claude-t-json", Reply(body=[wire("anthropic-text.vercel.json")]))
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    chat.chat.completions.create(
        model="claude-t-json", messages=[{"role": "user", "content": "rate"}], seed=11,
        response_format={"type": "json_schema", "json_schema": {"name": "rating", "schema": schema, "strict": True}},
    )
    sent = upstream.last("claude-t-json").body
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
