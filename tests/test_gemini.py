"""Gemini clients (google-genai) on every backend, and every client on a Gemini backend, replaying
real recordings."""

import json

import pytest
from google.genai import errors as genai_errors
from google.genai import types

import recorded
from conftest import CLIENT_KEY, GEMINI_KEY
from upstream import Reply, wire

WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="weather", description="Weather", parameters_json_schema={"type": "object", "properties": {"location": {"type": "string"}}})])
GEMINI_STREAM = "gemini-functioncall-thoughtsig.vercel.chunks.jsonl"


def gemini_sse(name: str) -> bytes:
    return recorded.gemini_sse(name)


def recorded_gemini_stream() -> dict:
    return recorded.gemini_stream(recorded.jsonl(GEMINI_STREAM))


def test_gemini_passthrough_text_and_stream(gemini, upstream):
    upstream_body = json.loads(wire("gemini-text.vercel.json"))
    upstream.script("gemini-t-text", Reply(body=[wire("gemini-text.vercel.json")]))
    response = gemini.models.generate_content(model="gemini-t-text", contents="How many r's in strawberry?")
    assert response.text == upstream_body["candidates"][0]["content"]["parts"][0]["text"]
    assert response.usage_metadata.thoughts_token_count == upstream_body["usageMetadata"]["thoughtsTokenCount"]
    sent = upstream.last("gemini-t-text")
    assert sent.path == "/gemini-api/v1beta/models/gemini-t-text:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.body["contents"] == [{"parts": [{"text": "How many r's in strawberry?"}], "role": "user"}]

    upstream.script("gemini-t-stream", Reply.sse(gemini_sse(GEMINI_STREAM)))
    expected = recorded_gemini_stream()
    chunks = list(gemini.models.generate_content_stream(model="gemini-t-stream", contents="weather?", config=types.GenerateContentConfig(tools=[WEATHER])))
    calls = [(c.name, c.args) for chunk in chunks for c in chunk.function_calls or []]
    assert calls == expected["calls"]
    assert upstream.last("gemini-t-stream").path == "/gemini-api/v1beta/models/gemini-t-stream:streamGenerateContent?alt=sse"


def test_gemini_client_on_a_chat_backend(gemini, upstream):
    upstream.script("gpt-g-tool", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    expected = recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-tool.sdkpy.sse")))
    chunks = list(gemini.models.generate_content_stream(model="gpt-g-tool", contents="weather?", config=types.GenerateContentConfig(tools=[WEATHER])))
    calls = [(c.id, c.name, c.args) for chunk in chunks for c in chunk.function_calls or []]
    assert calls == expected["tools"]
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert (last.usage_metadata.prompt_token_count, last.usage_metadata.candidates_token_count) == (
        expected["prompt_tokens"], expected["completion_tokens"])
    sent = upstream.last("gpt-g-tool").body
    assert sent["tools"][0]["function"]["name"] == "weather" and sent["stream_options"] == {"include_usage": True}


def test_gemini_client_on_an_anthropic_backend(gemini, upstream):
    upstream.script("claude-g-text", Reply(body=[wire("anthropic-text.vercel.json")]))
    expected = recorded.anthropic_message(json.loads(wire("anthropic-text.vercel.json")))
    response = gemini.models.generate_content(
        model="claude-g-text", contents="Hello",
        config=types.GenerateContentConfig(system_instruction="Be kind.", max_output_tokens=200, temperature=0.3))
    assert response.text == expected["text"]
    assert response.usage_metadata.prompt_token_count == expected["input_tokens"]
    sent = upstream.last("claude-g-text").body
    assert (sent["system"], sent["max_tokens"], sent["temperature"]) == ("Be kind.", 200, 0.3)


@pytest.mark.parametrize("client_kind", ["chat", "claude"])
def test_other_clients_on_a_gemini_backend(chat, claude, upstream, client_kind):
    model = f"gemini-{client_kind}-tool"
    upstream.script(model, Reply.sse(gemini_sse(GEMINI_STREAM)))
    expected = recorded_gemini_stream()
    if client_kind == "chat":
        with chat.chat.completions.stream(model=model, messages=[{"role": "user", "content": "weather?"}],
                                          tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
                                          stream_options={"include_usage": True}) as stream:
            completion = stream.get_final_completion()
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in completion.choices[0].message.tool_calls]
        assert completion.choices[0].finish_reason == "tool_calls"
        assert completion.usage.prompt_tokens == expected["usage"]["promptTokenCount"]
    else:
        with claude.messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": "weather?"}],
                                    tools=[{"name": "weather", "input_schema": {"type": "object"}}]) as stream:
            message = stream.get_final_message()
        calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
        assert message.stop_reason == "tool_use"
        thinking = [b for b in message.content if b.type == "thinking"]
        assert [b.signature for b in thinking] == [recorded.sealed("gemini", s) for s in expected["signatures"]]
    assert calls == expected["calls"]
    sent = upstream.last(model)
    assert sent.path == f"/gemini-api/v1beta/models/{model}:streamGenerateContent?alt=sse"
    assert sent.body["contents"][0]["role"] == "user"


