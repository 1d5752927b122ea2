#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the repository's recorded data.

    seeds.py FIXTURES_DIR CORPUS_DIR

Each seed goes to CORPUS_DIR/<target>/seed-<name>; seeds are rewritten on every run, and files
the fuzzer added beside them are kept. Long strings in captured requests are cut short, so the
seeds keep the requests' shape at a size the fuzzer mutates quickly.
"""

import json
import sys
from pathlib import Path

DIALECTS = ["chat", "anthropic", "responses", "gemini", "converse"]  # the order of Dialect::ALL
MAX_STRING = 80


def backend_of(name):
    # OpenAI-compatible servers (DeepSeek, xAI, Ollama, vLLM) answer in Chat Completions.
    for prefix, dialect in [("anthropic-", "anthropic"), ("openai-chat-", "chat"), ("deepseek-", "chat"),
                            ("xai-", "chat"), ("ollama-", "chat"), ("vllm-", "chat"),
                            ("openai-responses-", "responses"), ("gemini-", "gemini"), ("vertex-", "gemini"),
                            ("bedrock-", "converse")]:
        if name.startswith(prefix):
            return dialect
    raise SystemExit(f"no dialect for {name}")


def framed(jsonl, backend):
    """A *.chunks.jsonl recording as the SSE its backend sends (Anthropic and Responses events
    named after their type; Converse's lines are `{"<event type>": payload}`, as the framing
    hands its event-stream messages over)."""
    out = []
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if backend == "converse":
            for kind, payload in event.items():
                out.append(f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n")
            continue
        kind = event.get("type")
        out.append((f"event: {kind}\n" if isinstance(kind, str) else "") + f"data: {line}\n\n")
    return "".join(out).encode()


def shrink(value):
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING]
    if isinstance(value, list):
        return [shrink(v) for v in value[:6]]
    if isinstance(value, dict):
        return {k: shrink(v) for k, v in value.items()}
    return value


def main():
    fixtures, corpus = Path(sys.argv[1]), Path(sys.argv[2])
    seeds = {}

    def add(target, name, data):
        seeds.setdefault(target, {})[name] = data if isinstance(data, bytes) else data.encode()

    wire = fixtures / "wire"
    streams = []
    for path in sorted(wire.iterdir()):
        if path.name.endswith(".sse"):
            streams.append((path.stem, backend_of(path.name), path.read_bytes()))
        elif path.name.endswith(".chunks.jsonl"):
            backend = backend_of(path.name)
            streams.append((path.name.removesuffix(".chunks.jsonl"), backend, framed(path.read_text(), backend)))
        elif path.name.endswith(".json"):
            add("answer", path.stem, path.read_bytes())

    for name, backend, data in streams:
        add("sse", name, data)
        add("sse", name + ".crlf", data.replace(b"\n", b"\r\n"))
        # One event at a time, too: the smallest inputs that reach each decoder branch.
        for i, event in enumerate(data.split(b"\n\n")[:40]):
            if event.strip():
                add("sse", f"{name}.{i}", event + b"\n\n")
        for client, client_name in enumerate(DIALECTS):
            pair = client | DIALECTS.index(backend) << 3
            for size in (0, 7):
                add("stream", f"{name}.to-{client_name}.{size}", bytes([pair, size]) + data)
            # The stream cut short, which must end in an error event.
            add("stream", f"{name}.to-{client_name}.cut", bytes([pair, 0]) + data[: len(data) // 2])
        # Metering passes a stream through to a client of its own dialect: whole, in small pieces,
        # with CRLF line ends, and cut short.
        pick = DIALECTS.index(backend)
        for size in (0, 7):
            add("metering", f"{name}.{size}", bytes([pick, size]) + data)
        add("metering", f"{name}.crlf", bytes([pick, 3]) + data.replace(b"\n", b"\r\n"))
        add("metering", f"{name}.cut", bytes([pick, 0]) + data[: len(data) // 2])
        if backend in ("anthropic", "chat", "gemini"):
            for i, event in enumerate(data.split(b"\n\n")):
                if event.startswith((b"data: {", b"event: ")):
                    add("answer", f"{name}.event{i}", event.split(b"data: ", 1)[1])
                    break
    # Error bodies in each dialect's shape.
    add("answer", "error-openai", '{"error": {"message": "Incorrect API key provided: sk-proj-Zq8X********LmN5",'
        ' "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}')
    add("answer", "error-anthropic", '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}')
    add("answer", "error-gemini", '{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}')
    add("answer", "error-text", "upstream connect error or disconnect/reset before headers")

    # A Chat stream whose usage chunk the proxy asked for (the client's choices first), its
    # events ended by each kind of line end, and Chat request bodies for `with_usage_reported`.
    chunk = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[%s]%s}'
    content = chunk % ('{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}', "")
    usage = chunk % ("", ',"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}')
    for end_name, end in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")]:
        stream = "".join(f"data: {data}{end}{end}" for data in [content, usage, "[DONE]"])
        add("metering", f"chat-usage.{end_name}", bytes([0, 0]) + stream.encode())
        add("metering", f"chat-usage.{end_name}.pieces", bytes([0, 5]) + stream.encode())
    for i, body in enumerate([
        '{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}',
        '{"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": false, "x": 1}}',
        '{"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}}',
        '{"model": "gpt-4o", "stream_options": null, "n": 1e400}',
        '{"model": "a", "model": "b", "stream_options": {}, "stream_options": {"include_usage": true}}',
        '{"stream_options": 1}',
        '["not", "an", "object"]',
    ]):
        add("metering", f"body{i}", bytes([0, 0]) + body.encode())

    # Keys: what the first byte says the rest is (see fuzz_targets/keys.rs).
    key_id, secret = "abcdefghijkm", "npqrstuvwxyz23456789abcdefghijkmnpqrstuv"
    for i, text in enumerate([f"sk-llmp-{key_id}-{secret}", f"sk-llmp-{key_id}-{secret}x", f"sk-llmp-{key_id}",
                              f"sk-llmp-{key_id.upper()}-{secret}", "sk-llmp--", "sk-proj-abc", "model", "day",
                              "key ", "é" * 30]):
        add("keys", f"presented{i}", b"\0" + text.encode())
    policies = [
        {"name": "ci"},
        {"name": "ci", "models": ["gpt-*", "fast"], "rpm": 2, "tpm": 1000, "budget_usd": 0.5,
         "budget_period": "month", "expires_at": 1.8e12, "disabled": False},
        {"name": "x", "rpm": 0},
        {"name": "x", "rpm": None, "budget_usd": -1},
        {"name": " ", "secret": "y"},
        {"budget_period": "year"},
    ]
    for i, policy in enumerate(policies):
        add("keys", f"policy{i}", b"\1" + json.dumps(policy).encode())
    add("keys", "policy-not-object", b"\1[1, 2]")

    def admit(hash_, id_, model="gpt-4o", tokens=10, cost=0.01):
        return {"op": "admit", "hash": hash_, "asked": model, "model": model, "id": id_, "tokens": tokens,
                "cost": cost}

    create = {"op": "create", "hash": "h", "policy": policies[1]}
    sequences = {
        "rpm": [create, admit("h", "a"), admit("h", "b"), admit("h", "c"), (60000, admit("h", "d")),
                (1, admit("h", "e")), {"op": "read"}],
        "hashes": [{"op": "lookup", "hash": "h"}, create, {"op": "lookup", "hash": "h2"}, admit("", "a"),
                   {"op": "lookup", "hash": "h"}, {"op": "revoke"}, {"op": "lookup", "hash": "h"}, admit("h", "b")],
        "settle": [create, admit("h", "a", tokens=900), {"op": "settle", "id": "a", "tokens": 18446744073709551615,
                   "cost": 0.2}, admit("h", "b", tokens=100), (61000, {"op": "read"}),
                   {"op": "settle", "id": "a", "tokens": 1, "cost": 0}],
        "update": [create, {"op": "update", "patch": {"rpm": 1, "models": None}}, admit("h", "a", "claude-x"),
                   admit("h", "b", "claude-x"), {"op": "update", "patch": {"rpm": 0}},
                   {"op": "update", "patch": {"disabled": True}}, admit("h", "c"), {"op": "revoke"},
                   {"op": "update", "patch": {"disabled": False}}, {"op": "create", "hash": "h2",
                   "policy": {"name": "again"}}],
        "budget": [{"op": "create", "hash": "h", "policy": {"name": "b", "budget_usd": 1.0, "budget_period": "day"}},
                   admit("h", "a", cost=0.6), admit("h", "b", cost=0.6), (86400000, admit("h", "c", cost=0.6))],
    }
    for name, messages in sequences.items():
        lines = []
        for message in messages:
            delay, message = message if isinstance(message, tuple) else (None, message)
            lines.append((f"{delay} " if delay is not None else "") + json.dumps(message))
        add("keys", f"messages-{name}", b"\2" + "\n".join(lines).encode())
    for i in range(4):
        add("keys", f"built{i}", bytes([3, i]) + bytes((j * 37 + i * 11) % 256 for j in range(120)))

    models = ["gemini-2.5-flash", "claude-sonnet-4-5@20250929", "a:b%c+é", "x%2F..%2F..%2Fv1", "..", ".", "%2e%2e",
              "models/gemini-pro", "a?b#c", "gemini-2.5-flash:streamGenerateContent?alt=sse"]
    for i, model in enumerate(models):
        add("model_url", f"model{i}", model)
    for path in sorted((fixtures / "captures").glob("*.json")):
        capture = json.loads(path.read_text())
        body = json.dumps(shrink(capture["body"]), ensure_ascii=False)
        add("request", path.stem, body)
        add("model_url", path.stem, capture["path"])
    add("request", "tiny-chat", '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": true}')
    add("request", "tiny-messages", '{"model": "claude-x", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}')
    add("request", "tiny-responses", '{"model": "o3", "input": "hi", "stream": true}')
    add("request", "thinking-messages", '{"model": "claude-x", "max_tokens": 1024, "thinking": {"type": "enabled",'
        ' "budget_tokens": 2048}, "messages": [{"role": "user", "content": "hi"}]}')
    add("request", "effort-chat", '{"model": "gpt-4o", "reasoning_effort": "high", "max_completion_tokens": 100,'
        ' "n": 1, "seed": 7, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema":'
        ' {"type": "object"}}}, "messages": [{"role": "developer", "content": "be brief"}, {"role": "user",'
        ' "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url":'
        ' "data:image/png;base64,AA=="}}]}]}')
    add("request", "effort-responses", '{"model": "o3", "reasoning": {"effort": "low"}, "max_output_tokens": 50,'
        ' "tools": [{"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "f",'
        ' "parameters": {}}]}], "input": [{"type": "message", "role": "user", "content": "hi"}]}')
    add("request", "budget-gemini", '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}],'
        ' "generationConfig": {"maxOutputTokens": 10, "thinkingConfig": {"thinkingBudget": 30000,'
        ' "includeThoughts": true}, "responseMimeType": "application/json"}}')
    add("request", "tiny-gemini", '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}')

    config = (fixtures / "config.dev.json").read_text()
    add("config", "dev", config + "\0gpt-4o\0fast\0smart\0echo\0claude-sonnet-4-5\0unknown/model")
    add("config", "routes", '{"backends": [{"name": "a", "kind": "anthropic", "models": ["claude-*"]},'
        ' {"name": "o", "kind": "openai", "api_key_env": ["K1", "K2"], "models": ["gpt-*"]}],'
        ' "routes": {"smart": {"balance": true, "targets": [{"backend": "a", "model": "claude-x", "weight": 3},'
        ' {"backend": "o", "model": "gpt-4o"}, {"backend": "o"}], "retry": {"attempts": 2}}},'
        ' "aliases": {"s": "smart"}}\0smart\0s\0gpt-4o')
    add("config", "vertex", '{"backends": [{"name": "v", "kind": "vertex", "project": "p", "location": "global",'
        ' "service_account_env": "SA", "auth": "self_signed_jwt", "models": ["claude-*@*", "gemini-{2,3}*",'
        ' "meta-llama/**", "o[0-9]*"]}], "aliases": {"a": "b", "b": "a", "c": "claude-x@1"}}\0a\0c\0meta-llama/x/y')

    for i, parts in enumerate([
        ["Bearer k1", "", "", "", "k1,k2"],
        ["bearer  k2 ", "", "", "", " k1 , k2 "],
        ["", "k1", "", "", "k1"],
        ["", "", "k2", "alt=sse", "k1,k2"],
        ["", "", "", "alt=sse&key=k%31", "k1"],
        ["Bearer é", "", "", "", "é", "127.0.0.1", "::1"],
    ]):
        add("auth", f"auth{i}", "\0".join(parts))

    for target, files in seeds.items():
        directory = corpus / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (directory / f"seed-{name}").write_bytes(data)
    (corpus / "stream_events").mkdir(parents=True, exist_ok=True)
    for target in sorted(seeds):
        print(f"{target}: {len(seeds[target])} seeds")


if __name__ == "__main__":
    main()
