// CORS for browser clients: a preflight answered without a key, the CORS headers on every answer
// to an allowed origin (JSON, streams, errors), none at all for any other origin — one that only
// contains an allowed one, `null` — and none ever on the admin API.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, sse, startWorker } from "./harness.mjs";
import { AUTH, USER_HI, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";

const ALLOWED = "https://allowed.example.com";
const worker = await startWorker({
  vars: routingVars({ LLMPROXY_CORS_ORIGINS: `${ALLOWED}, http://localhost:5173`, LLMPROXY_ADMIN_KEY: "admin-key-cors" }),
  config: routingConfig(),
});
after(() => worker.dispose());

/** The response's CORS headers, by name. */
const corsOf = (response) =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("access-control-") || name === "vary"));

const SDK_HEADERS = "authorization, content-type, x-api-key, x-goog-api-key, anthropic-version, anthropic-beta, "
  + "x-stainless-os, x-stainless-retry-count, x-llmproxy-key";

const preflight = (path, origin, requested = SDK_HEADERS) => worker.fetch(path, {
  method: "OPTIONS",
  headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requested },
});

test("a preflight from an allowed origin is answered without a key, with what the SDKs send", async () => {
  const before = worker.requests.length;
  for (const path of ["/v1/chat/completions", "/v1/messages", "/v1beta/models/gemini-x:generateContent", "/anthropic/v1/messages"]) {
    const response = await preflight(path, ALLOWED);
    assert.equal(response.status, 204, path);
    const cors = corsOf(response);
    assert.equal(cors["access-control-allow-origin"], ALLOWED);
    assert.equal(cors.vary, "Origin");
    assert.match(cors["access-control-allow-methods"], /POST/);
    assert.equal(cors["access-control-allow-headers"], SDK_HEADERS);
    assert.equal(cors["access-control-max-age"], "86400");
    assert.equal(cors["access-control-allow-credentials"], undefined, "credentials never");
  }
  const odd = corsOf(await preflight("/v1/chat/completions", ALLOWED, "content-type, x-evil, cookie"));
  assert.equal(odd["access-control-allow-headers"], "content-type", "a header no SDK needs is not allowed");
  assert.equal(worker.requests.length, before, "nothing went upstream");
});

test("an origin not allowed whole, or null, gets no CORS header at all", async () => {
  worker.upstream = () => json(chatCompletion("served"));
  for (const origin of [`${ALLOWED}.evil.io`, "https://evil-allowed.example.com", `${ALLOWED}:8443`,
    "http://allowed.example.com", "null", "http://localhost:5174"]) {
    const response = await preflight("/v1/chat/completions", origin);
    assert.equal(response.status, 204, origin);
    assert.deepEqual(corsOf(response), {}, origin);
    const answer = await worker.post("/v1/chat/completions", { model: "gpt-c", messages: USER_HI }, { ...AUTH, origin });
    assert.equal(answer.status, 200, "served; the browser withholds it");
    assert.deepEqual(corsOf(answer), {}, origin);
    await answer.text();
  }
});

test("JSON answers, streams and errors to an allowed origin carry the CORS headers", async () => {
  const expectCors = (response, what) => {
    const cors = corsOf(response);
    assert.equal(cors["access-control-allow-origin"], ALLOWED, what);
    assert.equal(cors.vary, "Origin", what);
    for (const name of ["x-llmproxy-backend", "x-llmproxy-model", "x-llmproxy-attempts", "x-llmproxy-dropped", "retry-after"]) {
      assert.ok(cors["access-control-expose-headers"].includes(name), `${what}: ${name}`);
    }
  };
  const origin = { origin: ALLOWED };
  worker.upstream = () => json(chatCompletion("whole"));
  let response = await worker.post("/v1/chat/completions", { model: "gpt-c", messages: USER_HI }, { ...AUTH, ...origin });
  expectCors(response, "json");
  assert.equal(response.headers.get("x-llmproxy-backend"), "openai");
  assert.equal((await readJson(response)).choices[0].message.content, "whole");

  worker.upstream = () => sse([
    'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n',
    'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    "data: [DONE]\n\n",
  ]);
  response = await worker.post("/v1/chat/completions", { model: "gpt-c", stream: true, messages: USER_HI }, { ...AUTH, ...origin });
  expectCors(response, "stream");
  assert.match(await response.text(), /\[DONE\]/);

  response = await worker.post("/v1/messages", { model: "claude-c", max_tokens: 5, messages: USER_HI }, { "x-api-key": "wrong", ...origin });
  assert.equal(response.status, 401);
  expectCors(response, "an auth error");
  assert.equal((await readJson(response)).error.type, "authentication_error");

  worker.upstream = () => json({ error: { message: "slow down", type: "rate_limit_error" } }, { status: 429, headers: { "retry-after": "30" } });
  response = await worker.post("/v1/chat/completions", { model: "gpt-c", messages: USER_HI }, { ...AUTH, ...origin });
  assert.equal(response.status, 429);
  expectCors(response, "an upstream error");
  await response.text();

  response = await worker.fetch("/v1/models", { headers: { ...AUTH, ...origin } });
  expectCors(response, "a model list");
  await response.text();
  response = await worker.fetch("/healthz", { headers: origin });
  expectCors(response, "health");
  await response.text();
});

test("the admin API never carries CORS headers, not even for an allowed origin", async () => {
  const response = await preflight("/admin/keys", ALLOWED, "authorization");
  assert.equal(response.status, 204);
  assert.deepEqual(corsOf(response), {});
  for (const key of ["admin-key-cors", "wrong"]) {
    const answer = await worker.fetch("/admin/keys", { headers: { authorization: `Bearer ${key}`, origin: ALLOWED } });
    assert.deepEqual(corsOf(answer), {}, key);
    await answer.text();
  }
});
