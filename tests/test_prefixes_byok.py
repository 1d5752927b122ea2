"""The official SDKs pointed at the worker as other proxies' users configure them: base URLs with
vendor prefixes (`/openai/v1`, `/anthropic`, `/gemini`), each user's own vendor key as the SDK's
API key (`byok` backends) with the proxy's key in `x-llmproxy-key`, and a route that rewrites the
system prompt."""

import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from conftest import CLIENT_KEY
from upstream import Reply
from worker import Worker

OWN_OPENAI = "sk-own-openai-key-of-a-user-1234"
OWN_ANTHROPIC = "sk-ant-own-key-of-a-user-5678"
OWN_GEMINI = "own-gemini-key-of-a-user-9012"
PROXY = {"x-llmproxy-key": CLIENT_KEY}


@pytest.fixture(scope="module")
def byok_worker(upstream):
    base = f"http://127.0.0.1:{upstream.port}"
    config = {
        "backends": [
            {"name": "own-openai", "kind": "openai", "base_url": f"{base}/own-openai/v1", "byok": True, "models": ["byok-gpt-*"]},
            {"name": "own-claude", "kind": "anthropic", "base_url": f"{base}/own-claude", "byok": True, "models": ["byok-claude-*"]},
            {"name": "own-gemini", "kind": "gemini", "base_url": f"{base}/own-gemini", "byok": True, "models": ["byok-gemini-*"]},
        ],
        "aliases": {"team": "byok-claude-team"},
        "routes": {"byok-claude-team": {"targets": [{"backend": "own-claude"}], "system_prompt": {
            "replace": [{"find": "Claude Code", "replace": "the team agent"}], "append": "Answer in French."}}},
    }
    w = Worker(vars={"LLMPROXY_API_KEY": CLIENT_KEY, "LLMPROXY_CONFIG_TTL_SECONDS": "0"}, config=config).start()
    yield w
    w.stop()


def chat_answer(text: str) -> Reply:
    return Reply.json({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def claude_answer(text: str) -> Reply:
    return Reply.json({"id": "msg", "type": "message", "role": "assistant", "model": "m", "content": [{"type": "text", "text": text}],
                       "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}})


def test_openai_sdk_under_openai_v1_with_its_users_own_key(byok_worker, upstream):
    client = openai.OpenAI(base_url=byok_worker.url + "/openai/v1", api_key=OWN_OPENAI, default_headers=PROXY, max_retries=0)
    upstream.script("byok-gpt-sdk", chat_answer("own key"))
    answer = client.chat.completions.create(model="byok-gpt-sdk", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "own key"
    sent = upstream.last("byok-gpt-sdk")
    assert sent.path == "/own-openai/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OWN_OPENAI}"
    assert CLIENT_KEY not in json.dumps(sent.headers) and "x-llmproxy-key" not in sent.headers
    assert [model.id for model in client.models.list()] == ["team"]


def test_openai_sdk_without_its_own_key_raises_its_authentication_error(byok_worker, upstream):
    before = len(upstream.requests_for("byok-gpt-none"))
    # The proxy's key as the SDK's key: nobody's own key, and never sent on.
    client = openai.OpenAI(base_url=byok_worker.url + "/openai/v1", api_key=CLIENT_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="byok-gpt-none", messages=[{"role": "user", "content": "hi"}])
    assert "takes your own key" in raised.value.message
    assert len(upstream.requests_for("byok-gpt-none")) == before


def test_anthropic_sdk_under_anthropic_with_its_own_key_and_a_rewritten_system_prompt(byok_worker, upstream):
    client = anthropic.Anthropic(base_url=byok_worker.url + "/anthropic", api_key=OWN_ANTHROPIC, default_headers=PROXY, max_retries=0)
    upstream.script("byok-claude-team", claude_answer("bonjour"))
    answer = client.messages.create(model="byok-claude-team", max_tokens=10, system="You are Claude Code.",
                                    messages=[{"role": "user", "content": "hi"}])
    assert answer.content[0].text == "bonjour"
    sent = upstream.last("byok-claude-team")
    assert sent.path == "/own-claude/v1/messages"
    assert sent.headers["x-api-key"] == OWN_ANTHROPIC and CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.body["system"] == "You are the team agent.\n\nAnswer in French."
    assert sent.body["messages"] == [{"role": "user", "content": "hi"}]


def test_anthropic_sdk_gets_the_backends_refusal_of_its_key_redacted(byok_worker, upstream):
    bad = "sk-ant-bad-key-of-a-user-0000"
    upstream.script("byok-claude-bad", Reply.json({"type": "error", "error": {
        "type": "authentication_error", "message": f"invalid x-api-key {bad}"}}, 401))
    client = anthropic.Anthropic(base_url=byok_worker.url + "/anthropic", api_key=bad, default_headers=PROXY, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model="byok-claude-bad", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert bad not in str(raised.value) and "[redacted]" in str(raised.value)


def test_google_genai_under_gemini_with_its_own_key(byok_worker, upstream):
    client = genai.Client(api_key=OWN_GEMINI, http_options=genai_types.HttpOptions(
        base_url=byok_worker.url + "/gemini", headers=PROXY, timeout=20000))
    upstream.script("byok-gemini-sdk", Reply.json({"candidates": [{"content": {"role": "model", "parts": [{"text": "own gemini"}]},
                                                                   "finishReason": "STOP"}]}))
    assert client.models.generate_content(model="byok-gemini-sdk", contents="hi").text == "own gemini"
    sent = upstream.last("byok-gemini-sdk")
    assert sent.path == "/own-gemini/v1beta/models/byok-gemini-sdk:generateContent"
    assert sent.headers["x-goog-api-key"] == OWN_GEMINI and CLIENT_KEY not in json.dumps(sent.headers)
    # Without the proxy's key apart, the SDK's key is taken for the proxy's, and refused.
    stranger = genai.Client(api_key=OWN_GEMINI, http_options=genai_types.HttpOptions(base_url=byok_worker.url + "/gemini"))
    with pytest.raises(genai_errors.ClientError) as raised:
        stranger.models.generate_content(model="byok-gemini-sdk", contents="hi")
    assert raised.value.code == 401
