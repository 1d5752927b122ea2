"""OpenAI Responses clients on every backend, and every client on a Responses backend, replaying
real recordings."""

import json

import anthropic
import openai
import pytest

import recorded
from upstream import Reply, anthropic_sse_from_chunks, wire

CALCULATOR = {"type": "function", "name": "calculator", "parameters": {"type": "object"}}


def summary(response) -> dict:
    return recorded.responses_answer(response.model_dump())


def test_streamed_tool_call_from_a_chat_backend(chat, upstream):
    upstream.script("gpt-r-tool", Reply.sse(wire("openai-chat-tool.sdkpy.sse")))
    expected = recorded.chat_stream(recorded.sse_payloads(wire("openai-chat-tool.sdkpy.sse")))

    with chat.responses.stream(model="gpt-r-tool", input="weather?", tools=[CALCULATOR]) as stream:
        final = stream.get_final_response()

    seen = summary(final)
    assert seen["tools"] == expected["tools"]
    assert (seen["input_tokens"], seen["output_tokens"]) == (expected["prompt_tokens"], expected["completion_tokens"])
    assert final.status == "completed"
    sent = upstream.last("gpt-r-tool").body
    assert sent["messages"] == [{"role": "user", "content": "weather?"}]
    assert sent["tools"][0]["function"]["name"] == "calculator"


def test_whole_text_answer_from_a_chat_backend(chat, upstream):
    upstream.script("gpt-r-text", Reply(body=[wire("openai-chat-text.vercel.json")]))
    expected = recorded.chat_completion(json.loads(wire("openai-chat-text.vercel.json")))
    response = chat.responses.create(model="gpt-r-text", instructions="Be creative.", input="Invent a holiday")
    assert response.output_text == expected["text"]
    assert response.usage.output_tokens == expected["completion_tokens"]
    assert upstream.last("gpt-r-text").body["messages"][0] == {"role": "system", "content": "Be creative."}


def test_anthropic_thinking_travels_back_to_anthropic_through_a_responses_client(chat, upstream):
    upstream.script("claude-r-think", Reply.sse(anthropic_sse_from_chunks("anthropic-thinking-signature.vercel.chunks.jsonl")))
    expected = recorded.anthropic_stream(recorded.jsonl("anthropic-thinking-signature.vercel.chunks.jsonl"))

    with chat.responses.stream(model="claude-r-think", input="think", reasoning={"effort": "high"},
                               include=["reasoning.encrypted_content"], store=False) as stream:
        final = stream.get_final_response()

    seen = summary(final)
    assert seen["reasoning"] == expected["thinking"] and seen["text"] == expected["text"]
    assert upstream.last("claude-r-think").body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    (_, sealed), = seen["encrypted"]
    assert sealed == recorded.sealed("anthropic", expected["signatures"][0])

    # The next turn carries the reasoning item back; Anthropic gets its own signature again.
    upstream.script("claude-r-think-2", Reply(body=[wire("anthropic-text.vercel.json")]))
    history = [{"role": "user", "content": "think"}] + [item.model_dump(exclude_none=True) for item in final.output]
    chat.responses.create(model="claude-r-think-2", input=history + [{"role": "user", "content": "and now?"}])
    assistant = upstream.last("claude-r-think-2").body["messages"][1]
    assert assistant["content"][0] == {"type": "thinking", "thinking": expected["thinking"], "signature": expected["signatures"][0]}


def test_responses_backend_passes_responses_clients_through(chat, upstream):
    first = recorded.responses_streams()[0]
    upstream.script("resp-pass", Reply.sse(recorded.responses_sse(first)))
    with chat.responses.stream(model="resp-pass", input="12+7", tools=[CALCULATOR],
                               extra_body={"previous_response_id": "resp_earlier"}) as stream:
        final = stream.get_final_response()
    assert summary(final) == recorded.responses_answer(first[-1]["response"])
    sent = upstream.last("resp-pass")
    assert sent.path == "/responses-api/v1/responses"
    assert sent.body["previous_response_id"] == "resp_earlier", "a Responses server keeps conversations"