def test_gemini_signature_goes_back_to_gemini_through_an_anthropic_client(claude, upstream):
    upstream.script("gemini-sig", Reply.sse(gemini_sse(GEMINI_STREAM)))
    expected = recorded_gemini_stream()
    with claude.messages.stream(model="gemini-sig", max_tokens=100, messages=[{"role": "user", "content": "weather?"}],
                                tools=[{"name": "weather", "input_schema": {"type": "object"}}]) as stream:
        message = stream.get_final_message()
    call = next(b for b in message.content if b.type == "tool_use")

    upstream.script("gemini-sig-2", Reply(body=[wire("gemini-text.vercel.json")]))
    claude.messages.create(model="gemini-sig-2", max_tokens=100, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
    ])
    contents = upstream.last("gemini-sig-2").body["contents"]
    model_turn = contents[1]
    assert model_turn["role"] == "model"
    call_part = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert call_part["thoughtSignature"] == expected["signatures"][0], "Gemini gets its own signature back, raw"
    response_part = next(p for p in contents[2]["parts"] if "functionResponse" in p)
    assert response_part["functionResponse"]["name"] == "weather"


def test_count_tokens_native_on_gemini_and_estimated_elsewhere(gemini, upstream):
    upstream.script("gemini-count", Reply.json({"totalTokens": 31}))
    assert gemini.models.count_tokens(model="gemini-count", contents="hello there").total_tokens == 31
    assert upstream.last("gemini-count").path == "/gemini-api/v1beta/models/gemini-count:countTokens"
    # About four characters a token: "hello there, friend" is 19 characters.
    assert gemini.models.count_tokens(model="gpt-count", contents="hello there, friend").total_tokens == 5


def test_gemini_errors_are_in_gemini_shape(gemini, upstream):
    with pytest.raises(genai_errors.ClientError) as error:
        gemini.models.generate_content(model="nobody-serves-this", contents="hi")
    assert error.value.code == 404 and "`nobody-serves-this`" in error.value.message
    upstream.script("claude-g-429", Reply.json({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}}, 429))
    with pytest.raises(genai_errors.ClientError) as error:
        gemini.models.generate_content(model="claude-g-429", contents="hi")
    assert error.value.code == 429 and error.value.status == "RESOURCE_EXHAUSTED" and "Slow down" in error.value.message


def test_gemini_mock_and_model_list(gemini):
    response = gemini.models.generate_content(model="mock-g", contents="gemini echo")
    assert response.text == "gemini echo"
    names = [m.name for m in gemini.models.list()]
    assert "models/fast" in names


def test_json_output_reaches_gemini_from_a_responses_client(chat, upstream):
    upstream.script("gemini-json", Reply(body=[wire("gemini-text.vercel.json")]))
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    chat.responses.create(model="gemini-json", input="answer as JSON",
                          text={"format": {"type": "json_schema", "name": "answer", "schema": schema}})
    config = upstream.last("gemini-json").body["generationConfig"]
    assert (config["responseMimeType"], config["responseJsonSchema"]) == ("application/json", schema)
