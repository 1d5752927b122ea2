"""Runs the built worker (build/index.js + build/index_bg.wasm) under workerd with `wrangler dev`,
each instance with its own vars and its own local KV, seeded with a config when one is given; a
gateway instance has the issued keys' Durable Objects and a local D1 usage database as well, with
the schema of migrations/ applied."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    def __init__(self, vars: dict | None = None, config: dict | str | None = None, gateway: bool = False):
        self.vars = vars or {}
        self.gateway = gateway
        self.config = config
        self.dir = Path(tempfile.mkdtemp(prefix="llmproxy-worker-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.toml = self.dir / "wrangler.toml"
        lines = [
            'name = "llmproxy-test"',
            f'main = "{ROOT / "build" / "index.js"}"',
            'compatibility_date = "2026-10-01"',
            'compatibility_flags = ["enable_request_signal"]',
            "[[kv_namespaces]]",
            'binding = "CONFIG"',
            'id = "llmproxy-test-config"',
        ]
        if gateway:
            lines += [
                "[[durable_objects.bindings]]",
                'name = "KEYS"',
                'class_name = "IssuedKey"',
                "[[migrations]]",
                'tag = "v1"',
                'new_sqlite_classes = ["IssuedKey"]',
                "[[d1_databases]]",
                'binding = "DB"',
                'database_name = "llmproxy-test"',
                'database_id = "llmproxy-test-usage"',
                f'migrations_dir = "{ROOT / "migrations"}"',
            ]
        if gateway:
            # The dashboard, as wrangler.toml serves it.
            lines += ["[assets]", f'directory = "{ROOT / "build" / "dashboard"}"']
        lines += ["[vars]"] + [f"{name} = {json.dumps(value)}" for name, value in self.vars.items()]
        self.toml.write_text("\n".join(lines) + "\n")

    def wrangler(self, *args, **kw):
        return subprocess.run(
            ["wrangler", *args, "--config", str(self.toml)],
            cwd=self.dir, check=True, capture_output=True, timeout=120, **kw,
        )

    def put_config(self, config: dict | str):
        text = config if isinstance(config, str) else json.dumps(config)
        path = self.dir / "config.json"
        path.write_text(text)
        self.wrangler("kv", "key", "put", "config", "--path", str(path), "--binding", "CONFIG",
                      "--local", "--persist-to", str(self.dir / "state"))

    def start(self):
        if self.config is not None:
            self.put_config(self.config)
        if self.gateway:
            self.wrangler("d1", "migrations", "apply", "DB", "--local", "--persist-to", str(self.dir / "state"))
        self.log = open(self.dir / "wrangler.log", "wb")
        self.process = subprocess.Popen(
            ["wrangler", "dev", "--config", str(self.toml), "--local", "--ip", "127.0.0.1",
             "--port", str(self.port), "--persist-to", str(self.dir / "state"),
             "--show-interactive-dev-session=false", "--log-level", "warn"],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wrangler dev exited: {self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the worker did not start within {START_TIMEOUT}s: {self.logs()}")

    def logs(self) -> str:
        return (self.dir / "wrangler.log").read_text(errors="replace")[-4000:]

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
