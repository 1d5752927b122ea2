"""Requests exactly as real agents send them (captured bodies and headers), through translated routes."""

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import recorded
from conftest import CLIENT_KEY
from upstream import Reply, wire

CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures"


def capture(name: str) -> dict:
    return json.loads((CAPTURES / name).read_text())


@dataclass
class Answer:
    status_code: int
    headers: dict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


def send_as_captured(worker, captured: dict, model: str) -> Answer:
    """The captured request with only the model and the key changed (the key is the proxy's own)."""
    body = dict(captured["body"], model=model)
    headers = {k: v for k, v in captured["headers"].items()
               if k.lower() not in ("host", "content-length", "authorization", "x-api-key", "accept-encoding", "connection")}
    headers["x-api-key"] = CLIENT_KEY
    query = "?" + "&".join(f"{k}={v}" for k, v in captured["query"].items()) if captured["query"] else ""
    request = urllib.request.Request(worker.url + captured["path"] + query, data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def anthropic_events(response: Answer) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return recorded.sse_payloads(response.content)


def test_claude_code_tool_round_trip_on_a_chat_backend(worker, upstream):
    captured = capture("claude-code-tool-result.json")
    upstream.script("gpt-t-claude-code", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    response = send_as_captured(worker, captured, "gpt-t-claude-code")

    answer = recorded.anthropic_stream(anthropic_events(response))
    expected = recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-tool.sdkpy.sse")))
    assert answer["tools"] == expected["tools"] and answer["stop_reason"] == "tool_use"
    assert (answer["input_tokens"], answer["output_tokens"]) == (expected["prompt_tokens"], expected["completion_tokens"])

    sent = upstream.last("gpt-t-claude-code").body
    assert [t["function"]["name"] for t in sent["tools"]] == [t["name"] for t in captured["body"]["tools"]]
    calls = [c for m in sent["messages"] if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    results = [m for m in sent["messages"] if m["role"] == "tool"]
    assert calls and [r["tool_call_id"] for r in results] == [c["id"] for c in calls], "every call is answered"
    assert sent["messages"][0]["role"] == "system"
    assert captured["body"]["system"][-1]["text"] in sent["messages"][0]["content"]
    dropped = response.headers["x-llmproxy-dropped"].split(", ")
    assert {"context_management", "metadata", "thinking"} <= set(dropped)


def test_opencode_anthropic_provider_on_a_chat_backend(worker, upstream):
    captured = capture("opencode-anthropic-tools.json")
    upstream.script("gpt-t-opencode", Reply.sse(wire("openai-chat-parallel-tools.sdkpy.sse")))
    response = send_as_captured(worker, captured, "gpt-t-opencode")

    answer = recorded.anthropic_stream(anthropic_events(response))
    expected = recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-parallel-tools.sdkpy.sse")))
    assert answer["tools"] == expected["tools"] and len(answer["tools"]) == 2
    sent = upstream.last("gpt-t-opencode").body
    assert len(sent["tools"]) == len(captured["body"]["tools"])
    assert "eager_input_streaming" in response.headers["x-llmproxy-dropped"]


def test_opencode_chat_provider_on_an_anthropic_backend(worker, upstream):
    captured = capture("opencode-chat-tools.json")
    upstream.script("claude-t-opencode", Reply.sse(wire("anthropic-tool-use.sdkpy.sse")))
    response = send_as_captured(worker, captured, "claude-t-opencode")
    assert response.status_code == 200, response.text

    answer = recorded.chat_stream(recorded.sse_payloads(response.content))
    expected = recorded.anthropic_stream(recorded.sse_payloads(wire("anthropic-tool-use.sdkpy.sse")))
    assert answer["tools"] == expected["tools"] and answer["text"] == expected["text"]
    assert answer["finish_reason"] == "tool_calls"
    assert (answer["prompt_tokens"], answer["completion_tokens"]) == (expected["input_tokens"], expected["output_tokens"])
    sent = upstream.last("claude-t-opencode").body
    assert [t["name"] for t in sent["tools"]] == [t["function"]["name"] for t in captured["body"]["tools"]]
    assert sent["system"] == captured["body"]["messages"][0]["content"]
    assert sent["max_tokens"] == captured["body"]["max_tokens"]


def responses_events(response: Answer) -> list[dict]:
    assert response.status_code == 200, response.text
    events = recorded.sse_payloads(response.content)
    assert [e["sequence_number"] for e in events] == list(range(len(events))), "numbered in order"
    return events


@pytest.mark.parametrize("model,recording", [
    ("gpt-t-codex", "openai-chat-tool.sdkpy.sse"),
    ("claude-t-codex", "anthropic-tool-use.sdkpy.sse"),
])
def test_codex_tool_round_trip_on_other_backends(worker, upstream, model, recording):
    captured = capture("codex-tool-result.json")
    upstream.script(model, Reply.sse(wire(recording)))
    response = send_as_captured(worker, captured, model)

    events = responses_events(response)
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert recorded.responses_answer(dict(events[-1]["response"], output=done))["tools"] == (
        recorded.chat_stream(recorded.sse_payloads(wire(recording)))["tools"] if model.startswith("gpt")
        else recorded.anthropic_stream(recorded.sse_payloads(wire(recording)))["tools"])
    assert events[-1]["response"]["output"] == done

    dropped = response.headers["x-llmproxy-dropped"].split(", ")
    assert {"tools[web_search]", "client_metadata", "prompt_cache_key"} <= set(dropped)
    sent = upstream.last(model).body
    names = [t["function"]["name"] for t in sent["tools"]] if model.startswith("gpt") else [t["name"] for t in sent["tools"]]
    assert "exec_command" in names and "multi_agent_v1__close_agent" in names and "web_search" not in names
    call = next(i for i in captured["body"]["input"] if i["type"] == "function_call")
    output = next(i for i in captured["body"]["input"] if i["type"] == "function_call_output")
    if model.startswith("gpt"):
        assert {"role": "tool", "tool_call_id": call["call_id"], "content": output["output"]} in sent["messages"]
    else:
        results = [b for m in sent["messages"] for b in m["content"] if b["type"] == "tool_result"]
        assert results == [{"type": "tool_result", "tool_use_id": call["call_id"],
                            "content": [{"type": "text", "text": output["output"]}]}]


def send_gemini_as_captured(worker, captured: dict, model: str) -> Answer:
    """A captured Gemini request sent for another model: the model is in the path."""
    path = re.sub(r"/models/[^:]+:", f"/models/{model}:", captured["path"])
    return send_as_captured(worker, dict(captured, path=path), model)


def test_gemini_cli_router_request_gets_json_from_an_anthropic_backend(worker, upstream):
    captured = capture("gemini-cli-router.json")
    upstream.script("claude-t-gemini-router", Reply(body=[wire("anthropic-text.vercel.json")]))
    response = send_gemini_as_captured(worker, captured, "claude-t-gemini-router")
    assert response.status_code == 200, response.text
    sent = upstream.last("claude-t-gemini-router").body
    schema = captured["body"]["generationConfig"]["responseJsonSchema"]
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    answer = json.loads(response.content)
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == recorded.anthropic_message(
        json.loads(wire("anthropic-text.vercel.json")))["text"]


@pytest.mark.parametrize("model,recording", [
    ("gpt-t-gemini-cli", "openai-chat-tool.sdkpy.sse"),
    ("claude-t-gemini-cli", "anthropic-tool-use.sdkpy.sse"),
])
def test_gemini_cli_tool_round_trip_on_other_backends(worker, upstream, model, recording):
    captured = capture("gemini-cli-tool-result.json")
    upstream.script(model, Reply.sse(wire(recording)))
    response = send_gemini_as_captured(worker, captured, model)
    assert response.status_code == 200, response.text
    chunks = recorded.sse_payloads(response.content)
    calls = [(p["functionCall"]["id"], p["functionCall"]["name"], p["functionCall"]["args"])
             for c in chunks for cand in c.get("candidates", []) for p in cand["content"]["parts"] if "functionCall" in p]
    expected = (recorded.chat_stream(recorded.sse_payloads(wire(recording))) if model.startswith("gpt")
                else recorded.anthropic_stream(recorded.sse_payloads(wire(recording))))
    assert calls == expected["tools"]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"

    sent = upstream.last(model).body
    declared = [d["name"] for t in captured["body"]["tools"] for d in t["functionDeclarations"]]
    names = [t["function"]["name"] for t in sent["tools"]] if model.startswith("gpt") else [t["name"] for t in sent["tools"]]
    assert names == declared
    call = next(p["functionCall"] for c in captured["body"]["contents"] for p in c["parts"] if "functionCall" in p)
    if model.startswith("gpt"):
        assistant = next(m for m in sent["messages"] if m.get("tool_calls"))
        assert assistant["tool_calls"][0]["id"] == call["id"]
        assert any(m["role"] == "tool" and m["tool_call_id"] == call["id"] for m in sent["messages"])
    else:
        uses = [b for m in sent["messages"] for b in m["content"] if b["type"] == "tool_use"]
        results = [b for m in sent["messages"] for b in m["content"] if b["type"] == "tool_result"]
        assert [u["id"] for u in uses] == [r["tool_use_id"] for r in results] == [call["id"]]


GEMINI_STREAM = "gemini-functioncall-thoughtsig.vercel.chunks.jsonl"


def test_claude_code_on_responses_and_gemini_backends(worker, upstream):
    captured = capture("claude-code-tool-result.json")
    call = next(b for m in captured["body"]["messages"] if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use")

    events = recorded.responses_streams()[0]
    upstream.script("resp-t-claude-code", Reply.sse(recorded.responses_sse(events)))
    answer = recorded.anthropic_stream(anthropic_events(send_as_captured(worker, captured, "resp-t-claude-code")))
    assert answer["tools"] == recorded.responses_stream_answer(events)["tools"] and answer["stop_reason"] == "tool_use"
    sent = upstream.last("resp-t-claude-code").body["input"]
    assert {"type": "function_call", "call_id": call["id"], "name": call["name"], "arguments": json.dumps(call["input"], separators=(",", ":"))} in sent
    assert any(i.get("type") == "function_call_output" and i["call_id"] == call["id"] for i in sent)

    upstream.script("gemini-t-claude-code", Reply.sse(recorded.gemini_sse(GEMINI_STREAM)))
    answer = recorded.anthropic_stream(anthropic_events(send_as_captured(worker, captured, "gemini-t-claude-code")))
    expected = recorded.gemini_stream(recorded.jsonl(GEMINI_STREAM))
    assert [(name, args) for _, name, args in answer["tools"]] == expected["calls"]
    assert answer["signatures"] == [recorded.sealed("gemini", s) for s in expected["signatures"]]
    contents = upstream.last("gemini-t-claude-code").body["contents"]
    calls = [p["functionCall"] for c in contents for p in c["parts"] if "functionCall" in p]
    responses = [p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p]
    assert [(c["id"], c["name"]) for c in calls] == [(r["id"], r["name"]) for r in responses] == [(call["id"], call["name"])]


def test_codex_on_a_gemini_backend(worker, upstream):
    captured = capture("codex-tool-result.json")
    upstream.script("gemini-t-codex", Reply.sse(recorded.gemini_sse(GEMINI_STREAM)))
    events = responses_events(send_as_captured(worker, captured, "gemini-t-codex"))
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    calls = [(i["name"], json.loads(i["arguments"])) for i in done if i["type"] == "function_call"]
    assert calls == recorded.gemini_stream(recorded.jsonl(GEMINI_STREAM))["calls"]
    assert events[-1]["type"] == "response.completed"
    contents = upstream.last("gemini-t-codex").body["contents"]
    output = next(i for i in captured["body"]["input"] if i["type"] == "function_call_output")
    response = next(p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p)
    assert (response["id"], response["name"], response["response"]) == (output["call_id"], "exec_command", {"output": output["output"]})
