"""AWS Bedrock: Claude through InvokeModel and other models through Converse, every call signed with SigV4 (the fake upstream
recomputes each signature as AWS does and refuses a wrong one) or keyed with a Bedrock API key;
its event-stream answers read at any chunk boundary; and Bedrock's own clients — Anthropic's
Bedrock SDK, Claude Code's Bedrock mode — served by any backend."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import anthropic
import openai
import pytest

import recorded
from conftest import (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, BEDROCK_API_KEY, CLIENT_KEY)
from test_agents import capture
from test_matrix import ASK, CLIENTS
from upstream import Reply, decode_eventstream, eventstream_event, eventstream_exception, invoke_stream, wire

CLAUDE_STREAM = "anthropic-tool-use.sdkpy.sse"
CLAUDE_TEXT = "anthropic-text.vercel.json"
EVENTSTREAM = "application/vnd.amazon.eventstream"


def invoke_path(base: str, model: str, stream: bool) -> str:
    method = "invoke-with-response-stream" if stream else "invoke"
    return f"{base}/model/{urllib.parse.quote(model, safe='')}/{method}"


def claude_reply(stream: bool, pieces: int = 1) -> Reply:
    if not stream:
        return Reply(body=[wire(CLAUDE_TEXT)])
    frames = b"".join(invoke_stream(wire(CLAUDE_STREAM)))
    # Frames split at arbitrary places, not at message boundaries.
    size = -(-len(frames) // pieces)
    return Reply(body=[frames[i:i + size] for i in range(0, len(frames), size)], content_type=EVENTSTREAM)


def expected_claude(stream: bool) -> dict:
    if stream:
        return recorded.anthropic_stream(recorded.sse_payloads(wire(CLAUDE_STREAM)))
    return recorded.anthropic_message(json.loads(wire(CLAUDE_TEXT)))


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [False, True])
def test_every_client_reaches_claude_on_bedrock_signed(worker, upstream, client, stream):
    model = f"us.anthropic.claude-b-{client}-{int(stream)}-v1:0"
    upstream.script(model, claude_reply(stream, pieces=7))
    seen = ASK[client](worker, model, stream)
    expected = expected_claude(stream)
    assert (seen.text, seen.tools) == (expected["text"], [(n, a) for _, n, a in expected["tools"]])
    sent = upstream.last(model)
    assert sent.path == invoke_path("/bedrock", model, stream)
    assert sent.body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in sent.body and "stream" not in sent.body
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/") and "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == AWS_SESSION_TOKEN
    assert not upstream.signature_problems
    assert AWS_SECRET_ACCESS_KEY not in json.dumps(sent.headers) and CLIENT_KEY not in json.dumps(sent.headers)


def converse_stream(name: str) -> list[bytes]:
    """A recorded ConverseStream (one `{"<event type>": payload}` a line) as Bedrock sends it:
    one event-stream message per event."""
    return [eventstream_event(kind, json.dumps(payload).encode())
            for line in wire(name).decode().splitlines() if line.strip()
            for kind, payload in json.loads(line).items()]


def converse_text(name: str) -> str:
    if name.endswith(".json"):
        return "".join(b.get("text", "") for b in json.loads(wire(name))["output"]["message"]["content"])
    events = [json.loads(line) for line in wire(name).decode().splitlines() if line.strip()]
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [False, True])
def test_every_client_reaches_a_converse_model_on_bedrock(worker, upstream, client, stream):
    model = f"amazon.nova-b-{client}-{int(stream)}-v1:0"
    name = "bedrock-text.vercel.chunks.jsonl" if stream else "bedrock-text.vercel.json"
    if stream:
        frames = b"".join(converse_stream(name))
        reply = Reply(body=[frames[i:i + 97] for i in range(0, len(frames), 97)], content_type=EVENTSTREAM)
    else:
        reply = Reply(body=[wire(name)])
    upstream.script(model, reply)
    seen = ASK[client](worker, model, stream)
    assert seen.text == converse_text(name)
    sent = upstream.last(model)
    method = "converse-stream" if stream else "converse"
    assert sent.path == f"/bedrock/model/{urllib.parse.quote(model, safe='')}/{method}"
    assert sent.body["messages"][0]["role"] == "user" and "model" not in sent.body
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/")
    assert not upstream.signature_problems


def test_a_converse_client_gets_event_stream_events_from_a_chat_backend(worker, upstream):
    upstream.script("gpt-bc-converse", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    body = {"messages": [{"role": "user", "content": [{"text": "weather?"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}}
    request = urllib.request.Request(worker.url + "/model/gpt-bc-converse/converse-stream", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["content-type"] == EVENTSTREAM
        messages = decode_eventstream(response.read())
    kinds = [h[":event-type"] for h, _ in messages]
    assert kinds[0] == "messageStart" and "contentBlockDelta" in kinds and kinds[-1] == "metadata", kinds
    stop = next(json.loads(p) for h, p in messages if h[":event-type"] == "messageStop")
    assert stop["stopReason"] == "tool_use"
    tool = next(json.loads(p) for h, p in messages if h[":event-type"] == "contentBlockStart")
    assert tool["start"]["toolUse"]["name"] == recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-tool.sdkpy.sse")))["tools"][0][1]
    assert upstream.last("gpt-bc-converse").path == "/openai/v1/chat/completions"


def test_betas_move_into_the_body(worker, upstream):
    model = "anthropic.claude-b-beta-v1:0"
    upstream.script(model, claude_reply(False))
    client = anthropic.Anthropic(base_url=worker.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}],
                           extra_headers={"anthropic-beta": "context-1m-2025-08-07,interleaved-thinking-2025-05-14"})
    sent = upstream.last(model)
    assert sent.body["anthropic_beta"] == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
    assert "anthropic-beta" not in sent.headers


def test_a_bedrock_api_key_is_a_bearer_and_nothing_is_signed(worker, upstream):
    model = "bk.anthropic.claude-b-key-v1:0"
    upstream.script(model, claude_reply(True, pieces=3))
    seen = ASK["chat"](worker, model, True)
    assert seen.text == expected_claude(True)["text"]
    sent = upstream.last(model)
    assert sent.path == invoke_path("/bedrock-key", model, True)
    assert sent.headers["authorization"] == f"Bearer {BEDROCK_API_KEY}"
    assert "x-amz-date" not in sent.headers and "x-amz-security-token" not in sent.headers


def test_an_exception_in_the_stream_fails_the_client_in_its_dialect(worker, upstream):
    model = "anthropic.claude-b-exception-v1:0"
    frames = invoke_stream(wire(CLAUDE_STREAM))
    upstream.script(model, Reply(body=frames[:4] + [eventstream_exception("throttlingException", "Too many tokens, slow down")],
                                 content_type=EVENTSTREAM))
    client = openai.OpenAI(base_url=worker.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    with pytest.raises(openai.APIError) as raised:
        for _ in client.chat.completions.create(model=model, stream=True, messages=[{"role": "user", "content": "hi"}]):
            pass
    assert "slow down" in str(raised.value)


def test_a_corrupted_frame_is_a_failure_not_an_answer(worker, upstream):
    model = "anthropic.claude-b-corrupt-v1:0"
    frames = invoke_stream(wire(CLAUDE_STREAM))
    broken = bytearray(frames[3])
    broken[-6] ^= 0x01  # inside the payload: the message CRC no longer matches
    upstream.script(model, Reply(body=frames[:3] + [bytes(broken)] + frames[4:], content_type=EVENTSTREAM))
    client = anthropic.Anthropic(base_url=worker.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    with pytest.raises(anthropic.APIError) as raised:
        with client.messages.stream(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
            stream.get_final_message()
    assert "CRC" in str(raised.value)


def test_a_wrong_signature_is_refused_by_the_fake_as_by_aws(upstream):
    """The fake's check is real: a request signed with another secret is refused."""
    from aws_signature import verify
    sent = upstream.last("us.anthropic.claude-b-chat-0-v1:0")
    url = f"http://127.0.0.1:{upstream.port}{sent.path}"
    verify("POST", url, sent.headers, sent.raw, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "us-east-1", "bedrock")
    with pytest.raises(AssertionError):
        verify("POST", url, sent.headers, sent.raw, AWS_ACCESS_KEY_ID, "another-secret", "us-east-1", "bedrock")
    with pytest.raises(AssertionError):
        verify("POST", url, sent.headers, sent.raw + b" ", AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "us-east-1", "bedrock")


