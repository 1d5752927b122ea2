"""What a recording says, read straight from the recorded bytes: the expected side of every replay
test, computed independently of the worker."""

import base64
import json

from upstream import WIRE, wire


def sse_payloads(raw: bytes) -> list[dict]:
    payloads = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
        if data and data != "[DONE]":
            payloads.append(json.loads(data))
    return payloads


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in wire(name).decode().splitlines() if line.strip()]


def anthropic_stream(events: list[dict]) -> dict:
    """Text, thinking, tool calls, stop reason and usage of one recorded Anthropic stream."""
    blocks, stop, usage = {}, None, {}
    for e in events:
        if e["type"] == "message_start":
            usage = dict(e["message"]["usage"])
        elif e["type"] == "content_block_start":
            blocks[e["index"]] = dict(e["content_block"], partial="")
        elif e["type"] == "content_block_delta":
            b, d = blocks[e["index"]], e["delta"]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] += d["signature"]
            elif d["type"] == "input_json_delta":
                b["partial"] += d["partial_json"]
        elif e["type"] == "message_delta":
            stop = e["delta"]["stop_reason"]
            usage.update({k: v for k, v in e["usage"].items() if v is not None})
    ordered = [blocks[i] for i in sorted(blocks)]
    return {
        "text": "".join(b["text"] for b in ordered if b["type"] == "text"),
        "thinking": "".join(b["thinking"] for b in ordered if b["type"] == "thinking"),
        "signatures": [b["signature"] for b in ordered if b["type"] == "thinking"],
        "tools": [(b["id"], b["name"], json.loads(b["partial"] or "{}")) for b in ordered if b["type"] == "tool_use"],
        "stop_reason": stop,
        "input_tokens": usage["input_tokens"] + usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0),
        "output_tokens": usage["output_tokens"],
    }


def anthropic_message(body: dict) -> dict:
    u = body["usage"]
    return {
        "text": "".join(b["text"] for b in body["content"] if b["type"] == "text"),
        "tools": [(b["id"], b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"],
        "stop_reason": body["stop_reason"],
        "input_tokens": u["input_tokens"] + u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0),
        "output_tokens": u["output_tokens"],
    }


def chat_stream(chunks: list[dict]) -> dict:
    text, reasoning, tools, finish, usage = "", "", {}, None, None
    for c in chunks:
        if c.get("usage"):
            usage = c["usage"]
        for choice in c.get("choices", []):
            d = choice.get("delta", {})
            text += d.get("content") or ""
            reasoning += d.get("reasoning_content") or ""
            for call in d.get("tool_calls") or []:
                t = tools.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                t["id"] = call.get("id") or t["id"]
                f = call.get("function") or {}
                t["name"] += f.get("name") or ""
                t["arguments"] += f.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {
        "text": text,
        "reasoning": reasoning,
        "tools": [(t["id"], t["name"], json.loads(t["arguments"])) for _, t in sorted(tools.items())],
        "finish_reason": finish,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
    }


def chat_completion(body: dict) -> dict:
    m = body["choices"][0]["message"]
    return {
        "text": m.get("content") or "",
        "reasoning": m.get("reasoning_content") or "",
        "tools": [(t["id"], t["function"]["name"], json.loads(t["function"]["arguments"])) for t in m.get("tool_calls") or []],
        "finish_reason": body["choices"][0]["finish_reason"],
        "prompt_tokens": body["usage"]["prompt_tokens"],
        "completion_tokens": body["usage"]["completion_tokens"],
    }


def responses_streams() -> list[list[dict]]:
    """The recorded Responses streams (the file holds several back to back)."""
    streams, current = [], []
    for event in jsonl("openai-responses-reasoning-fc.vercel.chunks.jsonl"):
        current.append(event)
        if event["type"] == "response.completed":
            streams.append(current)
            current = []
    return streams


def responses_sse(events: list[dict]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def responses_answer(response: dict) -> dict:
    """Text, reasoning, tool calls and usage of a whole Responses answer (or `response.completed`)."""
    out = response["output"]
    return {
        "text": "".join(p["text"] for i in out if i["type"] == "message" for p in i["content"] if p["type"] == "output_text"),
        "reasoning": "\n\n".join(p["text"] for i in out if i["type"] == "reasoning" for p in i["summary"]),
        "encrypted": [(i["id"], i.get("encrypted_content")) for i in out if i["type"] == "reasoning"],
        "tools": [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in out if i["type"] == "function_call"],
        "input_tokens": response["usage"]["input_tokens"],
        "output_tokens": response["usage"]["output_tokens"],
    }


def responses_stream_answer(events: list[dict]) -> dict:
    """What a streaming client keeps of a Responses stream: the items as each was done (encrypted
    reasoning is re-encrypted for every copy, so these differ from `response.completed`'s)."""
    completed = events[-1]["response"]
    items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    return responses_answer(dict(completed, output=items))


def gemini_stream(chunks: list[dict]) -> dict:
    """Function calls (name, args), thought signatures, finish reason and usage of a Gemini stream."""
    calls, signatures, usage, finish = [], [], {}, None
    for chunk in chunks:
        for candidate in chunk.get("candidates", []):
            for part in candidate.get("content", {}).get("parts", []):
                if "functionCall" in part:
                    calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
                if "thoughtSignature" in part:
                    signatures.append(part["thoughtSignature"])
            finish = candidate.get("finishReason", finish)
        usage = chunk.get("usageMetadata", usage)
    return {
        "calls": calls,
        "signatures": signatures,
        "finish": finish,
        "usage": usage,
        "input_tokens": usage.get("promptTokenCount", 0),
        "output_tokens": usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
    }


def gemini_sse(name: str) -> bytes:
    """A *.chunks.jsonl Gemini recording framed as the SSE Gemini sends (CRLF line ends)."""
    return "".join(f"data: {line}\r\n\r\n" for line in wire(name).decode().splitlines() if line.strip()).encode()


def sealed(provider: str, value: str, client: str = "") -> str:
    """A reasoning signature as a client of another dialect holds it (see README): base64 for
    Gemini clients, which hold signatures as bytes."""
    seal = f"llmproxy1.{provider}.{value}"
    return base64.b64encode(seal.encode()).decode() if client == "gemini" else seal
