// Client authentication: the key in any of the ways an SDK sends it, a 401 in the client's own
// dialect without it, and only the backend's own key going upstream.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readJson, startWorker } from "./harness.mjs";
import {
  ANTHROPIC_KEY, CLIENT_KEY, GEMINI_KEY, OPENAI_KEY, UPSTREAM, USER_HI,
  anthropicMessage, chatCompletion, geminiAnswer, routingConfig, routingVars,
} from "./fixtures.mjs";

const worker = await startWorker({ vars: routingVars(), config: routingConfig() });
after(() => worker.dispose());

const WAYS = {
  "Authorization: Bearer": [{ authorization: `Bearer ${CLIENT_KEY}` }, ""],
  "x-api-key": [{ "x-api-key": CLIENT_KEY }, ""],
  "x-goog-api-key": [{ "x-goog-api-key": CLIENT_KEY }, ""],
  "the key query parameter": [{}, `?key=${CLIENT_KEY}`],
};

for (const [way, [headers, query]] of Object.entries(WAYS)) {
  test(`the key is accepted in ${way}, and only the backend's key goes upstream`, async () => {
    worker.upstream = () => json(chatCompletion("ok"));
    const response = await worker.post(`/v1/chat/completions${query}`, { model: "gpt-auth", messages: USER_HI }, headers);
    assert.equal(response.status, 200);
    assert.equal((await readJson(response)).choices[0].message.content, "ok");

    const sent = worker.lastRequest();
    assert.equal(sent.method, "POST");
    assert.equal(sent.url, `${UPSTREAM}/openai/v1/chat/completions`, "no query reaches the upstream");
    assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(sent.headers["x-static"], "from-config");
    assert.deepEqual(JSON.parse(sent.body), { model: "gpt-auth", messages: USER_HI });
    assert.ok(!JSON.stringify(sent).includes(CLIENT_KEY), `the client's key stays here: ${JSON.stringify(sent)}`);
  });
}

test("each backend gets its own key in its own header", async () => {
  worker.upstream = (request) =>
    request.url.includes("/anthropic/") ? json(anthropicMessage("from claude")) : json(geminiAnswer("from gemini"));

  let response = await worker.post("/v1/messages", { model: "claude-auth", max_tokens: 5, messages: USER_HI },
    { "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01" });
  assert.equal((await readJson(response)).content[0].text, "from claude");
  let sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/anthropic/v1/messages`);
  assert.equal(sent.headers["x-api-key"], ANTHROPIC_KEY);
  assert.equal(sent.headers.authorization, undefined);
  assert.equal(JSON.parse(sent.body).model, "claude-auth");

  response = await worker.post("/v1beta/models/gemini-auth:generateContent", { contents: [{ role: "user", parts: [{ text: "hi" }] }] },
    { "x-goog-api-key": CLIENT_KEY });
  assert.equal((await readJson(response)).candidates[0].content.parts[0].text, "from gemini");
  sent = worker.lastRequest();
  assert.equal(sent.url, `${UPSTREAM}/gemini-api/v1beta/models/gemini-auth:generateContent`);
  assert.equal(sent.headers["x-goog-api-key"], GEMINI_KEY);
  assert.ok(!JSON.stringify(sent).includes(CLIENT_KEY));
});

// Each dialect's endpoint, a body it accepts, and where its error shape keeps the error's kind.
const DIALECTS = {
  chat: ["/v1/chat/completions", { model: "gpt-auth", messages: USER_HI }, (body) => body.error.type],
  messages: ["/v1/messages", { model: "claude-auth", max_tokens: 5, messages: USER_HI },
    (body) => body.type === "error" && body.error.type],
  responses: ["/v1/responses", { model: "gpt-auth", input: "hi" }, (body) => body.error.type],
  gemini: ["/v1beta/models/gemini-auth:generateContent", { contents: [{ role: "user", parts: [{ text: "hi" }] }] },
    (body) => body.error.code === 401 && body.error.status],
};
const EXPECTED_KIND = { chat: "authentication_error", messages: "authentication_error",
  responses: "authentication_error", gemini: "UNAUTHENTICATED" };

for (const [dialect, [path, body, kindOf]] of Object.entries(DIALECTS)) {
  test(`a missing or wrong key is a 401 in the ${dialect} error shape, and nothing goes upstream`, async () => {
    worker.upstream = () => assert.fail("the upstream must not be called");
    const sentBefore = worker.requests.length;
    for (const [headers, message] of [[{}, "an API key is required"], [{ "x-api-key": "wrong" }, "the API key is not valid"],
      [{ authorization: "Bearer another-key-not" }, "the API key is not valid"]]) {
      const response = await worker.post(path, body, headers);
      assert.equal(response.status, 401);
      const answer = await readJson(response);
      assert.equal(kindOf(answer), EXPECTED_KIND[dialect], JSON.stringify(answer));
      assert.equal(answer.error.message, message);
    }
    assert.equal(worker.requests.length, sentBefore);
  });
}

test("every key in the list is accepted", async () => {
  worker.upstream = () => json(chatCompletion("ok"));
  const response = await worker.post("/v1/chat/completions", { model: "gpt-auth", messages: USER_HI },
    { authorization: "Bearer another-key" });
  assert.equal(response.status, 200);
  await readJson(response);
});

test("listing models needs a key too", async () => {
  const response = await worker.fetch("/v1/models", { headers: { authorization: "Bearer wrong" } });
  assert.equal(response.status, 401);
  assert.equal((await readJson(response)).error.type, "authentication_error");
});

test("health and HEAD / need no key", async () => {
  const health = await worker.fetch("/healthz");
  assert.deepEqual([health.status, await health.text()], [200, "ok"]);
  const head = await worker.fetch("/", { method: "HEAD" });
  assert.equal(head.status, 200);
});
