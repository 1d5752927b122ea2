import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from upstream import FakeUpstream, TokenEndpoint
from worker import Worker

CLIENT_KEY = "client-key-for-tests"
OPENAI_KEY = "sk-upstream-openai-secret"
GEMINI_KEY = "upstream-gemini-secret"
ANTHROPIC_KEY = "sk-upstream-anthropic-secret"
MAX_BODY_BYTES = 1 << 20
# Bedrock: the SigV4 keys the worker signs with (the fake upstream checks every signature with
# them) and a Bedrock API key.
AWS_ACCESS_KEY_ID = "AKIDPROXYTESTKEY"
AWS_SECRET_ACCESS_KEY = "proxy/test+secret-access-key-0123456789"
AWS_SESSION_TOKEN = "session-token-for-tests-0123456789"
BEDROCK_API_KEY = "bedrock-api-key-for-tests-0123456789"


VERTEX_ACCOUNTS = {
    # name: (models, token endpoint settings)
    "main": (["claude-v-*", "gemini-v-*"], {}),
    "reuse": (["claude-vr-*"], {}),
    "short": (["claude-vs-*"], {"expires_in": 301}),
    "slow": (["claude-vf-*"], {"delay": 1.0}),
    "fail": (["claude-vx-*"], {"refuse": True}),
}


def vertex_backends(port: int) -> list[dict]:
    common = {"kind": "vertex", "project": "my-proj", "location": "us-east5", "base_url": f"http://127.0.0.1:{port}/vertex"}
    backends = [dict(common, name=f"vertex-{name}", models=models, service_account_env=f"VERTEX_SA_{name.upper()}")
                for name, (models, _) in VERTEX_ACCOUNTS.items()]
    backends.append(dict(common, name="vertex-bad", models=["claude-vb-*"], service_account_env="VERTEX_SA_BAD"))
    backends.append(dict(common, name="vertex-self-signed", models=["claude-vj-*", "gemini-vj-*"],
                         service_account_env="VERTEX_SA_MAIN", auth="self_signed_jwt"))
    return backends


@pytest.fixture(scope="session")
def vertex_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key, pem.decode()


def service_account(pem: str, token_uri: str) -> str:
    return json.dumps({"type": "service_account", "project_id": "my-proj", "private_key_id": "kid-test",
                       "private_key": pem, "client_email": "proxy@my-proj.iam.gserviceaccount.com",
                       "client_id": "1", "token_uri": token_uri})


def routing_config(port: int) -> dict:
    return {
        "backends": vertex_backends(port) + [
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
            # OpenAI-compatible servers with their quirks (tests/test_compat.py).
            {"name": "deepseek", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/deepseek",
             "api_key_env": "OPENAI_API_KEY", "compat": "deepseek", "models": ["deepseek-*"]},
            {"name": "xai", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/xai/v1",
             "api_key_env": "OPENAI_API_KEY", "compat": "xai", "models": ["grok-*"]},
            {"name": "ollama", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/ollama/v1",
             "compat": "ollama", "models": ["ollama-*"]},
            {"name": "vllm", "kind": "openai", "base_url": f"http://127.0.0.1:{port}/vllm/v1",
             "compat": "vllm", "models": ["vllm-*"]},
            {"name": "bedrock", "kind": "bedrock", "region": "us-east-1", "base_url": f"http://127.0.0.1:{port}/bedrock",
             "models": ["anthropic.claude-*", "us.anthropic.claude-*", "amazon.*"]},
            {"name": "bedrock-key", "kind": "bedrock", "region": "us-west-2",
             "base_url": f"http://127.0.0.1:{port}/bedrock-key", "api_key_env": "BEDROCK_API_KEY", "models": ["bk.*"]},
            {"name": "mock", "kind": "mock", "models": ["mock-*"]},
        ],
        "aliases": {"fast": "gpt-alias-target", "sonnet": "claude-alias-target"},
        # The first target fails before content, the second serves (tests/test_resilience.py).
        "routes": {"res-chain": {"targets": [{"backend": "anthropic", "model": "claude-res-first"},
                                             {"backend": "openai", "model": "gpt-res-second"}]}},
    }


@pytest.fixture(scope="session")
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="session")
def worker(upstream, vertex_key):
    key, pem = vertex_key
    for name, (_, settings) in VERTEX_ACCOUNTS.items():
        upstream.token_endpoints[name] = TokenEndpoint(key.public_key(), "proxy@my-proj.iam.gserviceaccount.com", "kid-test", **settings)
    accounts = {f"VERTEX_SA_{name.upper()}": service_account(pem, f"http://127.0.0.1:{upstream.port}/token-{name}")
                for name in VERTEX_ACCOUNTS}
    upstream.aws_keys[AWS_ACCESS_KEY_ID] = AWS_SECRET_ACCESS_KEY
    accounts["VERTEX_SA_BAD"] = json.dumps({"client_email": "x@y", "private_key": "not-a-key-SECRET-MATERIAL", "private_key_id": "k"})
    w = Worker(
        vars=accounts | {
            "LLMPROXY_API_KEY": f"another-key, {CLIENT_KEY}",
            "OPENAI_API_KEY": OPENAI_KEY,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "GEMINI_API_KEY": GEMINI_KEY,
            "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
            "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
            "BEDROCK_API_KEY": BEDROCK_API_KEY,
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
