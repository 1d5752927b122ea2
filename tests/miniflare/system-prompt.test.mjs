// A route's system prompt rewrite as the upstream receives it: passed through in the client's own
// shape (other fields untouched), translated for a backend of another dialect, streamed or not,
// and bounded: a rewrite that would grow a prompt without end is refused before anything is sent.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, sse, ssePayloads, startWorker } from "./harness.mjs";
import { AUTH, CLIENT_KEY, UPSTREAM, anthropicMessage, chatCompletion, geminiAnswer, routingConfig, routingVars } from "./fixtures.mjs";

const REWRITE = {
  replace: [{ find: "Claude Code", replace: "the team agent" }, { find: "INTERNAL", replace: "" }],
  append: "Answer in French.",
};
const config = routingConfig();
config.routes = {
  "claude-team": { targets: [{ backend: "anthropic" }], system_prompt: REWRITE },
  "gpt-team": { targets: [{ backend: "openai" }], system_prompt: REWRITE },
  "gemini-team": { targets: [{ backend: "gemini" }], system_prompt: REWRITE },
  // Each `a` becomes 2000 bytes: a long enough prompt would grow past any bound.
  "gpt-grow": { targets: [{ backend: "openai" }], system_prompt: { replace: [{ find: "a", replace: "b".repeat(2000) }] } },
};
// A body limit that lets a prompt of some size through.
const worker = await startWorker({ vars: routingVars({ LLMPROXY_MAX_BODY_BYTES: "1000000" }), config });
after(() => worker.dispose());

const CLAUDE = { "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01" };
const sentBody = () => JSON.parse(worker.lastRequest().body);

test("an Anthropic client's system blocks are rewritten in place on a passthrough", async () => {
  worker.upstream = () => json(anthropicMessage("ok"));
  const system = [{ type: "text", text: "You are Claude Code. INTERNAL", cache_control: { type: "ephemeral" } }];
  const body = { model: "claude-team", max_tokens: 5, system, metadata: { user_id: "u" }, messages: [{ role: "user", content: "Claude Code?" }] };
  const response = await worker.post("/v1/messages", body, CLAUDE);
  assert.equal((await readJson(response)).content[0].text, "ok");
  const sent = sentBody();
  assert.deepEqual(sent.system, [
    { type: "text", text: "You are the team agent. ", cache_control: { type: "ephemeral" } },
    { type: "text", text: "Answer in French." },
  ]);
  assert.deepEqual(sent.messages, body.messages, "the user's words are not the system prompt");
  assert.deepEqual(sent.metadata, body.metadata);
});

test("a Chat client with no system prompt gets the appended text as one, passed through or translated", async () => {
  worker.upstream = () => json(chatCompletion("ok"));
  await readJson(await worker.post("/v1/chat/completions", { model: "gpt-team", messages: [{ role: "user", content: "hi" }] }, AUTH));
  assert.deepEqual(sentBody().messages, [{ role: "system", content: "Answer in French." }, { role: "user", content: "hi" }]);

  worker.upstream = () => json(anthropicMessage("ok"));
  const body = { model: "claude-team", messages: [{ role: "developer", content: "Be Claude Code." }, { role: "user", content: "hi" }] };
  await readJson(await worker.post("/v1/chat/completions", body, AUTH));
  const sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/anthropic/v1/messages`);
  assert.equal(JSON.parse(sent.body).system, "Be the team agent.\n\nAnswer in French.");
});

test("a streamed Responses request translated for Anthropic carries its rewritten instructions", async () => {
  worker.upstream = () => sse([
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}\n\n',
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"oui"}}\n\n',
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
  ]);
  const body = { model: "claude-team", stream: true, instructions: "You are Claude Code.", input: "hi" };
  const events = ssePayloads(await (await worker.post("/v1/responses", body, AUTH)).text());
  assert.equal(events.at(-1).type, "response.completed");
  assert.equal(sentBody().system, "You are the team agent.\n\nAnswer in French.");
});

test("a Gemini client's systemInstruction gets the appended part; token counts see the rewrite", async () => {
  worker.upstream = () => json(geminiAnswer("ok"));
  const body = { contents: [{ role: "user", parts: [{ text: "hi" }] }], systemInstruction: { parts: [{ text: "INTERNAL rules" }] } };
  await readJson(await worker.post("/v1beta/models/gemini-team:generateContent", body, { "x-goog-api-key": CLIENT_KEY }));
  assert.deepEqual(sentBody().systemInstruction, { parts: [{ text: " rules" }, { text: "Answer in French." }] });
  assert.deepEqual(sentBody().contents, body.contents);

  worker.upstream = () => json({ totalTokens: 3 });
  await readJson(await worker.post("/v1beta/models/gemini-team:countTokens", body, { "x-goog-api-key": CLIENT_KEY }));
  assert.match(worker.lastRequest().url, /:countTokens$/);
  assert.equal(sentBody().systemInstruction.parts[1].text, "Answer in French.");
});

test("a rewrite that would grow the prompt past its bound is a 413 in the client's dialect, and nothing is sent", async () => {
  worker.upstream = () => assert.fail("nothing may go upstream");
  const before = worker.requests.length;
  const chat = { model: "gpt-grow", messages: [{ role: "system", content: "a".repeat(1000) }, { role: "user", content: "hi" }] };
  let response = await worker.post("/v1/chat/completions", chat, AUTH);
  assert.equal(response.status, 413);
  assert.match((await readJson(response)).error.message, /would add more than 1048576 bytes/);
  const claude = { model: "gpt-grow", max_tokens: 5, system: "a".repeat(1000), messages: [{ role: "user", content: "hi" }] };
  response = await worker.post("/v1/messages", claude, CLAUDE);
  assert.equal(response.status, 413);
  assert.equal((await readJson(response)).error.type, "request_too_large");
  assert.equal(worker.requests.length, before);
  // Within the bound, it is made.
  worker.upstream = () => json(chatCompletion("ok"));
  chat.messages[0].content = "a".repeat(100);
  await readJson(await worker.post("/v1/chat/completions", chat, AUTH));
  assert.equal(sentBody().messages[0].content.length, 200_000);
});
