"""A team gateway under `wrangler dev`, with its real Durable Objects and local D1 database: keys
issued and revoked with `scripts/keys`, and the official SDKs using them — served within their
limits, and told in their own error types when past them."""

import json
import os
import subprocess
import time

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from upstream import FakeUpstream, Reply, wire
from worker import ROOT, Worker

ADMIN_KEY = "admin-key-for-gateway-tests"
CLIENT_KEY = "static-client-key"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gateway_upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(gateway_upstream):
    port = gateway_upstream.port
    config = {
        "backends": [
            {"name": "openai", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/openai/v1",
             "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"]},
            {"name": "anthropic", "kind": "anthropic", "base_url": f"http://127.0.0.1:{port}/anthropic",
             "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
        ],
        "prices": {"gpt-4o": {"input": 2.5, "output": 10}, "claude-*": {"input": 3, "output": 15}},
    }
    w = Worker(vars={
        "LLMPROXY_API_KEY": CLIENT_KEY,
        "LLMPROXY_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_API_KEY": "sk-upstream-openai",
        "ANTHROPIC_API_KEY": "sk-upstream-anthropic",
        "LLMPROXY_CONFIG_TTL_SECONDS": "0",
    }, config=config, gateway=True).start()
    yield w
    w.stop()


def keys(gateway, *args) -> dict:
    """Runs scripts/keys against the gateway; its JSON answer."""
    env = dict(os.environ, LLMPROXY_URL=gateway.url, LLMPROXY_ADMIN_KEY=ADMIN_KEY)
    done = subprocess.run([str(ROOT / "scripts" / "keys"), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def settled(gateway, key_id: str, requests: int) -> dict:
    """The key's usage once `requests` of its requests are settled (settlement follows the answer)."""
    deadline = time.monotonic() + 10
    while True:
        usage = keys(gateway, "show", key_id)["usage"]
        if usage["requests_last_minute"] >= requests and usage["unsettled"] == 0:
            return usage
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)


def test_sdks_use_an_issued_key_within_its_limits_and_get_their_own_errors_past_them(gateway, gateway_upstream):
    gateway_upstream.script("gpt-4o", Reply(body=[wire("openai-chat-text.vercel.json")]))
    gateway_upstream.script("claude-x", Reply(body=[wire("anthropic-text.vercel.json")]))
    created = keys(gateway, "create", "ci-agent", "--models", "gpt-*,claude-*", "--rpm", "3")
    key, key_id = created["key"], created["id"]
    assert key.startswith("sk-llmp-") and created["policy"]["rpm"] == 3
    listed = keys(gateway, "list")["keys"]
    assert any(k["id"] == key_id for k in listed) and key not in json.dumps(listed)

    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)
    raw = chat.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.parse().choices[0].message.content.startswith("**Holiday Name:**")
    assert (raw.headers["x-ratelimit-limit-requests"], raw.headers["x-ratelimit-remaining-requests"]) == ("3", "2")
    assert claude.messages.create(model="claude-x", max_tokens=50, messages=MESSAGES).content[0].text
    with pytest.raises(openai.PermissionDeniedError, match="may not use the model `gemini-x`"):
        chat.chat.completions.create(model="gemini-x", messages=MESSAGES)
    assert chat.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content

    with pytest.raises(openai.RateLimitError) as limited:
        chat.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-x", max_tokens=50, messages=MESSAGES)
    gemini = genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=gateway.url, timeout=20000))
    with pytest.raises(genai_errors.ClientError) as exhausted:
        gemini.models.generate_content(model="gpt-4o", contents="hi")
    assert (exhausted.value.code, exhausted.value.status) == (429, "RESOURCE_EXHAUSTED")

    usage = settled(gateway, key_id, 3)
    # 16 + 363 twice (the OpenAI recording), 12 + 29 (Anthropic's).
    assert usage["tokens_last_minute"] == 2 * (16 + 363) + 12 + 29
    expected = 2 * (16 * 2.5 + 363 * 10) / 1e6 + (12 * 3 + 29 * 15) / 1e6
    assert abs(usage["spent_usd"] - expected) < 1e-12
    totals = keys(gateway, "usage", "--key", key_id, "--group", "model")
    assert totals["totals"]["requests"] == 7, totals
    assert {g["grp"]: g["requests"] for g in totals["groups"]} == {"gpt-4o": 4, "claude-x": 2, "gemini-x": 1}

    keys(gateway, "revoke", key_id)
    with pytest.raises(openai.AuthenticationError):
        chat.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_a_chat_stream_is_metered_without_the_client_asking_for_usage(gateway, gateway_upstream):
    gateway_upstream.script("gpt-4o", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    created = keys(gateway, "create", "streamer", "--tpm", "100000")
    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key=created["key"], max_retries=0, timeout=20)
    chunks = list(chat.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks and all(chunk.choices for chunk in chunks), "no usage chunk the client did not ask for"
    assert chunks[-1].usage is None
    sent = gateway_upstream.last("gpt-4o").body
    assert sent["stream_options"] == {"include_usage": True}, "the proxy asked for it"
    assert settled(gateway, created["id"], 1)["tokens_last_minute"] == 44 + 16


def test_a_spent_budget_is_a_402_the_sdks_do_not_retry(gateway, gateway_upstream):
    gateway_upstream.script("gpt-4o", Reply(body=[wire("openai-chat-text.vercel.json")]))
    created = keys(gateway, "create", "thrifty", "--budget", "0.001", "--period", "month")
    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key=created["key"], max_retries=2, timeout=20)
    chat.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
    settled(gateway, created["id"], 1)
    before = len(gateway_upstream.requests_for("gpt-4o"))
    with pytest.raises(openai.APIStatusError) as spent:
        chat.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
    assert spent.value.status_code == 402 and spent.value.code == "budget_exceeded"
    assert "budget for this month" in spent.value.message
    assert len(gateway_upstream.requests_for("gpt-4o")) == before
    # The static keys stay unrestricted.
    static = openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    assert static.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content
