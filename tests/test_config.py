"""Where the config comes from: KV (re-read after its cache time), or plain vars when KV is empty."""

import json
import urllib.request

import anthropic
import openai
import pytest

from conftest import routing_config
from upstream import Reply, wire
from worker import Worker


@pytest.fixture(scope="module")
def zero_config_worker(upstream):
    w = Worker(vars={"LLMPROXY_BACKEND": "anthropic", "LLMPROXY_BASE_URL": f"http://127.0.0.1:{upstream.port}/zero",
                     "ANTHROPIC_API_KEY": "sk-zero"}).start()
    yield w
    w.stop()


def test_zero_config_routes_every_model_to_the_one_backend(zero_config_worker, upstream):
    upstream.script("any-model-at-all", Reply(body=[wire("anthropic-text.vercel.json")]))
    chat = openai.OpenAI(base_url=zero_config_worker.url + "/v1", api_key="unused", max_retries=0, timeout=20)
    completion = chat.chat.completions.create(model="any-model-at-all", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content.startswith("Hello!")
    sent = upstream.last("any-model-at-all")
    assert sent.path == "/zero/v1/messages" and sent.headers["x-api-key"] == "sk-zero"


def test_bad_config_is_an_error_naming_the_field(upstream):
    config = routing_config(upstream.port)
    config["backends"][1]["kind"] = "antropic"
    w = Worker(config=config).start()
    try:
        client = anthropic.Anthropic(base_url=w.url, api_key="unused", max_retries=0, timeout=20)
        with pytest.raises(anthropic.InternalServerError) as error:
            client.messages.create(model="mock-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert "backends[1]: kind: unknown kind `antropic`" in error.value.message

        # A config that failed to load is not cached: the fix is used by the very next request.
        w.put_config(routing_config(upstream.port))
        answer = client.messages.create(model="mock-x", max_tokens=5, messages=[{"role": "user", "content": "fixed"}])
        assert answer.content[0].text == "fixed"
    finally:
        w.stop()


def test_a_kv_edit_takes_effect_without_a_restart(worker, chat, upstream):
    config = routing_config(upstream.port)
    config["aliases"]["brand-new-alias"] = "mock-live"
    worker.put_config(config)
    try:
        completion = chat.chat.completions.create(model="brand-new-alias", messages=[{"role": "user", "content": "live"}])
        assert completion.choices[0].message.content == "live"
    finally:
        worker.put_config(routing_config(upstream.port))
