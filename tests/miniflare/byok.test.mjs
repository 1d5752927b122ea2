// Bring your own key: a `byok` backend gets each client's own key, sent as its SDK sends keys,
// with the proxy's key in `x-llmproxy-key`; no key of the proxy ever goes upstream, a missing own
// key is a 401 in the client's dialect, and an own key the backend refuses is the client's
// answer (redacted, not retried elsewhere, no failure of the backend).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, startWorker } from "./harness.mjs";
import { CLIENT_KEY, OPENAI_KEY, UPSTREAM, USER_HI, anthropicMessage, chatCompletion, geminiAnswer, routingConfig, routingVars } from "./fixtures.mjs";

const OWN_KEY = "sk-users-own-openai-key-123456";
const PROXY = { "x-llmproxy-key": CLIENT_KEY };
const ISSUED_SHAPED = `sk-llmp-${"a".repeat(12)}-${"b".repeat(40)}`;

function byokConfig() {
  const config = routingConfig();
  config.backends.unshift(
    { name: "own-openai", kind: "openai", base_url: `${UPSTREAM}/own-openai/v1`, byok: true, models: ["byok-gpt-*"] },
    { name: "own-claude", kind: "anthropic", base_url: `${UPSTREAM}/own-claude`, byok: true, models: ["byok-claude-*"] },
    { name: "own-gemini", kind: "gemini", base_url: `${UPSTREAM}/own-gemini`, byok: true, models: ["byok-gemini-*"] },
  );
  // A failing own key must not send the request to a keyed fallback.
  config.routes = { "byok-gpt-routed": { targets: [{ backend: "own-openai" }, { backend: "openai", model: "gpt-fallback" }] } };
  return config;
}

const worker = await startWorker({ vars: routingVars(), config: byokConfig() });
after(() => worker.dispose());

const GEMINI_BODY = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };
const noProxyKeyIn = (sent) => assert.ok(!JSON.stringify(sent).includes(CLIENT_KEY), `the proxy's key went upstream: ${JSON.stringify(sent)}`);