# --- Bedrock's own clients -------------------------------------------------------------------

def bedrock_sdk(worker) -> anthropic.AnthropicBedrock:
    """Anthropic's Bedrock SDK with the proxy's key as its Bedrock API key (a bearer, as Claude
    Code sends AWS_BEARER_TOKEN_BEDROCK); it reads streams with botocore's event-stream parser."""
    return anthropic.AnthropicBedrock(api_key=CLIENT_KEY, aws_region="us-east-1", base_url=worker.url, max_retries=0,
                                      timeout=20)


@pytest.mark.parametrize("backend_model,reply", [
    ("claude-bc-anthropic", lambda: Reply.sse(wire(CLAUDE_STREAM))),
    ("us.anthropic.claude-bc-bedrock-v1:0", lambda: claude_reply(True, pieces=5)),
])
def test_anthropics_bedrock_sdk_streams_from_any_claude_backend(worker, upstream, backend_model, reply):
    upstream.script(backend_model, reply())
    with bedrock_sdk(worker).messages.stream(model=backend_model, max_tokens=100,
                                             messages=[{"role": "user", "content": "hi"}]) as stream:
        message = stream.get_final_message()
    expected = expected_claude(True)
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == expected["tools"]
    assert message.stop_reason == expected["stop_reason"]
    sent = upstream.last(backend_model)
    if backend_model.startswith("claude-"):
        assert sent.path == "/anthropic/v1/messages"
        assert sent.body["model"] == backend_model and sent.body["stream"] is True
        assert "anthropic_version" not in sent.body


