"""A route whose first target fails before any content: every client's SDK sees the second target's
answer, streamed or not, as if nothing had failed."""

import pytest

from upstream import Reply, wire

OVERLOADED = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'


@pytest.mark.parametrize("failure,streamed", [("status", False), ("status", True), ("in-band", True)])
def test_every_sdk_gets_the_fallbacks_answer(chat, claude, gemini, upstream, failure, streamed):
    if failure == "status":
        upstream.script("claude-res-first", Reply(status=529, body=[OVERLOADED]))
    else:
        start = wire("anthropic-tool-use.sdkpy.sse").split(b"\n\n")[0] + b"\n\n"
        upstream.script("claude-res-first", Reply.sse(start + b"event: error\ndata: " + OVERLOADED + b"\n\n"))
    if streamed:
        upstream.script("gpt-res-second", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    else:
        upstream.script("gpt-res-second", Reply(body=[wire("openai-chat-text.vercel.json")]))
    messages = [{"role": "user", "content": "hi"}]
    if streamed:
        with chat.chat.completions.stream(model="res-chain", messages=messages) as stream:
            completion = stream.get_final_completion()
        assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
        with claude.messages.stream(model="res-chain", max_tokens=50, messages=messages) as stream:
            message = stream.get_final_message()
        assert [b.name for b in message.content if b.type == "tool_use"] == ["get_weather"]
        chunks = list(gemini.models.generate_content_stream(model="res-chain", contents="hi"))
        calls = [p.function_call.name for c in chunks for p in c.candidates[0].content.parts if p.function_call]
        assert calls == ["get_weather"]
    else:
        completion = chat.chat.completions.create(model="res-chain", messages=messages)
        assert completion.choices[0].message.content.startswith("**Holiday Name:**")
        raw = claude.messages.with_raw_response.create(model="res-chain", max_tokens=50, messages=messages)
        assert raw.parse().content[0].text.startswith("**Holiday Name:**")
        assert (raw.headers["x-llmproxy-backend"], raw.headers["x-llmproxy-attempts"]) == ("openai", "2")
        response = gemini.models.generate_content(model="res-chain", contents="hi")
        assert response.text.startswith("**Holiday Name:**")
    assert upstream.requests_for("claude-res-first"), "the first target was tried"
