// The routing config in KV: an edit takes effect without a restart, an invalid one is an error
// naming its field (and is not cached), and a model nobody serves is a 404 naming it.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, startWorker } from "./harness.mjs";
import { AUTH, OPENAI_KEY, UPSTREAM, USER_HI, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";

const worker = await startWorker({ vars: routingVars(), config: routingConfig() });
after(() => worker.dispose());

const chat = (target, model, content = "hi") =>
  target.post("/v1/chat/completions", { model, messages: [{ role: "user", content }] }, AUTH);

test("an edit in KV takes effect on the next request", async () => {
  worker.upstream = () => json(chatCompletion("from upstream"));
  let response = await chat(worker, "brand-new-alias");
  assert.equal(response.status, 404, "unknown before the edit");
  await readJson(response);

  const edited = routingConfig();
  edited.aliases["brand-new-alias"] = "gpt-aliased";
  edited.backends[0].base_url = `${UPSTREAM}/moved/v1`;
  await worker.putConfig(edited);
  try {
    response = await chat(worker, "brand-new-alias");
    assert.equal(response.status, 200);
    assert.equal((await readJson(response)).choices[0].message.content, "from upstream");
    const sent = worker.lastRequest();
    assert.equal(sent.url, `${UPSTREAM}/moved/v1/chat/completions`);
    assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(JSON.parse(sent.body).model, "gpt-aliased", "the alias is resolved");
  } finally {
    await worker.putConfig(routingConfig());
  }
  response = await chat(worker, "brand-new-alias");
  assert.equal(response.status, 404, "the edit is undone as soon");
  await readJson(response);
});

test("an alias resolves to its target on the backend that serves it", async () => {
  worker.upstream = () => json(chatCompletion("fast answer"));
  const response = await chat(worker, "fast");
  assert.equal((await readJson(response)).choices[0].message.content, "fast answer");
  assert.equal(response.headers.get("x-llmproxy-backend"), "openai");
  const sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/openai/v1/chat/completions`);
  assert.deepEqual(JSON.parse(sent.body), { model: "gpt-alias-target", messages: USER_HI });
});

test("an unknown model is a 404 naming it, in each dialect", async () => {
  const sentBefore = worker.requests.length;
  let response = await chat(worker, "nobody-serves-this");
  assert.equal(response.status, 404);
  let body = await readJson(response);
  assert.equal(body.error.type, "not_found_error");
  assert.match(body.error.message, /`nobody-serves-this`/);

  response = await worker.post("/v1/messages", { model: "nobody-serves-this", max_tokens: 5, messages: USER_HI }, AUTH);
  assert.equal(response.status, 404);
  body = await readJson(response);
  assert.deepEqual([body.type, body.error.type], ["error", "not_found_error"]);
  assert.match(body.error.message, /`nobody-serves-this`/);
  assert.equal(worker.requests.length, sentBefore, "nothing went upstream");
});

test("an invalid config is a 500 naming the field, and its fix is used at once", async () => {
  const broken = routingConfig();
  broken.backends[1].kind = "antropic";
  // A worker of its own, with the default config cache: a config that failed is not kept.
  const fresh = await startWorker({ vars: routingVars({ LLMPROXY_CONFIG_TTL_SECONDS: "30" }), config: broken });
  try {
    const response = await fresh.post("/v1/messages", { model: "mock-x", max_tokens: 5, messages: USER_HI }, AUTH);
    assert.equal(response.status, 500);
    const body = await readJson(response);
    assert.equal(body.error.type, "api_error");
  assert.match(body.error.message, /invalid config: backends\[1\]\.kind: unknown kind `antropic`/);

    await fresh.putConfig(routingConfig());
    const fixed = await fresh.post("/v1/messages", { model: "mock-x", max_tokens: 5, messages: [{ role: "user", content: "fixed" }] }, AUTH);
    assert.equal(fixed.status, 200);
    assert.equal((await readJson(fixed)).content[0].text, "fixed");
  } finally {
    await fresh.dispose();
  }
});

test("with a config cache, an edit waits for it to expire", async () => {
  const cached = await startWorker({ vars: routingVars({ LLMPROXY_CONFIG_TTL_SECONDS: "30" }), config: routingConfig() });
  try {
    const first = await chat(cached, "mock-before", "before");
    assert.equal((await readJson(first)).choices[0].message.content, "before");
    const edited = routingConfig();
    edited.aliases["brand-new-alias"] = "mock-after";
    await cached.putConfig(edited);
    const response = await chat(cached, "brand-new-alias");
    assert.equal(response.status, 404, "the cached config has no such alias yet");
    await readJson(response);
  } finally {
    await cached.dispose();
  }
});

test("text that is not JSON is an invalid config too", async () => {
  await worker.putConfig("{not json");
  try {
    const response = await chat(worker, "mock-x");
    assert.equal(response.status, 500);
    assert.match((await readJson(response)).error.message, /invalid config/);
  } finally {
    await worker.putConfig(routingConfig());
  }
});

test("with no config in KV, the zero-config vars route every model to their one backend", async () => {
  const zero = await startWorker({ vars: { LLMPROXY_BACKEND: "anthropic", LLMPROXY_BASE_URL: `${UPSTREAM}/zero`,
    ANTHROPIC_API_KEY: "sk-zero" } });
  try {
    zero.upstream = () => json({ id: "msg_1", type: "message", role: "assistant", model: "any", stop_reason: "end_turn",
      content: [{ type: "text", text: "zero" }], usage: { input_tokens: 1, output_tokens: 1 } });
    for (const model of ["any-model-at-all", "vendor/with/slashes"]) {
      const answer = await readJson(await chat(zero, model));
      assert.equal(answer.choices[0].message.content, "zero");
      const sent = zero.lastRequest();
      assert.equal(sent.url, `${UPSTREAM}/zero/v1/messages`);
      assert.equal(sent.headers["x-api-key"], "sk-zero");
      assert.equal(JSON.parse(sent.body).model, model);
    }
    const none = await startWorker({ vars: {} });
    try {
      const response = await chat(none, "gpt-x");
      assert.equal(response.status, 500);
      assert.match((await readJson(response)).error.message, /no config: put one under the key `config`/);
    } finally {
      await none.dispose();
    }
  } finally {
    await zero.dispose();
  }
});

test("a config in the var LLMPROXY_CONFIG serves when KV holds none, and KV's wins", async () => {
  const varConfig = { backends: [{ name: "from-var", kind: "mock", models: ["**"] }] };
  const fromVar = await startWorker({ vars: { LLMPROXY_CONFIG: JSON.stringify(varConfig), LLMPROXY_CONFIG_TTL_SECONDS: "0" } });
  try {
    let response = await chat(fromVar, "anything", "echo me");
    assert.equal(response.headers.get("x-llmproxy-backend"), "from-var");
    assert.equal((await readJson(response)).choices[0].message.content, "echo me");
    await fromVar.putConfig({ backends: [{ name: "from-kv", kind: "mock", models: ["**"] }] });
    response = await chat(fromVar, "anything");
    assert.equal(response.headers.get("x-llmproxy-backend"), "from-kv");
    await readJson(response);
  } finally {
    await fromVar.dispose();
  }
});