def test_anthropics_bedrock_sdk_reaches_a_chat_backend(worker, upstream):
    upstream.script("gpt-bc-chat", Reply(body=[wire("openai-chat-text.vercel.json")]))
    message = bedrock_sdk(worker).messages.create(model="gpt-bc-chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    chat = recorded.chat_completion(json.loads(wire("openai-chat-text.vercel.json")))
    assert "".join(b.text for b in message.content if b.type == "text") == chat["text"]
    assert upstream.last("gpt-bc-chat").path == "/openai/v1/chat/completions"


def claude_code_bedrock_request(worker, model: str, stream: bool) -> tuple[int, dict, bytes]:
    """A request as Claude Code sends it with CLAUDE_CODE_USE_BEDROCK=1 and
    CLAUDE_CODE_SKIP_BEDROCK_AUTH=1: a captured Claude Code body with the model and `stream` moved
    into the URL and the betas into the body; the proxy key as Claude Code's custom header."""
    captured = capture("claude-code-tool-result.json")
    body = {k: v for k, v in captured["body"].items() if k not in ("model", "stream")}
    body["anthropic_version"] = "bedrock-2023-05-31"
    body["anthropic_beta"] = ["claude-code-20250219", "interleaved-thinking-2025-05-14"]
    request = urllib.request.Request(worker.url + invoke_path("", model, stream), data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json", "x-api-key": CLIENT_KEY}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_claude_code_bedrock_mode_gets_event_stream_chunks(worker, upstream):
    upstream.script("claude-bc-code", Reply.sse(wire(CLAUDE_STREAM)))
    status, headers, raw = claude_code_bedrock_request(worker, "claude-bc-code", True)
    assert status == 200, raw
    assert headers["content-type"] == EVENTSTREAM
    messages = decode_eventstream(raw)
    assert all(h[":event-type"] == "chunk" and h[":message-type"] == "event" for h, _ in messages)
    events = [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for _, payload in messages]
    assert events == recorded.sse_payloads(wire(CLAUDE_STREAM))
    sent = upstream.last("claude-bc-code")
    assert sent.headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    assert "anthropic_beta" not in sent.body and "anthropic_version" not in sent.body and sent.body["stream"] is True


def test_claude_code_bedrock_mode_errors_as_exception_frames(worker, upstream):
    upstream.script("claude-bc-overloaded", Reply(body=[b"event: message_start\ndata: " + json.dumps({
        "type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [],
                                             "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 0}}}).encode()
        + b"\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"],
        content_type="text/event-stream"))
    status, _, raw = claude_code_bedrock_request(worker, "claude-bc-overloaded", True)
    assert status == 200
    headers, payload = decode_eventstream(raw)[-1]
    assert (headers[":message-type"], headers[":exception-type"]) == ("exception", "serviceUnavailableException")
    assert json.loads(payload)["message"] == "Overloaded"
