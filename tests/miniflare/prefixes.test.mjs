// Vendor path prefixes other proxies' clients are configured with: `/openai/v1/…`,
// `/anthropic/v1/…`, `/gemini|/google/v1beta|v1/…` reach the same endpoints as the path without
// them, with model lists and errors in the prefix's dialect — and nothing else: no way to the
// admin API, no dot segment or encoded slash smuggled through.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, sse, ssePayloads, startWorker } from "./harness.mjs";
import {
  ANTHROPIC_KEY, AUTH, CLIENT_KEY, GEMINI_KEY, OPENAI_KEY, UPSTREAM, USER_HI,
  anthropicMessage, chatCompletion, geminiAnswer, routingConfig, routingVars,
} from "./fixtures.mjs";

const ADMIN_KEY = "admin-key-for-prefix-tests";
const worker = await startWorker({ vars: routingVars({ LLMPROXY_ADMIN_KEY: ADMIN_KEY }), config: routingConfig() });
after(() => worker.dispose());

const GEMINI_BODY = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };

test("/openai/v1 reaches Chat Completions and Responses as /v1 does", async () => {
  worker.upstream = () => json(chatCompletion("via prefix"));
  const response = await worker.post("/openai/v1/chat/completions", { model: "gpt-p", messages: USER_HI }, AUTH);
  assert.equal(response.status, 200);
  assert.equal((await readJson(response)).choices[0].message.content, "via prefix");
  const sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/openai/v1/chat/completions`);
  assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.deepEqual(JSON.parse(sent.body), { model: "gpt-p", messages: USER_HI });

  const responses = await worker.post("/openai/v1/responses", { model: "gpt-p", input: "hi" }, AUTH);
  assert.equal(responses.status, 200);
  assert.equal((await readJson(responses)).output[0].content[0].text, "via prefix");
});

test("/anthropic/v1 reaches Messages, streams and token counts as /v1 does", async () => {
  worker.upstream = (request) => request.url.endsWith("/count_tokens")
    ? json({ input_tokens: 7 })
    : sse([
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-p","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"streamed"}}\n\n',
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]);
  const headers = { "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01" };
  const body = { model: "claude-p", max_tokens: 5, stream: true, messages: USER_HI };
  const response = await worker.post("/anthropic/v1/messages", body, headers);
  assert.equal(response.status, 200);
  const deltas = ssePayloads(await response.text()).filter((e) => e.type === "content_block_delta");
  assert.equal(deltas[0].delta.text, "streamed");
  assert.equal(worker.lastRequest().url, `${UPSTREAM}/anthropic/v1/messages`);
  assert.equal(worker.lastRequest().headers["x-api-key"], ANTHROPIC_KEY);

  const count = await worker.post("/anthropic/v1/messages/count_tokens", { model: "claude-p", messages: USER_HI }, headers);
  assert.deepEqual(await readJson(count), { input_tokens: 7 });
});

for (const prefix of ["/gemini/v1beta", "/gemini/v1", "/google/v1beta", "/google/v1"]) {
  test(`${prefix} reaches generateContent as ${prefix.replace(/^\/\w+/, "")} does`, async () => {
    worker.upstream = () => json(geminiAnswer("from gemini"));
    const response = await worker.post(`${prefix}/models/gemini-p:generateContent`, GEMINI_BODY, { "x-goog-api-key": CLIENT_KEY });
    assert.equal(response.status, 200);
    assert.equal((await readJson(response)).candidates[0].content.parts[0].text, "from gemini");
    const sent = worker.lastRequest();
    assert.equal(sent.url, `${UPSTREAM}/gemini-api/v1beta/models/gemini-p:generateContent`);
    assert.equal(sent.headers["x-goog-api-key"], GEMINI_KEY);
  });
}

test("model lists take the shape of the prefix's dialect, whatever the headers say", async () => {
  const list = async (path, headers = {}) => readJson(await worker.fetch(path, { headers: { ...AUTH, ...headers } }));
  assert.equal((await list("/openai/v1/models")).object, "list");
  assert.equal((await list("/openai/v1/models", { "anthropic-version": "2023-06-01" })).object, "list");
  const claude = await list("/anthropic/v1/models");
  assert.equal(claude.has_more, false);
  assert.equal(claude.data[0].type, "model");
  for (const path of ["/gemini/v1beta/models", "/gemini/v1/models", "/google/v1/models"]) {
    const gemini = await list(path);
    assert.ok(gemini.models.some((model) => model.name === "models/fast"), `${path}: ${JSON.stringify(gemini)}`);
  }
});

test("errors come in the prefix's dialect", async () => {
  const before = worker.requests.length;
  let response = await worker.fetch("/anthropic/v1/nothing", { headers: AUTH });
  assert.equal(response.status, 404);
  assert.equal((await readJson(response)).type, "error");
  response = await worker.fetch("/gemini/v1/nothing", { headers: AUTH });
  assert.equal((await readJson(response)).error.status, "NOT_FOUND");
  response = await worker.post("/google/v1beta/models/gemini-p:generateContent", GEMINI_BODY, { "x-goog-api-key": "wrong" });
  assert.equal(response.status, 401);
  assert.equal((await readJson(response)).error.status, "UNAUTHENTICATED");
  response = await worker.post("/anthropic/v1/messages", { model: "claude-p", messages: USER_HI }, { "x-api-key": "wrong" });
  assert.equal((await readJson(response)).error.type, "authentication_error");
  assert.equal(worker.requests.length, before);
});

test("a prefix reaches no admin endpoint and smuggles no dot segment or encoded slash", async () => {
  worker.upstream = () => assert.fail("nothing may go upstream");
  for (const path of [
    "/openai/admin/keys",
    "/openai/v1/../admin/keys", // the runtime makes it /openai/admin/keys
    "/openai/v1/%2e%2e/admin/keys", // and this one too
    "/anthropic/v1/..%2Fadmin/keys",
    "/openai/v1/chat%2Fcompletions",
    "/openai/v1/chat%5Ccompletions",
    "/openai//v1/chat/completions",
    "/openai/v1//chat/completions",
    "/gemini/v1beta/models/..%2F..%2Fadmin:generateContent",
    "/openai/v2/chat/completions",
  ]) {
    for (const method of ["GET", "POST"]) {
      const response = await worker.fetch(path, { method, headers: { ...AUTH, "content-type": "application/json" },
        ...(method === "POST" && { body: JSON.stringify({ model: "gpt-p", messages: USER_HI }) }) });
      assert.equal(response.status, 404, `${method} ${path}`);
      const body = await readJson(response);
      assert.match(body.error.message, /no endpoint at \//, `${method} ${path}: ${JSON.stringify(body)}`);
    }
  }
  // The admin key opens nothing under a prefix: the request is a client's, and that key no client's.
  const admin = await worker.fetch("/openai/admin/keys", { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.deepEqual([admin.status, (await readJson(admin)).error.message], [401, "the API key is not valid"]);
  // A dot segment the runtime resolves before the worker sees the path leads where it would
  // without the prefix: the admin API, behind its own key.
  const resolved = await worker.fetch("/openai/%2e%2e/admin/keys", { headers: AUTH });
  assert.deepEqual([resolved.status, (await readJson(resolved)).error.message], [401, "the admin key is missing or not valid"]);
});
