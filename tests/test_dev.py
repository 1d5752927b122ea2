"""`scripts/dev` as a user runs it: it builds, seeds local KV from the dev config and serves the
README's examples offline through the mock backend; arguments after `--` reach wrangler dev."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from worker import ROOT, free_port

START_TIMEOUT = 300  # scripts/dev builds the worker first


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("dev") / "dev.log", "wb")
    process = subprocess.Popen([str(ROOT / "scripts" / "dev"), "--", "--var", "LLMPROXY_API_KEY:dev-key"],
                               cwd=ROOT, env=os.environ | {"PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"scripts/dev did not serve within {START_TIMEOUT}s: {open(log.name).read()[-3000:]}")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def post(url, body, key="dev-key"):
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {key}"} if key else {})
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_readme_examples_answer_offline(dev_server):
    status, body = post(dev_server + "/v1/chat/completions", {"model": "echo", "messages": [{"role": "user", "content": "Hello"}]})
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "Hello"

    status, body = post(dev_server + "/v1/messages", {
        "model": "mock-1", "max_tokens": 100, "stream": True,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": 'get_weather {"city": "Paris"}'}]})
    assert status == 200 and '"partial_json":"{\\"city\\":\\"Paris\\"}"' in body and "event: message_stop" in body

    status, body = post(dev_server + "/v1/responses", {"model": "echo", "input": "Hello", "stream": True})
    assert status == 200 and "event: response.completed" in body

    status, body = post(dev_server + "/v1beta/models/echo:generateContent",
                        {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]})
    assert status == 200 and json.loads(body)["candidates"][0]["content"]["parts"][0]["text"] == "Hello"

    status, body = post(dev_server + "/v1/messages/count_tokens",
                        {"model": "echo", "messages": [{"role": "user", "content": "Hello there, how are you?"}]})
    assert status == 200 and json.loads(body) == {"input_tokens": 7}


def test_arguments_after_the_separator_reach_wrangler(dev_server):
    status, body = post(dev_server + "/v1/chat/completions", {"model": "echo", "messages": []}, key=None)
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
