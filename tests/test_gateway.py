"""A team gateway under `wrangler dev`, with its real Durable Objects and local D1 database: keys
issued and revoked with `scripts/keys`, and the official SDKs using them — served within their
limits, and told in their own error types when past them."""

import json
import os
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

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


# What a litellm wheel holds of its price list (USD per token), in its own shape: two models the
# table keeps, and entries it must leave out (another provider, an embedding model, a prefixed
# duplicate).
LITELLM_PRICES = {
    "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0, "mode": "chat"},
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06,
               "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06},
    "anthropic/claude-x": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 3e-06,
                           "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06},
    "claude-x": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 9e-06,
                 "output_cost_per_token": 9e-05},
    "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08,
                               "output_cost_per_token": 0},
    "bedrock/claude-y": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 1e-06,
                         "output_cost_per_token": 1e-06},
}


def generated_config(base: dict) -> dict:
    """`base` with the price table scripts/prices makes of a litellm wheel."""
    scratch = Path(tempfile.mkdtemp(prefix="llmproxy-prices-"))
    wheel = scratch / "litellm-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("litellm/model_prices_and_context_window_backup.json", json.dumps(LITELLM_PRICES))
        archive.writestr("litellm-0.0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: litellm\nVersion: 0.0.1\n")
    (scratch / "config.json").write_text(json.dumps(base))
    done = subprocess.run([str(ROOT / "scripts" / "prices"), "--wheel", str(wheel), "--into", str(scratch / "config.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_price_table_is_made_from_litellms_list_with_its_attribution():
    config = generated_config({"backends": []})
    assert config["prices"] == {
        "claude-x": {"input": 3.0, "output": 15.0, "cache_write": 3.75},
        "gpt-4o": {"input": 2.5, "output": 10.0, "cache_read": 1.25},
    }, "chat models of the default providers only, under their unprefixed names, the first one seen"
    assert config["price_source"].startswith("litellm 0.0.1 (")
    assert "MIT License" in config["price_source"] and config["backends"] == []


@pytest.fixture(scope="module")
def gateway(gateway_upstream):
    port = gateway_upstream.port
    config = generated_config({
        "backends": [
            {"name": "openai", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/openai/v1",
             "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"]},
            {"name": "anthropic", "kind": "anthropic", "base_url": f"http://127.0.0.1:{port}/anthropic",
             "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
        ],
    })
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
    assert totals["price_source"].startswith("litellm 0.0.1")
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