def test_previous_response_id_is_refused_on_other_backends(chat):
    with pytest.raises(openai.BadRequestError) as error:
        chat.responses.create(model="gpt-r-prev", input="hi", previous_response_id="resp_1")
    assert "previous_response_id" in error.value.message


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_chat_clients_on_a_responses_backend(chat, upstream, index):
    events = recorded.responses_streams()[index]
    model = f"resp-chat-{index}"
    upstream.script(model, Reply.sse(recorded.responses_sse(events)))
    expected = recorded.responses_stream_answer(events)

    with chat.chat.completions.stream(model=model, messages=[{"role": "user", "content": "12+7, times 3, times 10"}],
                                      tools=[{"type": "function", "function": CALCULATOR | {"type": None}}],
                                      stream_options={"include_usage": True}) as stream:
        completion = stream.get_final_completion()

    message = completion.choices[0].message
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    assert calls == expected["tools"]
    assert (message.content or "") == expected["text"]
    assert completion.choices[0].finish_reason == ("tool_calls" if calls else "stop")
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (expected["input_tokens"], expected["output_tokens"])
    sent = upstream.last(model).body
    assert sent["store"] is False and sent["input"][0]["role"] == "user"


def test_openai_reasoning_travels_back_through_an_anthropic_client(claude, upstream):
    events = recorded.responses_streams()[0]
    upstream.script("resp-claude", Reply.sse(recorded.responses_sse(events)))
    expected = recorded.responses_stream_answer(events)

    with claude.messages.stream(model="resp-claude", max_tokens=2000, messages=[{"role": "user", "content": "12+7"}],
                                tools=[{"name": "calculator", "input_schema": {"type": "object"}}],
                                thinking={"type": "enabled", "budget_tokens": 20000}) as stream:
        message = stream.get_final_message()

    thinking = [b for b in message.content if b.type == "thinking"]
    assert [b.thinking for b in thinking] == [expected["reasoning"]]
    (item_id, encrypted), = expected["encrypted"]
    assert thinking[0].signature == recorded.sealed("openai", f"{item_id}:{encrypted}")
    assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == expected["tools"]
    assert message.stop_reason == "tool_use"
    assert upstream.last("resp-claude").body["reasoning"] == {"effort": "high", "summary": "auto"}

    upstream.script("resp-claude-2", Reply.sse(recorded.responses_sse(recorded.responses_streams()[1])))
    call = next(b for b in message.content if b.type == "tool_use")
    claude.messages.create(model="resp-claude-2", max_tokens=100, messages=[
        {"role": "user", "content": "12+7"},
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "19"}]},
    ], extra_body={"stream": True})
    sent = upstream.last("resp-claude-2").body["input"]
    reasoning = [i for i in sent if i.get("type") == "reasoning"]
    assert reasoning == [{"type": "reasoning", "id": item_id, "encrypted_content": encrypted,
                          "summary": [{"type": "summary_text", "text": expected["reasoning"]}]}]
    assert {"type": "function_call_output", "call_id": call.id, "output": "19"} in sent


def test_responses_mock_and_failure_mid_stream(chat, upstream):
    response = chat.responses.create(model="mock-r", input="echo me")
    assert response.output_text == "echo me"

    cut = Reply.sse(wire("anthropic-tool-use.sdkpy.sse"))
    cut.body, cut.cut = cut.body[:4], True
    upstream.script("claude-r-cut", cut)
    failed = None
    for event in chat.responses.create(model="claude-r-cut", input="hi", stream=True):
        if event.type == "response.failed":
            failed = event
    assert failed is not None and "upstream" in failed.response.error.message


def test_namespace_tools_are_called_under_their_namespace(chat):
    namespace = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
                 "tools": [{"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]}
    response = chat.responses.create(model="mock-ns", input='please multi_agent_v1__close_agent {"target": "a1"}',
                                     tools=[namespace])
    call, = [item for item in response.output if item.type == "function_call"]
    assert (call.namespace, call.name, json.loads(call.arguments)) == ("multi_agent_v1", "close_agent", {"target": "a1"})
