// Streams whose upstream chunks cut events at odd bytes: the client still receives every event,
// passed through on a same-dialect route and translated on another.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { readChunks, splitEvery, sse, sseEvents, ssePayloads, startWorker, wire } from "./harness.mjs";
import { ANTHROPIC_KEY, AUTH, OPENAI_KEY, UPSTREAM, USER_HI, routingConfig, routingVars } from "./fixtures.mjs";

const worker = await startWorker({ vars: routingVars(), config: routingConfig() });
after(() => worker.dispose());

const CHAT_RECORDING = "openai-chat-tool.sdkpy.sse";
const ANTHROPIC_RECORDING = "anthropic-tool-use.sdkpy.sse";
const byEvent = (bytes) => bytes.toString().split(/(?<=\n\n)/);

/** POSTs a streaming `body` to `path` while the upstream sends `chunks`; the text the client got. */
async function streamed(path, body, chunks) {
  worker.upstream = () => sse(chunks);
  const response = await worker.post(path, { ...body, stream: true }, AUTH);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/event-stream/);
  const read = await readChunks(response);
  assert.equal(read.done, true, `the stream ended: ${read.error}`);
  return read.text;
}

for (const size of [1, 7]) {
  test(`a same-dialect Chat stream cut into ${size}-byte chunks passes through whole`, async () => {
    const recording = wire(CHAT_RECORDING);
    const text = await streamed("/v1/chat/completions", { model: "gpt-pass", messages: USER_HI }, splitEvery(recording, size));
    assert.deepEqual(sseEvents(text).map((e) => e.data), sseEvents(recording.toString()).map((e) => e.data),
      "every event, in order, unchanged, [DONE] included");

    const sent = worker.lastRequest();
    assert.equal(sent.url, `${UPSTREAM}/openai/v1/chat/completions`);
    assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.deepEqual(JSON.parse(sent.body), { model: "gpt-pass", messages: USER_HI, stream: true },
      "nothing is added on a passthrough");
  });
}

// `created` is the proxy's clock; everything else must not depend on where the chunks were cut.
const withoutClock = (payloads) => payloads.map(({ created, ...rest }) => rest);

test("a Chat stream from an Anthropic backend is the same whatever the chunk boundaries", async () => {
  const request = ["/v1/chat/completions", { model: "claude-translated", messages: USER_HI }];
  const whole = withoutClock(ssePayloads(await streamed(...request, byEvent(wire(ANTHROPIC_RECORDING)))));
  for (const size of [1, 7, 13]) {
    const text = await streamed(...request, splitEvery(wire(ANTHROPIC_RECORDING), size));
    assert.deepEqual(withoutClock(ssePayloads(text)), whole, `cut every ${size} bytes`);
    assert.equal(sseEvents(text).at(-1).data, "[DONE]");
  }

  const deltas = whole.flatMap((p) => p.choices.map((c) => c.delta));
  assert.equal(deltas.map((d) => d.content ?? "").join(""), "I'll check the current weather in Paris for you.");
  const calls = deltas.flatMap((d) => d.tool_calls ?? []);
  assert.deepEqual([calls[0].id, calls[0].function.name], ["toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather"]);
  assert.deepEqual(JSON.parse(calls.map((c) => c.function.arguments).join("")), { location: "Paris" });
  assert.equal(whole.at(-1).choices[0].finish_reason, "tool_calls");

  const sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/anthropic/v1/messages`);
  assert.equal(sent.headers["x-api-key"], ANTHROPIC_KEY);
  assert.equal(sent.headers["anthropic-version"], "2023-06-01");
  assert.deepEqual(JSON.parse(sent.body), { model: "claude-translated", max_tokens: 4096, stream: true,
    messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] });
});

test("a Messages stream from a Chat backend is the same whatever the chunk boundaries", async () => {
  const request = ["/v1/messages", { model: "gpt-translated", max_tokens: 50, messages: USER_HI }];
  const whole = sseEvents(await streamed(...request, byEvent(wire(CHAT_RECORDING))));
  for (const size of [1, 5]) {
    const events = sseEvents(await streamed(...request, splitEvery(wire(CHAT_RECORDING), size)));
    assert.deepEqual(events, whole, `cut every ${size} bytes`);
  }
  assert.deepEqual(whole.map((e) => e.event).filter((name, i, all) => name !== all[i - 1]),
    ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
  const input = whole.filter((e) => e.event === "content_block_delta").map((e) => JSON.parse(e.data).delta.partial_json);
  assert.deepEqual(JSON.parse(input.join("")), { city: "New York City" });

  const sent = JSON.parse(worker.lastRequest().body);
  assert.deepEqual(sent.stream_options, { include_usage: true }, "a translated Chat stream asks for usage");
});

test("CRLF line ends cut in the middle are read as well", async () => {
  const crlf = Buffer.from(wire(CHAT_RECORDING).toString().replaceAll("\n", "\r\n"));
  // Cut so that some \r and \n of one line end land in different chunks.
  const text = await streamed("/v1/chat/completions", { model: "gpt-crlf", messages: USER_HI }, splitEvery(crlf, 3));
  assert.deepEqual(sseEvents(text).map((e) => e.data), sseEvents(wire(CHAT_RECORDING).toString()).map((e) => e.data));
});
