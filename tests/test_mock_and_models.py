"""The built-in mock backend in both dialects, and the model list."""

import json

import anthropic
import openai

WEATHER_TOOL_CHAT = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
WEATHER_TOOL_ANTHROPIC = {"name": "get_weather", "input_schema": {"type": "object"}}


def test_chat_mock_echoes_whole_and_streamed(chat):
    completion = chat.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "hello mock"}])
    assert completion.choices[0].message.content == "hello mock"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0

    with chat.chat.completions.stream(model="mock-echo", messages=[{"role": "user", "content": "streamed hello"}],
                                      stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "streamed hello"
    assert final.usage.completion_tokens > 0


def test_chat_mock_calls_a_named_tool_and_reads_its_result(chat):
    messages = [{"role": "user", "content": 'please get_weather {"city": "Oslo"}'}]
    with chat.chat.completions.stream(model="mock-tools", messages=messages, tools=[WEATHER_TOOL_CHAT]) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    assert final.choices[0].finish_reason == "tool_calls"

    messages += [final.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "cloudy"}]
    answer = chat.chat.completions.create(model="mock-tools", messages=messages, tools=[WEATHER_TOOL_CHAT])
    assert answer.choices[0].message.content == f"tool {call.id} returned: cloudy"


def test_messages_mock_echoes_and_calls_tools(claude):
    message = claude.messages.create(model="mock-echo", max_tokens=20, messages=[{"role": "user", "content": "hi claude"}])
    assert message.content[0].text == "hi claude" and message.stop_reason == "end_turn"

    with claude.messages.stream(model="mock-tools", max_tokens=20, tools=[WEATHER_TOOL_ANTHROPIC],
                                tool_choice={"type": "any"}, messages=[{"role": "user", "content": "anything"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [("get_weather", {})]


def test_models_are_listed_in_each_dialect(chat, claude):
    ids = {m.id: m.owned_by for m in chat.models.list()}
    assert ids["fast"] == "openai" and ids["sonnet"] == "anthropic"
    assert not any("*" in i for i in ids)
    claude_ids = [m.id for m in claude.models.list()]
    assert "fast" in claude_ids and "sonnet" in claude_ids


def test_count_tokens_is_native_on_anthropic_and_estimated_elsewhere(claude, upstream):
    from upstream import Reply

    upstream.script("claude-t-count", Reply.json({"input_tokens": 42}))
    counted = claude.messages.count_tokens(model="claude-t-count", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens == 42
    sent = upstream.last("claude-t-count")
    assert sent.path == "/anthropic/v1/messages/count_tokens"

    raw = claude.messages.with_raw_response.count_tokens(
        model="gpt-t-count", system="Be brief.", messages=[{"role": "user", "content": "Hello there, how are you?"}])
    # About four characters a token: "Be brief." is 9 characters (3), the message 25 (7).
    assert raw.parse().input_tokens == 10
    assert raw.headers["x-llmproxy-estimate"] == "true"
    assert not upstream.requests_for("gpt-t-count"), "an estimate calls no upstream"
