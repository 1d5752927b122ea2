"""Every failure reaches the client in its own dialect, with the right status."""

import json
import threading
import urllib.request

import anthropic
import openai
import pytest

from conftest import CLIENT_KEY, MAX_BODY_BYTES
from upstream import Reply, wire


def post(worker, path, body: bytes, headers=None):
    request = urllib.request.Request(worker.url + path, data=body, method="POST",
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def test_malformed_json_is_a_400_in_each_dialect(worker):
    status, body = post(worker, "/v1/chat/completions", b"{not json", AUTH)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in body["error"]["message"]
    status, body = post(worker, "/v1/messages", b"[1,", AUTH)
    assert status == 400 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_a_404_naming_it(chat, claude):
    with pytest.raises(openai.NotFoundError) as error:
        chat.chat.completions.create(model="nobody-serves-this", messages=[{"role": "user", "content": "hi"}])
    assert "`nobody-serves-this`" in error.value.message
    with pytest.raises(anthropic.NotFoundError) as error:
        claude.messages.create(model="nobody-serves-this", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert error.value.body["error"]["type"] == "not_found_error"
    assert "`nobody-serves-this`" in error.value.message


def test_body_too_large_is_a_413(chat, claude):
    huge = "x" * (MAX_BODY_BYTES + 10)
    with pytest.raises(openai.APIStatusError) as error:
        chat.chat.completions.create(model="mock-big", messages=[{"role": "user", "content": huge}])
    assert error.value.status_code == 413 and "larger than" in error.value.message
    with pytest.raises(anthropic.APIStatusError) as error:
        claude.messages.create(model="mock-big", max_tokens=5, messages=[{"role": "user", "content": huge}])
    assert error.value.status_code == 413 and error.value.body["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("headers,query", [
    ({"authorization": f"Bearer {CLIENT_KEY}"}, ""),
    ({"x-api-key": CLIENT_KEY}, ""),
    ({"x-goog-api-key": CLIENT_KEY}, ""),
    ({}, f"?key={CLIENT_KEY}"),
])
def test_every_sdk_way_of_sending_the_key_is_accepted(worker, headers, query):
    body = json.dumps({"model": "mock-auth", "messages": [{"role": "user", "content": "ok"}]}).encode()
    status, answer = post(worker, "/v1/chat/completions" + query, body, headers)
    assert status == 200 and answer["choices"][0]["message"]["content"] == "ok"


def test_missing_or_wrong_key_is_a_401_in_each_dialect(worker):
    body = json.dumps({"model": "mock-auth", "max_tokens": 5, "messages": [{"role": "user", "content": "ok"}]}).encode()
    status, answer = post(worker, "/v1/chat/completions", body)
    assert status == 401 and answer["error"]["type"] == "authentication_error"
    status, answer = post(worker, "/v1/messages", body, {"x-api-key": "wrong"})
    assert status == 401 and answer["error"]["type"] == "authentication_error" and answer["type"] == "error"
    wrong = openai.OpenAI(base_url=worker.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_health_and_head_need_no_key(worker):
    with urllib.request.urlopen(worker.url + "/healthz", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(urllib.request.Request(worker.url + "/", method="HEAD"), timeout=10) as response:
        assert response.status == 200


def test_upstream_errors_keep_status_and_message_across_dialects(chat, claude, upstream):
    upstream.script("claude-t-429", Reply.json(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}}, 429))
    with pytest.raises(openai.RateLimitError) as error:
        chat.chat.completions.create(model="claude-t-429", messages=[{"role": "user", "content": "hi"}])
    assert "Number of requests has exceeded your rate limit" in error.value.message
    assert error.value.body["type"] == "rate_limit_error"

    upstream.script("gpt-t-500", Reply.json({"error": {"message": "The server had an error", "type": "server_error"}}, 500))
    with pytest.raises(anthropic.InternalServerError) as error:
        claude.messages.create(model="gpt-t-500", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert "The server had an error" in error.value.message and error.value.status_code == 500

    upstream.script("claude-t-529", Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529))
    with pytest.raises(anthropic.APIStatusError) as error:
        claude.messages.create(model="claude-t-529", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert error.value.status_code == 529 and error.value.body["error"]["message"] == "Overloaded"


def first_events(raw: bytes, marker: bytes) -> list[bytes]:
    """The recording's events up to and including the first one containing `marker`."""
    events = Reply.sse(raw).body
    cut = next(i for i, e in enumerate(events) if marker in e)
    return events[: cut + 1]


def test_connection_lost_mid_stream_raises_in_a_translated_stream(chat, claude, upstream):
    upstream.script("claude-t-cut", Reply(body=first_events(wire("anthropic-tool-use.sdkpy.sse"), b"text_delta"),
                                          content_type="text/event-stream", cut=True))
    stream = chat.chat.completions.create(model="claude-t-cut", messages=[{"role": "user", "content": "hi"}], stream=True)
    with pytest.raises(openai.APIError) as error:
        for _ in stream:
            pass
    assert "upstream" in error.value.message

    upstream.script("gpt-t-cut", Reply(body=first_events(wire("openai-chat-tool.sdkpy.sse"), b"arguments"),
                                       content_type="text/event-stream", cut=True))
    with pytest.raises(anthropic.APIStatusError) as error:
        with claude.messages.stream(model="gpt-t-cut", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as s:
            s.get_final_message()
    assert "upstream" in str(error.value)


def test_stream_ending_early_raises_on_a_passthrough(chat, claude, upstream):
    # The upstream closes cleanly, but before the answer's end marker.
    upstream.script("gpt-t-short", Reply(body=first_events(wire("openai-chat-tool.sdkpy.sse"), b"arguments"),
                                         content_type="text/event-stream"))
    with pytest.raises(openai.APIError) as error:
        for _ in chat.chat.completions.create(model="gpt-t-short", messages=[{"role": "user", "content": "hi"}], stream=True):
            pass
    assert "ended before the answer was complete" in error.value.message

    upstream.script("claude-t-short", Reply(body=first_events(wire("anthropic-tool-use.sdkpy.sse"), b"input_json_delta"),
                                            content_type="text/event-stream"))
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model="claude-t-short", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as s:
            s.get_final_message()


def test_upstream_error_event_becomes_the_clients_error(chat, upstream):
    events = first_events(wire("anthropic-tool-use.sdkpy.sse"), b"text_delta")
    events.append(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
    upstream.script("claude-t-error-event", Reply(body=events, content_type="text/event-stream"))
    received = []
    with pytest.raises(openai.APIError) as error:
        for chunk in chat.chat.completions.create(model="claude-t-error-event", messages=[{"role": "user", "content": "hi"}], stream=True):
            received.extend(c.delta.content for c in chunk.choices if c.delta.content)
    assert error.value.message == "Overloaded"
    assert received == ["I"], "what came before the failure was delivered"


@pytest.mark.parametrize("model", ["claude-t-gated", "gpt-t-gated"])
def test_first_event_reaches_the_client_before_the_upstream_finishes(claude, upstream, model):
    recording = "anthropic-tool-use.sdkpy.sse" if model.startswith("claude") else "openai-chat-tool.sdkpy.sse"
    gate = threading.Event()
    # The upstream sends its first events, then waits until the client has seen one.
    reply = Reply.sse(wire(recording), gate=gate, gate_at=2)
    upstream.script(model, reply)
    try:
        with claude.messages.stream(model=model, max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as stream:
            first = next(iter(stream))
            assert not gate.is_set()
            gate.set()
            message = stream.get_final_message()
    finally:
        gate.set()
    assert first.type == "message_start"
    assert reply.gate_opened is True, "the client saw the first event while the upstream was still waiting"
    assert message.stop_reason == "tool_use"
