import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from upstream import FakeUpstream
from worker import Worker

CLIENT_KEY = "client-key-for-tests"
OPENAI_KEY = "sk-upstream-openai-secret"
GEMINI_KEY = "upstream-gemini-secret"
ANTHROPIC_KEY = "sk-upstream-anthropic-secret"
MAX_BODY_BYTES = 1 << 20


def routing_config(port: int) -> dict:
    return {
        "backends": [
            {"name": "openai", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/openai/v1",
             "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"], "headers": {"x-static": "from-config"}},
            {"name": "anthropic", "kind": "anthropic", "base_url": f"http://127.0.0.1:{port}/anthropic",
             "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
            {"name": "responses", "kind": "openresponses", "base_url": f"http://127.0.0.1:{port}/responses-api/v1",
             "api_key_env": "OPENAI_API_KEY", "models": ["resp-*"]},
            {"name": "gemini", "kind": "gemini", "base_url": f"http://127.0.0.1:{port}/gemini-api",
             "api_key_env": "GEMINI_API_KEY", "models": ["gemini-*"]},
            {"name": "compat", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/compat/v1",
             "models": ["local/**"], "max_tokens_field": "max_tokens"},
            {"name": "mock", "kind": "mock", "models": ["mock-*"]},
        ],
        "aliases": {"fast": "gpt-alias-target", "sonnet": "claude-alias-target"},
    }


@pytest.fixture(scope="session")
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="session")
def worker(upstream):
    w = Worker(
        vars={
            "LLMPROXY_API_KEY": f"another-key, {CLIENT_KEY}",
            "OPENAI_API_KEY": OPENAI_KEY,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "GEMINI_API_KEY": GEMINI_KEY,
            "LLMPROXY_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "LLMPROXY_CONFIG_TTL_SECONDS": "0",
        },
        config=routing_config(upstream.port),
    ).start()
    yield w
    w.stop()


@pytest.fixture
def chat(worker):
    return openai.OpenAI(base_url=worker.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def gemini(worker):
    return genai.Client(api_key=CLIENT_KEY, http_options=genai_types.HttpOptions(base_url=worker.url, timeout=20000))


@pytest.fixture
def claude(worker):
    return anthropic.Anthropic(base_url=worker.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
