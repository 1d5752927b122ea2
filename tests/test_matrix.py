"""Every client dialect against every backend dialect, on every recorded answer, through the
official SDKs: what the client parsed must mean what the backend recorded (text, reasoning, tool
calls, stop, usage). Then a stream cut in the middle, for every pair: the client must fail, never
take a cut answer for a whole one."""

import json
from dataclasses import dataclass

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

import recorded
from conftest import CLIENT_KEY
from upstream import Reply, anthropic_sse_from_chunks, chat_sse_from_chunks, wire

# A DeepSeek backend speaks Chat, and adds reasoning beside the answer (`reasoning_content`).
BACKENDS = {"chat": "gpt-m", "deepseek": "deepseek-m", "anthropic": "claude-m", "responses": "resp-m", "gemini": "gemini-m"}
CLIENTS = ["chat", "anthropic", "responses", "gemini"]


@dataclass
class Recording:
    """One recorded answer of a backend, as the upstream replays it, and what it means."""
    name: str
    backend: str
    stream: bool
    reply: Reply
    text: str
    reasoning: str
    tools: list  # (name, args)
    stop: str  # end, tool or length
    input_tokens: int
    output_tokens: int


def chat_recording(name, stream, file, backend="chat"):
    if stream:
        raw = wire(file) if file.endswith(".sse") else chat_sse_from_chunks(file)
        r = recorded.chat_stream(recorded.sse_payloads(raw))
        reply = Reply.sse(raw)
    else:
        r = recorded.chat_completion(json.loads(wire(file)))
        reply = Reply(body=[wire(file)])
    stop = {"stop": "end", "tool_calls": "tool", "length": "length"}[r["finish_reason"]]
    return Recording(name, backend, stream, reply, r["text"], r["reasoning"], [(n, a) for _, n, a in r["tools"]], stop,
                     r["prompt_tokens"], r["completion_tokens"])


def anthropic_recording(name, stream, file):
    if not stream:
        r = recorded.anthropic_message(json.loads(wire(file)))
        reply, reasoning = Reply(body=[wire(file)]), ""
    else:
        raw = wire(file) if file.endswith(".sse") else anthropic_sse_from_chunks(file)
        r = recorded.anthropic_stream(recorded.sse_payloads(raw))
        reply, reasoning = Reply.sse(raw), r["thinking"]
    stop = {"end_turn": "end", "tool_use": "tool", "max_tokens": "length"}[r["stop_reason"]]
    return Recording(name, "anthropic", stream, reply, r["text"], reasoning, [(n, a) for _, n, a in r["tools"]], stop,
                     r["input_tokens"], r["output_tokens"])


def responses_recording(name, stream, index=None, file=None):
    if stream:
        events = recorded.responses_streams()[index]
        r, reply = recorded.responses_stream_answer(events), Reply.sse(recorded.responses_sse(events))
    else:
        r, reply = recorded.responses_answer(json.loads(wire(file))), Reply(body=[wire(file)])
    return Recording(name, "responses", stream, reply, r["text"], r["reasoning"], [(n, a) for _, n, a in r["tools"]],
                     "tool" if r["tools"] else "end", r["input_tokens"], r["output_tokens"])


def gemini_recording(name, stream, file):
    if stream:
        r = recorded.gemini_stream(recorded.jsonl(file))
        return Recording(name, "gemini", stream, Reply.sse(recorded.gemini_sse(file)), "", "", r["calls"],
                         "tool" if r["calls"] else "end", r["input_tokens"], r["output_tokens"])
    body = json.loads(wire(file))
    parts = body["candidates"][0]["content"]["parts"]
    usage = body["usageMetadata"]
    return Recording(name, "gemini", stream, Reply(body=[wire(file)]),
                     "".join(p.get("text", "") for p in parts if not p.get("thought")), "", [], "end",
                     usage["promptTokenCount"], usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0))


RECORDINGS = [
    chat_recording("chat-text", False, "openai-chat-text.vercel.json"),
    chat_recording("chat-tool", True, "openai-chat-tool.sdkpy.sse"),
    chat_recording("chat-parallel", True, "openai-chat-parallel-tools.sdkpy.sse"),
    chat_recording("deepseek-reasoning", False, "deepseek-reasoning.vercel.json", backend="deepseek"),
    chat_recording("deepseek-tool", False, "deepseek-tool-call.vercel.json", backend="deepseek"),
    chat_recording("deepseek-tool-stream", True, "deepseek-tool-call.vercel.chunks.jsonl", backend="deepseek"),
    anthropic_recording("anthropic-text", False, "anthropic-text.vercel.json"),
    anthropic_recording("anthropic-tool", False, "anthropic-tool-use.vercel.json"),
    anthropic_recording("anthropic-tool-stream", True, "anthropic-tool-use.sdkpy.sse"),
    anthropic_recording("anthropic-thinking", True, "anthropic-thinking-signature.vercel.chunks.jsonl"),
    responses_recording("responses-reasoning-tool", True, index=0),
    responses_recording("responses-text", True, index=3),
    responses_recording("responses-reasoning", False, file="openai-responses-reasoning.vercel.json"),
    gemini_recording("gemini-text", False, "gemini-text.vercel.json"),
    gemini_recording("gemini-tool", True, "gemini-functioncall-thoughtsig.vercel.chunks.jsonl"),
]

TOOL = {"name": "weather", "description": "Weather", "schema": {"type": "object", "properties": {"location": {"type": "string"}}}}


@dataclass
class Seen:
    text: str
    reasoning: str
    tools: list
    stop: str
    input_tokens: int
    output_tokens: int


