"""OpenAI-compatible servers with their quirks (`compat` in the config), through the built worker
and the official SDKs, replaying recorded answers: what each server was sent, and what each
client parsed of its reasoning, tool calls and usage. Every client dialect reading recorded
DeepSeek answers is in test_matrix.py."""

import json

import recorded
from upstream import Reply, chat_sse_from_chunks, wire

WEATHER = {"name": "weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}


def second_turn(thinking: str) -> list:
    """A tool loop's second request, as Claude Code sends it: the first answer's reasoning (from a
    Chat server, so unsigned) and tool call, then the tool's result."""
    return [
        {"role": "user", "content": "Weather in San Francisco?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": thinking, "signature": ""},
            {"type": "tool_use", "id": "call_00_9V0vrf86Pc9aelHCJMZqnJBo", "name": "weather",
             "input": {"location": "San Francisco"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_00_9V0vrf86Pc9aelHCJMZqnJBo", "content": "Sunny, 18 °C"}]},
    ]


def test_deepseek_reasoning_is_a_thinking_block_and_goes_back_with_its_tool_turn(claude, upstream):
    model = "deepseek-reasoner-loop"
    upstream.script(model, Reply(body=[wire("deepseek-tool-call.vercel.json")]))
    answer = json.loads(wire("deepseek-tool-call.vercel.json"))
    reasoning = answer["choices"][0]["message"]["reasoning_content"]

    first = claude.messages.create(model=model, max_tokens=300, tools=[WEATHER],
                                   messages=[{"role": "user", "content": "Weather in San Francisco?"}])
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].thinking == reasoning
    assert (first.content[1].name, first.content[1].input) == ("weather", {"location": "San Francisco"})
    assert first.usage.output_tokens == answer["usage"]["completion_tokens"]

    claude.messages.create(model=model, max_tokens=300, tools=[WEATHER], messages=second_turn(first.content[0].thinking))
    sent = upstream.last(model)
    assert sent.path == "/deepseek/chat/completions"
    turn = sent.body["messages"][1]
    assert turn["role"] == "assistant" and turn["content"] == "", "DeepSeek refuses null content"
    assert turn["reasoning_content"] == reasoning, "its thinking mode wants a tool turn's reasoning back"
    assert turn["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"location":"San Francisco"}'}
    assert (sent.body["max_tokens"], "max_completion_tokens" in sent.body) == (300, False)


def test_deepseek_streamed_reasoning_reaches_a_responses_client(chat, upstream):
    model = "deepseek-reasoner-stream"
    upstream.script(model, Reply.sse(chat_sse_from_chunks("deepseek-tool-call.vercel.chunks.jsonl")))
    expected = recorded.chat_stream(recorded.jsonl("deepseek-tool-call.vercel.chunks.jsonl"))

    with chat.responses.stream(model=model, input="Weather in San Francisco?",
                               tools=[{"type": "function", "name": "weather", "parameters": WEATHER["input_schema"]}]) as s:
        response = s.get_final_response()
    got = recorded.responses_answer(response.model_dump())
    assert got["reasoning"] == expected["reasoning"] != ""
    assert [(n, a) for _, n, a in got["tools"]] == [(n, a) for _, n, a in expected["tools"]]
    assert upstream.last(model).body["stream_options"] == {"include_usage": True}


def test_xai_gets_no_stop_and_counts_reasoning_as_output(claude, upstream):
    model = "grok-3-mini-tools"
    upstream.script(model, Reply(body=[wire("xai-tool-call.vercel.json")]))
    answer = json.loads(wire("xai-tool-call.vercel.json"))
    usage = answer["usage"]

    raw = claude.messages.with_raw_response.create(
        model=model, max_tokens=300, tools=[WEATHER], stop_sequences=["END"],
        messages=[{"role": "user", "content": "Weather in San Francisco?"}])
    message = raw.parse()
    assert message.content[0].type == "thinking"
    assert message.content[0].thinking == answer["choices"][0]["message"]["reasoning_content"]
    # xAI counts reasoning beside completion_tokens: 291 + 26 + 189 = 506.
    assert usage["prompt_tokens"] + usage["completion_tokens"] + usage["completion_tokens_details"]["reasoning_tokens"] == usage["total_tokens"]
    assert message.usage.output_tokens == usage["completion_tokens"] + usage["completion_tokens_details"]["reasoning_tokens"]
    assert "stop" in raw.headers["x-llmproxy-dropped"].split(",")
    sent = upstream.last(model).body
    assert "stop" not in sent, "xAI's reasoning models refuse stop sequences"
    assert sent["max_completion_tokens"] == 300


def test_xai_streamed_reasoning_reaches_a_gemini_client(gemini, upstream):
    model = "grok-3-mini-text"
    upstream.script(model, Reply.sse(chat_sse_from_chunks("xai-text.vercel.chunks.jsonl")))
    expected = recorded.chat_stream(recorded.jsonl("xai-text.vercel.chunks.jsonl"))

    chunks = list(gemini.models.generate_content_stream(model=model, contents="Say hello"))
    parts = [p for c in chunks for p in (c.candidates and c.candidates[0].content.parts) or []]
    assert "".join(p.text for p in parts if p.thought) == expected["reasoning"] != ""
    assert "".join(p.text for p in parts if not p.thought and p.text) == expected["text"]


def refuses_stream_options(body) -> Reply | None:
    """What old vLLM answers a request that carries `stream_options` (recorded)."""
    if isinstance(body, dict) and "stream_options" in body:
        return Reply(status=400, body=[wire("vllm-stream-options-refused.msagent489.json")])
    return None


def test_vllm_is_sent_no_stream_options_and_its_stream_is_read(claude, upstream):
    model = "vllm-qwen3-8b"
    upstream.script(model, Reply.sse(wire("vllm-text.pr19662.sse"), refuses=refuses_stream_options))

    with claude.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": "안녕?"}]) as s:
        message = s.get_final_message()
    assert "".join(b.text for b in message.content if b.type == "text") == "가요?"
    assert message.stop_reason == "end_turn"
    sent = upstream.last(model)
    assert sent.path == "/vllm/v1/chat/completions"
    assert "stream_options" not in sent.body and sent.body["stream"] is True
    assert (sent.body["max_tokens"], "max_completion_tokens" in sent.body) == (50, False)


def test_ollama_gets_max_tokens_and_its_parallel_tool_calls_reach_the_client(claude, upstream):
    model = "ollama-qwen2.5-coder"
    upstream.script(model, Reply.sse(chat_sse_from_chunks("ollama-parallel-tools.asknvim.chunks.jsonl")))
    tool = {"name": "run_command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}

    with claude.messages.stream(model=model, max_tokens=64, tools=[tool],
                                messages=[{"role": "user", "content": "List the files"}]) as s:
        message = s.get_final_message()
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("run_command", {"command": "ls"}), ("run_command", {"command": "ls -l"})]
    assert message.stop_reason == "tool_use"
    sent = upstream.last(model).body
    assert (sent["max_tokens"], "max_completion_tokens" in sent) == (64, False)
    assert sent["stream_options"] == {"include_usage": True}, "Ollama ignores what it does not know"
