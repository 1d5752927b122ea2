// Same dialect on both sides: the body goes upstream with only the model rewritten (and nothing
// added), the client's Anthropic version, betas and query go along, and the answer comes back
// byte for byte, streamed or not.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readChunks, readJson, sse, splitEvery, startWorker, stream, wire } from "./harness.mjs";
import { ANTHROPIC_KEY, AUTH, CLIENT_KEY, OPENAI_KEY, UPSTREAM, USER_HI, routingConfig, routingVars } from "./fixtures.mjs";

const config = routingConfig();
config.aliases.sonnet = "claude-alias-target";
const worker = await startWorker({ vars: routingVars(), config });
after(() => worker.dispose());

test("a Chat stream passes through byte for byte, with the alias resolved and unknown fields kept", async () => {
  const recording = wire("openai-chat-parallel-tools.sdkpy.sse");
  worker.upstream = () => sse(splitEvery(recording, 11));
  const body = { model: "fast", messages: USER_HI, stream: true, vendor_extension: { keep: [1, 2] },
    tools: [{ type: "function", function: { name: "GetWeatherArgs", parameters: { type: "object" } } }] };
  const read = await readChunks(await worker.post("/v1/chat/completions", body, AUTH));
  assert.equal(read.text, recording.toString());
  const sent = worker.lastRequest();
  assert.deepEqual(JSON.parse(sent.body), { ...body, model: "gpt-alias-target" }, "nothing added, nothing lost");
  assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.ok(!JSON.stringify(sent.headers).includes(CLIENT_KEY));
});

test("a body whose model is not renamed goes upstream as the very same bytes", async () => {
  worker.upstream = () => json(JSON.parse(wire("openai-chat-text.vercel.json")));
  const text = '{"model":"gpt-t-same",  "messages":[{"role":"user","content":"hi"}], "logprobs":false,"seed":3}';
  const response = await worker.fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", ...AUTH }, body: text });
  await readJson(response);
  assert.equal(worker.lastRequest().body, text);
});

test("a Messages stream passes through with the client's version, betas and query", async () => {
  const recording = wire("anthropic-tool-use.sdkpy.sse");
  worker.upstream = () => sse(splitEvery(recording, 5));
  const body = { model: "sonnet", max_tokens: 100, messages: USER_HI, stream: true, context_management: { edits: [] } };
  const read = await readChunks(await worker.post("/v1/messages?beta=true", body,
    { ...AUTH, "anthropic-beta": "fine-grained-tool-streaming-2025-05-14", "anthropic-version": "2099-01-01" }));
  assert.equal(read.text, recording.toString());
  const sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/anthropic/v1/messages?beta=true`);
  assert.equal(sent.headers["x-api-key"], ANTHROPIC_KEY);
  assert.equal(sent.headers["anthropic-beta"], "fine-grained-tool-streaming-2025-05-14");
  assert.equal(sent.headers["anthropic-version"], "2099-01-01", "the client's version is kept on a passthrough");
  assert.deepEqual(JSON.parse(sent.body), { ...body, model: "claude-alias-target" });
  assert.ok(!JSON.stringify(sent.headers).includes(CLIENT_KEY));
});

test("a whole Messages answer passes through untouched, with the upstream's request id", async () => {
  const recording = wire("anthropic-tool-use.vercel.json");
  worker.upstream = () => stream([recording], { contentType: "application/json", headers: { "request-id": "req_123" } });
  const response = await worker.post("/v1/messages", { model: "claude-t-same", max_tokens: 10, messages: USER_HI }, AUTH);
  assert.equal(response.headers.get("request-id"), "req_123");
  assert.equal(response.headers.get("x-llmproxy-backend"), "anthropic");
  assert.equal((await readChunks(response)).text, recording.toString());
});
