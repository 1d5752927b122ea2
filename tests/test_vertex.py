"""Vertex AI: Claude and Gemini models behind a service account whose JWT the worker signs with
WebCrypto; the fake token endpoint checks every JWT's signature and claims."""

import json
import threading
import time
import urllib.request

import anthropic
import pytest

import recorded
from conftest import CLIENT_KEY
from test_matrix import ASK
from upstream import Reply, jwt_parts, verify_jwt, wire

VERTEX = "/vertex/v1/projects/my-proj/locations/us-east5/publishers"
CLAUDE_STREAM = "anthropic-tool-use.sdkpy.sse"
GEMINI_STREAM = "gemini-functioncall-thoughtsig.vercel.chunks.jsonl"


def bearer(seen) -> str:
    auth = seen.headers["authorization"]
    assert auth.startswith("Bearer ")
    return auth[len("Bearer "):]


def test_claude_on_vertex_gets_its_url_body_and_token(claude, upstream):
    upstream.script("claude-v-1@20250929", Reply.sse(wire(CLAUDE_STREAM)))
    expected = recorded.anthropic_stream(recorded.sse_payloads(wire(CLAUDE_STREAM)))
    with claude.messages.stream(model="claude-v-1@20250929", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
                                extra_headers={"anthropic-beta": "context-1m-2025-08-07"}) as stream:
        message = stream.get_final_message()
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == expected["tools"]
    sent = upstream.last("claude-v-1@20250929")
    assert sent.path == f"{VERTEX}/anthropic/models/claude-v-1@20250929:streamRawPredict"
    assert "model" not in sent.body and sent.body["anthropic_version"] == "vertex-2023-10-16"
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert bearer(sent).startswith("ya29.main-") and CLIENT_KEY not in json.dumps(sent.headers)


@pytest.mark.parametrize("client", ["chat", "anthropic", "responses", "gemini"])
@pytest.mark.parametrize("model,reply,stream", [
    ("claude-v-text", lambda: Reply(body=[wire("anthropic-text.vercel.json")]), False),
    ("claude-v-tool", lambda: Reply.sse(wire(CLAUDE_STREAM)), True),
    ("gemini-v-text", lambda: Reply(body=[wire("gemini-text.vercel.json")]), False),
    ("gemini-v-tool", lambda: Reply.sse(recorded.gemini_sse(GEMINI_STREAM)), True),
])
def test_every_client_reaches_claude_and_gemini_on_vertex(worker, upstream, client, model, reply, stream):
    model = f"{model}-{client}"
    upstream.script(model, reply())
    seen = ASK[client](worker, model, stream)
    if model.startswith("claude"):
        r = (recorded.anthropic_stream(recorded.sse_payloads(wire(CLAUDE_STREAM))) if stream
             else recorded.anthropic_message(json.loads(wire("anthropic-text.vercel.json"))))
        assert (seen.text, [t for t in seen.tools]) == (r["text"], [(n, a) for _, n, a in r["tools"]])
        method = "streamRawPredict" if stream else "rawPredict"
        path = f"{VERTEX}/anthropic/models/{model}:{method}"
    else:
        if stream:
            assert seen.tools == recorded.gemini_stream(recorded.jsonl(GEMINI_STREAM))["calls"]
        else:
            assert seen.text.startswith("There are **3** r's")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        path = f"{VERTEX}/google/models/{model}:{method}"
    sent = upstream.last(model)
    assert sent.path == path and bearer(sent).startswith("ya29.main-")