def ask_chat(worker, model, stream):
    client = openai.OpenAI(base_url=worker.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    tools = [{"type": "function", "function": {"name": TOOL["name"], "parameters": TOOL["schema"]}}]
    messages = [{"role": "user", "content": "hi"}]
    if not stream:
        c = client.chat.completions.create(model=model, messages=messages, tools=tools)
        m = c.choices[0].message
        return Seen(m.content or "", (m.model_extra or {}).get("reasoning_content") or "",
                    [(t.function.name, json.loads(t.function.arguments)) for t in m.tool_calls or []],
                    {"stop": "end", "tool_calls": "tool", "length": "length"}[c.choices[0].finish_reason],
                    c.usage.prompt_tokens, c.usage.completion_tokens)
    text, reasoning, calls, finish, usage = "", "", {}, None, None
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", ""])
                entry[0] += (call.function and call.function.name) or ""
                entry[1] += (call.function and call.function.arguments) or ""
            finish = choice.finish_reason or finish
    return Seen(text, reasoning, [(n, json.loads(a)) for _, (n, a) in sorted(calls.items())],
                {"stop": "end", "tool_calls": "tool", "length": "length"}[finish], usage.prompt_tokens, usage.completion_tokens)


def ask_anthropic(worker, model, stream):
    client = anthropic.Anthropic(base_url=worker.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    args = dict(model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}],
                tools=[{"name": TOOL["name"], "input_schema": TOOL["schema"]}])
    if stream:
        with client.messages.stream(**args) as s:
            m = s.get_final_message()
    else:
        m = client.messages.create(**args)
    u = m.usage
    return Seen("".join(b.text for b in m.content if b.type == "text"),
                "".join(b.thinking for b in m.content if b.type == "thinking"),
                [(b.name, b.input) for b in m.content if b.type == "tool_use"],
                {"end_turn": "end", "tool_use": "tool", "max_tokens": "length"}[m.stop_reason],
                u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0), u.output_tokens)


def ask_responses(worker, model, stream):
    client = openai.OpenAI(base_url=worker.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    args = dict(model=model, input="hi", tools=[{"type": "function", "name": TOOL["name"], "parameters": TOOL["schema"]}])
    if stream:
        with client.responses.stream(**args) as s:
            r = s.get_final_response()
    else:
        r = client.responses.create(**args)
    out = r.model_dump()
    a = recorded.responses_answer(out)
    stop = "length" if r.status == "incomplete" else "tool" if a["tools"] else "end"
    return Seen(a["text"], a["reasoning"], [(n, args) for _, n, args in a["tools"]], stop, a["input_tokens"], a["output_tokens"])


def ask_gemini(worker, model, stream):
    client = genai.Client(api_key=CLIENT_KEY, http_options=genai_types.HttpOptions(base_url=worker.url, timeout=20000))
    config = genai_types.GenerateContentConfig(tools=[genai_types.Tool(function_declarations=[
        genai_types.FunctionDeclaration(name=TOOL["name"], parameters_json_schema=TOOL["schema"])])])
    chunks = (list(client.models.generate_content_stream(model=model, contents="hi", config=config)) if stream
              else [client.models.generate_content(model=model, contents="hi", config=config)])
    text, reasoning, calls, finish, usage = "", "", [], None, None
    for chunk in chunks:
        usage = chunk.usage_metadata or usage
        for candidate in chunk.candidates or []:
            finish = candidate.finish_reason or finish
            for part in (candidate.content and candidate.content.parts) or []:
                if part.function_call:
                    calls.append((part.function_call.name, part.function_call.args))
                elif part.thought:
                    reasoning += part.text or ""
                else:
                    text += part.text or ""
    stop = "length" if finish == genai_types.FinishReason.MAX_TOKENS else "tool" if calls else "end"
    return Seen(text, reasoning, calls, stop, usage.prompt_token_count,
                (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0))


ASK = {"chat": ask_chat, "anthropic": ask_anthropic, "responses": ask_responses, "gemini": ask_gemini}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.name)
def test_every_client_reads_every_recorded_answer(worker, upstream, client, recording):
    model = f"{BACKENDS[recording.backend]}-{recording.name}-{client}"
    upstream.script(model, recording.reply)
    seen = ASK[client](worker, model, recording.stream)
    expected = Seen(recording.text, recording.reasoning, recording.tools, recording.stop,
                    recording.input_tokens, recording.output_tokens)
    assert seen == expected


STREAMS = [r for r in RECORDINGS if r.stream and r.name in
           ("chat-tool", "anthropic-tool-stream", "responses-reasoning-tool", "gemini-tool")]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("recording", STREAMS, ids=lambda r: r.backend)
def test_a_stream_cut_midway_fails_in_every_client(worker, upstream, client, recording):
    model = f"{BACKENDS[recording.backend]}-cut-{client}"
    # The first half of the recorded events, then the connection drops.
    events = recording.reply.body
    reply = Reply(body=events[: len(events) // 2], content_type="text/event-stream", cut=True)
    upstream.script(model, reply)
    if client == "responses":
        # Responses clients are told by the response turning `failed` (or the protocol's error event).
        client_ = openai.OpenAI(base_url=worker.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
        kinds = [e.type for e in client_.responses.create(model=model, input="hi", stream=True)]
        assert kinds[-1] in ("response.failed", "error") and "response.completed" not in kinds
        return
    failures = {"chat": openai.APIError, "anthropic": anthropic.APIError, "gemini": genai_errors.APIError}
    with pytest.raises(failures[client]):
        ASK[client](worker, model, True)
