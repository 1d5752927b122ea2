// Failures reach the client in its own dialect with the right status: a body too large, an
// upstream's 4xx/5xx, and a stream that breaks off after it began.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  json, readChunks, readJson, resetMidBody, sse, sseEvents, ssePayloads, startWorker, wire, withTimeout,
} from "./harness.mjs";
import { AUTH, MAX_BODY_BYTES, USER_HI, routingConfig, routingVars } from "./fixtures.mjs";

const worker = await startWorker({ vars: routingVars(), config: routingConfig() });
after(() => worker.dispose());

/** A recording's events up to and including the first one containing `marker`. */
function eventsThrough(name, marker) {
  const events = wire(name).toString().split(/(?<=\n\n)/);
  return events.slice(0, events.findIndex((e) => e.includes(marker)) + 1);
}

test("malformed JSON is a 400 in each dialect", async () => {
  for (const [path, text, kindOf] of [
    ["/v1/chat/completions", "{not json", (body) => body.error.type],
    ["/v1/messages", "[1,", (body) => body.type === "error" && body.error.type],
    ["/v1/responses", "{", (body) => body.error.type],
  ]) {
    const response = await worker.fetch(path, { method: "POST", headers: { "content-type": "application/json", ...AUTH }, body: text });
    assert.equal(response.status, 400, path);
    const body = await readJson(response);
    assert.equal(kindOf(body), "invalid_request_error", path);
    assert.match(body.error.message, /not valid JSON/);
  }
  const response = await worker.fetch("/v1beta/models/gemini-x:generateContent",
    { method: "POST", headers: AUTH, body: "{\"contents\": [" });
  assert.equal(response.status, 400);
  assert.equal((await readJson(response)).error.status, "INVALID_ARGUMENT");
});

test("a body larger than LLMPROXY_MAX_BODY_BYTES is a 413, in the Chat and Messages shapes", async () => {
  worker.upstream = () => assert.fail("the upstream must not be called");
  const sentBefore = worker.requests.length;
  const huge = "x".repeat(MAX_BODY_BYTES + 10);
  let response = await worker.post("/v1/chat/completions", { model: "gpt-big", messages: [{ role: "user", content: huge }] }, AUTH);
  assert.equal(response.status, 413);
  let body = await readJson(response);
  assert.equal(body.error.type, "invalid_request_error");
  assert.equal(body.error.message, `the request body is larger than ${MAX_BODY_BYTES} bytes`);

  response = await worker.post("/v1/messages", { model: "claude-big", max_tokens: 5, messages: [{ role: "user", content: huge }] }, AUTH);
  assert.equal(response.status, 413);
  body = await readJson(response);
  assert.deepEqual([body.type, body.error.type], ["error", "request_too_large"]);

  // Without a content-length the limit holds all the same, once the body is read.
  const chunked = new Blob([JSON.stringify({ model: "gpt-big", messages: [{ role: "user", content: huge }] })]).stream();
  response = await worker.fetch("/v1/chat/completions", { method: "POST", headers: AUTH, body: chunked, duplex: "half" });
  assert.equal(response.status, 413);
  await readJson(response);
  assert.equal(worker.requests.length, sentBefore);
});

test("a body just under the limit is accepted", async () => {
  const padding = "y".repeat(MAX_BODY_BYTES - 200);
  const response = await worker.post("/v1/chat/completions", { model: "mock-small", messages: [{ role: "user", content: padding }] }, AUTH);
  assert.equal(response.status, 200);
  assert.equal((await readJson(response)).choices[0].message.content, padding);
});

test("an upstream 429 keeps its status and message across dialects", async () => {
  worker.upstream = () => json({ type: "error", error: { type: "rate_limit_error",
    message: "Number of requests has exceeded your rate limit" } }, { status: 429 });
  const response = await worker.post("/v1/chat/completions", { model: "claude-t-429", messages: USER_HI }, AUTH);
  assert.equal(response.status, 429);
  const body = await readJson(response);
  assert.equal(body.error.type, "rate_limit_error");
  assert.match(body.error.message, /Number of requests has exceeded your rate limit/);
});

test("an upstream 500 keeps its status and message across dialects", async () => {
  worker.upstream = () => json({ error: { message: "The server had an error", type: "server_error" } }, { status: 500 });
  const response = await worker.post("/v1/messages", { model: "gpt-t-500", max_tokens: 5, messages: USER_HI }, AUTH);
  assert.equal(response.status, 500);
  const body = await readJson(response);
  assert.deepEqual([body.type, body.error.type], ["error", "api_error"]);
  assert.match(body.error.message, /The server had an error/);
});

test("an upstream error on a same-dialect route comes back unchanged", async () => {
  const overloaded = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
  worker.upstream = () => json(overloaded, { status: 529 });
  let response = await worker.post("/v1/messages", { model: "claude-t-529", max_tokens: 5, messages: USER_HI }, AUTH);
  assert.equal(response.status, 529);
  assert.deepEqual(await readJson(response), overloaded);

  const invalid = { error: { message: "Invalid 'messages': empty array", type: "invalid_request_error", param: "messages", code: "empty_array" } };
  worker.upstream = () => json(invalid, { status: 400 });
  response = await worker.post("/v1/chat/completions", { model: "gpt-t-400", messages: [] }, AUTH);
  assert.equal(response.status, 400);
  assert.deepEqual(await readJson(response), invalid);
});

