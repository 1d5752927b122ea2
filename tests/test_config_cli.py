"""scripts/config against a gateway under `wrangler dev`: a file checked with the worker's own
validation (natively), compared with the deployed revision, pushed as the next revision, and
rolled back; header values stay out of every output."""

import json
import os
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from worker import ROOT, Worker

ADMIN_KEY = "admin-key-for-config-cli-tests"
HEADER_VALUE = "team-header-s3cret"
BASE = {
    "backends": [
        {"name": "openai", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OPENAI_API_KEY",
         "models": ["gpt-*"], "headers": {"x-team": HEADER_VALUE}},
        {"name": "mock", "kind": "mock", "models": ["mock-*"]},
    ],
    "aliases": {"fast": "mock-fast"},
}


@pytest.fixture(scope="module")
def gateway():
    w = Worker(vars={"LLMPROXY_ADMIN_KEY": ADMIN_KEY, "LLMPROXY_ALLOW_ANONYMOUS": "true",
                     "LLMPROXY_CONFIG_TTL_SECONDS": "0"}, config=BASE, gateway=True).start()
    yield w
    w.stop()


def config(gateway, *args):
    env = dict(os.environ, LLMPROXY_URL=gateway.url, LLMPROXY_ADMIN_KEY=ADMIN_KEY)
    return subprocess.run([str(ROOT / "scripts" / "config"), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def written(document) -> str:
    path = Path(tempfile.mkdtemp(prefix="llmproxy-config-")) / "config.json"
    path.write_text(json.dumps(document, indent=2))
    return str(path)


def admin_config(gateway) -> dict:
    request = urllib.request.Request(gateway.url + "/admin/config", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def test_validate_lists_every_problem_by_path_and_passes_a_valid_file():
    good = subprocess.run([str(ROOT / "scripts" / "config"), "validate", str(ROOT / "fixtures" / "config.dev.json")],
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "valid" in good.stdout
    broken = json.loads(json.dumps(BASE))
    broken["backends"][0]["kind"] = "opnai"
    broken["backends"][1]["models"] = []
    broken["routes"] = {"smart": {"targets": [{"backend": "nowhere"}]}}
    path = written(broken)
    bad = subprocess.run([str(ROOT / "scripts" / "config"), "validate", path], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{path}: backends[0].kind: unknown kind `opnai` (expected openai, openresponses, anthropic, gemini, vertex, bedrock, mock)",
        f"{path}: backends[1].models: at least one model pattern is needed",
        f"{path}: routes.smart.targets[0].backend: no backend is named `nowhere`",
    ]


def test_diff_push_history_and_rollback(gateway):
    same = config(gateway, "diff", written(BASE))
    assert (same.returncode, same.stdout) == (0, ""), same.stderr

    edited = json.loads(json.dumps(BASE))
    edited["aliases"]["smart"] = "mock-smart"
    path = written(edited)
    diff = config(gateway, "diff", path)
    assert diff.returncode == 1
    assert '+    "smart": "mock-smart"' in diff.stdout and "deployed (revision 0)" in diff.stdout
    assert HEADER_VALUE not in diff.stdout + diff.stderr

    pushed = config(gateway, "push", path, "--note", "add smart")
    assert pushed.returncode == 0, pushed.stderr
    assert "revision 1" in pushed.stdout
    current = admin_config(gateway)
    assert current["revision"] == 1 and current["config"]["aliases"]["smart"] == "mock-smart"
    assert config(gateway, "diff", path).returncode == 0, "what was pushed is what is deployed"

    # An invalid file is refused before anything is sent.
    broken = json.loads(json.dumps(edited))
    broken["backends"][1]["kind"] = "mocky"
    refused = config(gateway, "push", written(broken))
    assert refused.returncode != 0 and "backends[1].kind" in refused.stdout
    assert admin_config(gateway)["revision"] == 1

    history = config(gateway, "history")
    assert [r["note"] for r in json.loads(history.stdout)["revisions"]] == ["add smart"]
    rolled = config(gateway, "rollback", "1")
    assert rolled.returncode == 0, rolled.stderr
    assert "saved again as revision 2" in rolled.stdout
    assert admin_config(gateway)["revision"] == 2