test("each SDK's own key reaches its byok backend in the backend's header, the proxy's key stays here", async () => {
  worker.upstream = () => json(chatCompletion("own"));
  let response = await worker.post("/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI },
    { ...PROXY, authorization: `Bearer ${OWN_KEY}` });
  assert.equal((await readJson(response)).choices[0].message.content, "own");
  let sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/own-openai/v1/chat/completions`);
  assert.equal(sent.headers.authorization, `Bearer ${OWN_KEY}`);
  assert.equal(sent.headers["x-llmproxy-key"], undefined);
  noProxyKeyIn(sent);

  worker.upstream = () => json(anthropicMessage("own claude"));
  response = await worker.post("/v1/messages", { model: "byok-claude-x", max_tokens: 5, messages: USER_HI },
    { ...PROXY, "x-api-key": "sk-ant-own-key-abcdef", "anthropic-version": "2023-06-01" });
  assert.equal((await readJson(response)).content[0].text, "own claude");
  sent = worker.lastRequest();
  assert.equal(sent.headers["x-api-key"], "sk-ant-own-key-abcdef");
  noProxyKeyIn(sent);

  worker.upstream = () => json(geminiAnswer("own gemini"));
  for (const [headers, query] of [[{ "x-goog-api-key": "own-gemini-key-123" }, ""], [{}, "?key=own-gemini-key-123"]]) {
    response = await worker.post(`/v1beta/models/byok-gemini-x:generateContent${query}`, GEMINI_BODY, { ...PROXY, ...headers });
    assert.equal((await readJson(response)).candidates[0].content.parts[0].text, "own gemini");
    sent = worker.lastRequest();
    assert.equal(sent.url, `${UPSTREAM}/own-gemini/v1beta/models/byok-gemini-x:generateContent`, "no query goes upstream");
    assert.equal(sent.headers["x-goog-api-key"], "own-gemini-key-123");
    noProxyKeyIn(sent);
  }

  // A Chat client's own key, translated for the byok Anthropic backend.
  worker.upstream = () => json(anthropicMessage("translated"));
  response = await worker.post("/v1/chat/completions", { model: "byok-claude-x", messages: USER_HI }, { ...PROXY, authorization: `Bearer ${OWN_KEY}` });
  assert.equal((await readJson(response)).choices[0].message.content, "translated");
  assert.equal(worker.lastRequest().headers["x-api-key"], OWN_KEY);
});

test("without an own key, or with a key of the proxy in its place, it is a 401 in the client's dialect and nothing is sent", async () => {
  worker.upstream = () => assert.fail("nothing may go upstream");
  const before = worker.requests.length;
  const chat = ["/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI }, (body) => body.error.type];
  const claude = ["/v1/messages", { model: "byok-claude-x", max_tokens: 5, messages: USER_HI }, (body) => body.error.type];
  const gemini = ["/v1beta/models/byok-gemini-x:generateContent", GEMINI_BODY, (body) => body.error.status];
  const cases = [
    // The proxy's key where the own key goes, and nothing else: the proxy's key it is.
    [chat, { authorization: `Bearer ${CLIENT_KEY}` }, "authentication_error"],
    [claude, { "x-api-key": CLIENT_KEY }, "authentication_error"],
    [gemini, { "x-goog-api-key": CLIENT_KEY }, "UNAUTHENTICATED"],
    // The proxy's key apart and a proxy key (this one, another static one, an issued one) in the SDK's header.
    [chat, { ...PROXY, authorization: `Bearer ${CLIENT_KEY}` }, "authentication_error"],
    [chat, { ...PROXY, authorization: "Bearer another-key" }, "authentication_error"],
    [claude, { ...PROXY, "x-api-key": ISSUED_SHAPED }, "authentication_error"],
    [gemini, { ...PROXY, "x-goog-api-key": "another-key" }, "UNAUTHENTICATED"],
    [gemini, PROXY, "UNAUTHENTICATED"],
  ];
  for (const [[path, body, kindOf], headers, kind] of cases) {
    const response = await worker.post(path, body, headers);
    assert.equal(response.status, 401, `${path} ${JSON.stringify(headers)}`);
    const answer = await readJson(response);
    assert.equal(kindOf(answer), kind);
    assert.match(answer.error.message, /takes your own key/);
    assert.ok(!JSON.stringify(answer).includes(CLIENT_KEY));
  }
  assert.equal(worker.requests.length, before);
});

test("the proxy's key is still required: an own key alone is refused as the proxy's", async () => {
  const response = await worker.post("/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI }, { authorization: `Bearer ${OWN_KEY}` });
  assert.equal(response.status, 401);
  assert.equal((await readJson(response)).error.message, "the API key is not valid");
  const wrong = await worker.post("/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI },
    { "x-llmproxy-key": "wrong", authorization: `Bearer ${OWN_KEY}` });
  assert.equal(wrong.status, 401);
  await wrong.text();
});

test("a keyed backend keeps its own key when the client sends one of its own", async () => {
  worker.upstream = () => json(chatCompletion("keyed"));
  await readJson(await worker.post("/v1/chat/completions", { model: "gpt-keyed", messages: USER_HI }, { ...PROXY, authorization: `Bearer ${OWN_KEY}` }));
  const sent = worker.lastRequest();
  assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.ok(!JSON.stringify(sent).includes(OWN_KEY));
});

test("an own key the backend refuses is the client's answer: redacted, not retried elsewhere, no breaker opened", async () => {
  const bad = "sk-users-bad-key-0000000000";
  worker.upstream = (request) => json({ error: { message: `Incorrect API key provided: ${request.headers.get("authorization").slice(7)}`,
    type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });
  for (let i = 0; i < 7; i++) {
    const before = worker.requests.length;
    const response = await worker.post("/v1/chat/completions", { model: "byok-gpt-routed", messages: USER_HI },
      { ...PROXY, authorization: `Bearer ${bad}` });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("x-llmproxy-attempts"), "1");
    const text = await response.text();
    assert.ok(!text.includes(bad) && text.includes("[redacted]"), text);
    assert.equal(worker.requests.length, before + 1, "one attempt, no fallback to the keyed backend");
  }
  // More refusals than the breaker allows, yet the next user's good key is served.
  worker.upstream = () => json(chatCompletion("served"));
  const response = await worker.post("/v1/chat/completions", { model: "byok-gpt-routed", messages: USER_HI },
    { ...PROXY, authorization: `Bearer ${OWN_KEY}` });
  assert.equal((await readJson(response)).choices[0].message.content, "served");
  assert.equal(worker.lastRequest().url, `${UPSTREAM}/own-openai/v1/chat/completions`);
});

test("an anonymous worker relays to a byok backend with the client's own key alone", async () => {
  const vars = routingVars({ LLMPROXY_ALLOW_ANONYMOUS: "true" });
  delete vars.LLMPROXY_API_KEY;
  const open = await startWorker({ vars, config: byokConfig() });
  try {
    open.upstream = () => json(chatCompletion("relayed"));
    let response = await open.post("/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI }, { authorization: `Bearer ${OWN_KEY}` });
    assert.equal((await readJson(response)).choices[0].message.content, "relayed");
    assert.equal(open.lastRequest().headers.authorization, `Bearer ${OWN_KEY}`);
    response = await open.post("/v1/chat/completions", { model: "byok-gpt-4o", messages: USER_HI });
    assert.equal(response.status, 401);
    assert.match((await readJson(response)).error.message, /takes your own key/);
  } finally {
    await open.dispose();
  }
});