def ask_claude(worker, model):
    client = anthropic.Anthropic(base_url=worker.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    return client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_one_token_serves_many_requests(worker, upstream):
    endpoint = upstream.token_endpoints["reuse"]
    for i in range(3):
        upstream.script(f"claude-vr-{i}", Reply(body=[wire("anthropic-text.vercel.json")]))
        ask_claude(worker, f"claude-vr-{i}")
    assert endpoint.exchanges == 1 and not endpoint.problems
    assert {bearer(upstream.last(f"claude-vr-{i}")) for i in range(3)} == {"ya29.reuse-1"}


def test_a_token_is_made_again_before_it_expires_and_serves_until_then(worker, upstream):
    # It lives 301 s, and is replaced 300 s before it expires: after a second it is due. The due
    # token still serves the request that finds it so, which has the next one made meanwhile.
    endpoint = upstream.token_endpoints["short"]
    for i in (1, 2, 3):
        upstream.script(f"claude-vs-{i}", Reply(body=[wire("anthropic-text.vercel.json")]))
    ask_claude(worker, "claude-vs-1")
    time.sleep(1.5)
    ask_claude(worker, "claude-vs-2")
    # Requests after it get the new token once it is filed; meanwhile they too get the old one,
    # and none makes a token of its own.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ask_claude(worker, "claude-vs-3")
        if bearer(upstream.last("claude-vs-3")) != "ya29.short-1":
            break
        time.sleep(0.05)
    assert endpoint.exchanges == 2 and not endpoint.problems
    assert [bearer(upstream.last(f"claude-vs-{i}")) for i in (1, 2, 3)] == ["ya29.short-1", "ya29.short-1", "ya29.short-2"]


def test_concurrent_requests_share_one_mint(worker, upstream):
    endpoint = upstream.token_endpoints["slow"]
    errors = []

    def ask(i):
        upstream.script(f"claude-vf-{i}", Reply(body=[wire("anthropic-text.vercel.json")]))
        try:
            ask_claude(worker, f"claude-vf-{i}")
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and endpoint.exchanges == 1
    assert {bearer(upstream.last(f"claude-vf-{i}")) for i in range(5)} == {"ya29.slow-1"}


def test_a_refused_exchange_is_a_502_with_the_reason_and_is_not_kept(claude, upstream):
    endpoint = upstream.token_endpoints["fail"]
    for attempt in (1, 2):
        with pytest.raises(anthropic.APIStatusError) as error:
            claude.messages.create(model="claude-vx-1", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert error.value.status_code == 502
        assert "Invalid JWT Signature." in error.value.message
        assert endpoint.exchanges == attempt, "a failed exchange is not cached"
    assert not upstream.requests_for("claude-vx-1"), "Vertex is not called without a token"


def test_a_malformed_key_is_named_and_never_echoed(claude):
    with pytest.raises(anthropic.InternalServerError) as error:
        claude.messages.create(model="claude-vb-1", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert "VERTEX_SA_BAD" in error.value.message and "`private_key`" in error.value.message
    assert "SECRET-MATERIAL" not in json.dumps(error.value.body)


def test_self_signed_jwt_is_the_bearer(claude, upstream, vertex_key):
    key, _ = vertex_key
    upstream.script("claude-vj-1", Reply(body=[wire("anthropic-text.vercel.json")]))
    claude.messages.create(model="claude-vj-1", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    header, claims = verify_jwt(bearer(upstream.last("claude-vj-1")), key.public_key())
    assert header["kid"] == "kid-test"
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        "proxy@my-proj.iam.gserviceaccount.com", "proxy@my-proj.iam.gserviceaccount.com", "https://aiplatform.googleapis.com/")
    assert claims["exp"] - claims["iat"] <= 3600


def test_claude_token_counting_on_vertex(claude, upstream):
    # Vertex's count endpoint is shared by all Claude models: the body names the model.
    upstream.script("claude-v-count", Reply.json({"input_tokens": 17}))
    counted = claude.messages.count_tokens(model="claude-v-count", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens == 17
    sent = upstream.last("claude-v-count")
    assert sent.path == f"{VERTEX}/anthropic/models/count-tokens:rawPredict"
    assert sent.body["model"] == "claude-v-count" and sent.body["anthropic_version"] == "vertex-2023-10-16"


def vertex_client_post(worker, path, body, stream):
    request = urllib.request.Request(worker.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"})
    with urllib.request.urlopen(request, timeout=20) as response:
        data = response.read()
    return recorded.sse_payloads(data) if stream else json.loads(data)


def test_vertex_shaped_client_paths_route_by_model(worker, upstream):
    # Claude Code with CLAUDE_CODE_USE_VERTEX and its base URL pointed at the proxy.
    captured = json.loads((recorded.WIRE.parent / "captures" / "claude-vertex-stream.json").read_text())
    upstream.script("claude-t-vertex-path", Reply.sse(wire(CLAUDE_STREAM)))
    path = "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-t-vertex-path:streamRawPredict"
    events = vertex_client_post(worker, path, captured["body"], True)
    assert recorded.anthropic_stream(events)["tools"] == recorded.anthropic_stream(recorded.sse_payloads(wire(CLAUDE_STREAM)))["tools"]
    sent = upstream.last("claude-t-vertex-path")
    assert sent.path == "/anthropic/v1/messages" and sent.body["model"] == "claude-t-vertex-path"
    assert "anthropic_version" not in sent.body, "Anthropic's own API takes the version as a header"

    # The same Claude Code request, routed to a Chat backend instead.
    upstream.script("gpt-t-vertex-path", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    path = path.replace("claude-t-vertex-path", "gpt-t-vertex-path")
    events = vertex_client_post(worker, path, captured["body"], True)
    assert events[-1]["type"] == "message_stop"
    assert upstream.last("gpt-t-vertex-path").path == "/openai/v1/chat/completions"

    # A Gemini client set up for Vertex.
    upstream.script("gemini-v-path", Reply(body=[wire("gemini-text.vercel.json")]))
    answer = vertex_client_post(worker, "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-v-path:generateContent",
                                {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, False)
    assert answer["candidates"][0]["content"]["parts"][0]["text"].startswith("There are **3** r's")
    assert upstream.last("gemini-v-path").path == f"{VERTEX}/google/models/gemini-v-path:generateContent"