test("a reset mid-stream becomes an error chunk for a Chat client of an Anthropic backend", async () => {
  worker.upstream = () => resetMidBody(eventsThrough("anthropic-tool-use.sdkpy.sse", "text_delta"));
  const response = await worker.post("/v1/chat/completions", { model: "claude-t-cut", messages: USER_HI, stream: true }, AUTH);
  assert.equal(response.status, 200);
  const body = await readChunks(response);
  assert.equal(body.done, true, "the client's stream ends properly");
  const payloads = ssePayloads(body.text);
  const text = payloads.flatMap((p) => p.choices ?? []).map((c) => c.delta?.content ?? "").join("");
  assert.equal(text, "I", "what came before the reset was delivered");
  const last = payloads.at(-1);
  assert.equal(last.error.type, "api_error");
  assert.equal(last.error.message, "reading the upstream failed: Network connection lost.");
  assert.ok(!body.text.includes("[DONE]"), "a failed stream is not marked done");
});

test("a reset mid-stream becomes an error event for a Messages client of a Chat backend", async () => {
  worker.upstream = () => resetMidBody(eventsThrough("openai-chat-tool.sdkpy.sse", "arguments\":\"{"));
  const response = await worker.post("/v1/messages", { model: "gpt-t-cut", max_tokens: 5, messages: USER_HI, stream: true }, AUTH);
  const events = sseEvents((await readChunks(response)).text);
  assert.equal(events[0].event, "message_start");
  const last = events.at(-1);
  assert.equal(last.event, "error");
  assert.deepEqual(JSON.parse(last.data), { type: "error",
    error: { type: "api_error", message: "reading the upstream failed: Network connection lost." } });
  assert.ok(!events.some((e) => e.event === "message_stop"));
});

test("a reset mid-stream on a same-dialect route becomes an error chunk", async () => {
  worker.upstream = () => resetMidBody(eventsThrough("openai-chat-tool.sdkpy.sse", "city"));
  const response = await worker.post("/v1/chat/completions", { model: "gpt-t-cut", messages: USER_HI, stream: true }, AUTH);
  const payloads = ssePayloads((await readChunks(response)).text);
  assert.equal(payloads.length, 4, "the three events sent, then the error");
  assert.match(payloads.at(-1).error.message, /Network connection lost/);
});

test("a stream that ends cleanly before its end marker becomes an error too, translated or not", async () => {
  worker.upstream = () => sse(eventsThrough("anthropic-tool-use.sdkpy.sse", "input_json_delta"));
  let response = await worker.post("/v1/chat/completions", { model: "claude-t-short", messages: USER_HI, stream: true }, AUTH);
  let last = ssePayloads((await readChunks(response)).text).at(-1);
  assert.equal(last.error.message, "the upstream stream ended before the answer was complete");

  worker.upstream = () => sse(eventsThrough("openai-chat-tool.sdkpy.sse", "arguments"));
  response = await worker.post("/v1/chat/completions", { model: "gpt-t-short", messages: USER_HI, stream: true }, AUTH);
  last = ssePayloads((await readChunks(response)).text).at(-1);
  assert.equal(last.error.message, "the upstream stream ended before the answer was complete");

  worker.upstream = () => sse(eventsThrough("anthropic-tool-use.sdkpy.sse", "input_json_delta"));
  response = await worker.post("/v1/messages", { model: "claude-t-short", max_tokens: 5, messages: USER_HI, stream: true }, AUTH);
  const events = sseEvents((await readChunks(response)).text);
  assert.equal(events.at(-1).event, "error");
  assert.equal(JSON.parse(events.at(-1).data).error.message, "the upstream stream ended before the answer was complete");
});

for (const [model, recording] of [["claude-t-gated", "anthropic-tool-use.sdkpy.sse"], ["gpt-t-gated", "openai-chat-tool.sdkpy.sse"]]) {
  test(`the first event reaches the client while the upstream still holds the rest (${model})`, async () => {
    const events = wire(recording).toString().split(/(?<=\n\n)/);
    let released;
    const gate = new Promise((resolve) => (released = resolve));
    // The upstream sends two events, then the rest only once the client has read its first one.
    worker.upstream = () => {
      const response = sse([events[0], events[1]]);
      const reader = response.body.getReader();
      const rest = new ReadableStream({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (!done) return controller.enqueue(value);
          await gate;
          for (const event of events.slice(2)) controller.enqueue(new TextEncoder().encode(event));
          controller.close();
        },
      });
      return new Response(rest, { headers: response.headers });
    };
    const response = await worker.post("/v1/messages", { model, max_tokens: 5, messages: USER_HI, stream: true }, AUTH);
    const reader = response.body.getReader();
    const { value } = await withTimeout(reader.read(), 5000, "the first event");
    assert.match(new TextDecoder().decode(value), /^event: message_start\n/, "the first event, before the upstream's rest");
    released();
    let text = new TextDecoder().decode(value);
    for (;;) {
      const chunk = await withTimeout(reader.read(), 5000, "the rest of the stream");
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    const stop = sseEvents(text).find((e) => e.event === "message_delta");
    assert.equal(JSON.parse(stop.data).delta.stop_reason, "tool_use");
  });
}

test("an upstream error event becomes the client's error", async () => {
  const events = eventsThrough("anthropic-tool-use.sdkpy.sse", "text_delta");
  events.push('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n');
  worker.upstream = () => sse(events);
  const response = await worker.post("/v1/chat/completions", { model: "claude-t-error-event", messages: USER_HI, stream: true }, AUTH);
  const payloads = ssePayloads((await readChunks(response)).text);
  assert.equal(payloads.at(-1).error.message, "Overloaded");
  const text = payloads.map((p) => p.choices?.[0]?.delta?.content ?? "").join("");
  assert.equal(text, "I", "what came before the failure was delivered");
});
