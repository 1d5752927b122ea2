// The built-in mock backend in every dialect, the model list, and token counting.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readChunks, readJson, sseEvents, ssePayloads, startWorker } from "./harness.mjs";
import { AUTH, UPSTREAM, routingConfig, routingVars } from "./fixtures.mjs";

const config = routingConfig();
config.aliases.sonnet = "claude-alias-target";
const worker = await startWorker({ vars: routingVars(), config });
after(() => worker.dispose());

const user = (content) => [{ role: "user", content }];
const WEATHER_CHAT = { type: "function", function: { name: "get_weather", parameters: { type: "object" } } };

test("the mock echoes the last user message to Chat clients, whole and streamed", async () => {
  const whole = await readJson(await worker.post("/v1/chat/completions", { model: "mock-echo", messages: user("hello mock") }, AUTH));
  assert.equal(whole.choices[0].message.content, "hello mock");
  assert.equal(whole.choices[0].finish_reason, "stop");
  assert.ok(whole.usage.prompt_tokens > 0);
  const streamed = await readChunks(await worker.post("/v1/chat/completions",
    { model: "mock-echo", messages: user("streamed hello"), stream: true, stream_options: { include_usage: true } }, AUTH));
  const chunks = ssePayloads(streamed.text);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "streamed hello");
  assert.ok(chunks.at(-1).usage.completion_tokens > 0);
  assert.match(streamed.text, /data: \[DONE\]\n\n$/);
});

test("the mock calls a tool its message names, with the arguments written there, and reads its result", async () => {
  const messages = user('please get_weather {"city": "Oslo"}');
  const first = await readJson(await worker.post("/v1/chat/completions", { model: "mock-tools", messages, tools: [WEATHER_CHAT] }, AUTH));
  const call = first.choices[0].message.tool_calls[0];
  assert.deepEqual([call.function.name, JSON.parse(call.function.arguments)], ["get_weather", { city: "Oslo" }]);
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "cloudy" });
  const second = await readJson(await worker.post("/v1/chat/completions", { model: "mock-tools", messages, tools: [WEATHER_CHAT] }, AUTH));
  assert.equal(second.choices[0].message.content, `tool ${call.id} returned: cloudy`);
});

test("the mock answers Messages clients, and tool_choice any makes it call the first tool", async () => {
  const message = await readJson(await worker.post("/v1/messages", { model: "mock-echo", max_tokens: 20, messages: user("hi claude") }, AUTH));
  assert.deepEqual([message.content[0].text, message.stop_reason], ["hi claude", "end_turn"]);
  const streamed = await readChunks(await worker.post("/v1/messages", { model: "mock-tools", max_tokens: 20, stream: true,
    tools: [{ name: "get_weather", input_schema: { type: "object" } }], tool_choice: { type: "any" }, messages: user("anything") }, AUTH));
  const events = sseEvents(streamed.text).map((e) => JSON.parse(e.data));
  const start = events.find((e) => e.type === "content_block_start").content_block;
  const input = events.filter((e) => e.delta?.type === "input_json_delta").map((e) => e.delta.partial_json).join("");
  assert.deepEqual([start.type, start.name, JSON.parse(input)], ["tool_use", "get_weather", {}]);
  assert.equal(events.find((e) => e.type === "message_delta").delta.stop_reason, "tool_use");
});

test("models are listed in each dialect's shape, aliases with the backend that serves them", async () => {
  const openai = await readJson(await worker.fetch("/v1/models", { headers: AUTH }));
  const owners = Object.fromEntries(openai.data.map((m) => [m.id, m.owned_by]));
  assert.deepEqual([owners.fast, owners.sonnet], ["openai", "anthropic"]);
  assert.ok(!openai.data.some((m) => m.id.includes("*")));
  const anthropic = await readJson(await worker.fetch("/v1/models", { headers: { ...AUTH, "anthropic-version": "2023-06-01" } }));
  assert.ok(anthropic.data.some((m) => m.id === "sonnet" && m.type === "model") && anthropic.has_more === false);
  const gemini = await readJson(await worker.fetch("/v1beta/models", { headers: AUTH }));
  assert.ok(gemini.models.some((m) => m.name === "models/fast"));
});

test("token counts are the backend's where it speaks the client's dialect, and a marked estimate elsewhere", async () => {
  worker.upstream = () => json({ input_tokens: 42 });
  const native = await worker.post("/v1/messages/count_tokens", { model: "claude-t-count", messages: user("hi") }, AUTH);
  assert.equal((await readJson(native)).input_tokens, 42);
  assert.equal(worker.lastRequest().url, `${UPSTREAM}/anthropic/v1/messages/count_tokens`);
  const before = worker.requests.length;
  const estimated = await worker.post("/v1/messages/count_tokens",
    { model: "gpt-t-count", system: "Be brief.", messages: user("Hello there, how are you?") }, AUTH);
  // About four characters a token: "Be brief." is 9 characters (3), the message 25 (7).
  assert.equal((await readJson(estimated)).input_tokens, 10);
  assert.equal(estimated.headers.get("x-llmproxy-estimate"), "true");
  assert.equal(worker.requests.length, before, "an estimate calls no upstream");
});
