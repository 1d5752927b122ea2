"""Anthropic Messages clients on an OpenAI Chat Completions backend, replaying real recordings."""

import json

import anthropic
import pytest

import recorded
from conftest import CLIENT_KEY, OPENAI_KEY
from upstream import Reply, wire


def test_text_answer_matches_the_recording(claude, upstream):
    upstream.script("gpt-t-text", Reply(body=[wire("openai-chat-text.vercel.json")]))
    expected = recorded.chat_completion(json.loads(wire("openai-chat-text.vercel.json")))

    message = claude.messages.create(model="gpt-t-text", max_tokens=500, messages=[{"role": "user", "content": "Invent a holiday"}])

    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == expected["text"]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (expected["prompt_tokens"], expected["completion_tokens"])
    sent = upstream.last("gpt-t-text")
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.headers["x-static"] == "from-config"
    assert CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.body == {
        "model": "gpt-t-text",
        "messages": [{"role": "user", "content": "Invent a holiday"}],
        "max_completion_tokens": 500,
    }


@pytest.mark.parametrize("recording", ["openai-chat-tool.sdkpy.sse", "openai-chat-parallel-tools.sdkpy.sse"])
def test_streamed_tool_calls_match_the_recording(claude, upstream, recording):
    model = f"gpt-t-{recording}"
    upstream.script(model, Reply.sse(wire(recording)))
    expected = recorded.chat_stream(recorded.sse_payloads(wire(recording)))

    with claude.messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
    ) as stream:
        message = stream.get_final_message()

    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == expected["tools"]
    assert len(calls) == len(recorded.chat_stream(recorded.sse_payloads(wire(recording)))["tools"]) >= 1
    assert "".join(b.text for b in message.content if b.type == "text") == expected["text"]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (expected["prompt_tokens"], expected["completion_tokens"])
    sent = upstream.last(model).body
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}, "usage is requested so it can be reported"


def test_conversation_is_translated(claude, upstream):
    upstream.script("gpt-t-history", Reply(body=[wire("openai-chat-text.vercel.json")]))
    raw = claude.messages.with_raw_response.create(
        model="gpt-t-history",
        max_tokens=64,
        system=[{"type": "text", "text": "Identity.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Rules."}],
        messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "Look at this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"q": "y"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "two"}], "is_error": True},
                {"type": "text", "text": "Go on"}]},
        ],
        tools=[{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["STOP"], metadata={"user_id": "u1"}, extra_body={"temperature": 0.2},
    )
    assert raw.headers["x-llmproxy-dropped"] == "metadata, cache_control, thinking"
    sent = upstream.last("gpt-t-history").body
    assert sent == {
        "model": "gpt-t-history",
        "messages": [
            {"role": "system", "content": "Identity.\n\nRules."},
            {"role": "user", "content": [
                {"type": "text", "text": "Look at this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}},
                {"id": "toolu_2", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"y"}'}}]},
            {"role": "tool", "content": "one", "tool_call_id": "toolu_1"},
            {"role": "tool", "content": "Error: two", "tool_call_id": "toolu_2"},
            {"role": "user", "content": "Go on"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up",
                                                     "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "stop": ["STOP"],
    }


def test_system_entries_inside_messages_stay_in_place(claude, upstream):
    # Claude Code puts {"role": "system"} entries inside `messages`.
    upstream.script("gpt-t-inline-system", Reply(body=[wire("openai-chat-text.vercel.json")]))
    claude.messages.create(
        model="gpt-t-inline-system", max_tokens=10,
        messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                  {"role": "system", "content": "Now be formal."}, {"role": "user", "content": "c"}],
    )
    sent = upstream.last("gpt-t-inline-system").body["messages"]
    assert sent == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                    {"role": "system", "content": "Now be formal."}, {"role": "user", "content": "c"}]


def test_compatible_server_gets_max_tokens(claude, upstream):
    upstream.script("local/llama-3", Reply(body=[wire("openai-chat-text.vercel.json")]))
    claude.messages.create(model="local/llama-3", max_tokens=77, messages=[{"role": "user", "content": "hi"}])
    sent = upstream.last("local/llama-3")
    assert sent.path == "/compat/v1/chat/completions"
    assert "authorization" not in sent.headers, "a backend without api_key_env gets no key"
    assert sent.body["max_tokens"] == 77 and "max_completion_tokens" not in sent.body


def test_untranslatable_block_is_a_400_naming_it(claude):
    with pytest.raises(anthropic.BadRequestError) as error:
        claude.messages.create(
            model="gpt-t-doc", max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "search_result", "source": "x", "title": "t", "content": []}]}],
        )
    assert "search_result" in error.value.message
    assert error.value.body["error"]["type"] == "invalid_request_error"
