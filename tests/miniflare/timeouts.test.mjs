// Deadlines: an upstream that never answers, stalls mid-answer or keeps its socket open after the
// last event, and a Vertex token exchange that hangs or whose request went away. Each ends in an
// error in the client's dialect (an error event once a stream has begun), and nothing is left stuck.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { gzipSync } from "node:zlib";
import { after, test } from "node:test";
import {
  json, pause, readChunks, readJson, sleep, splitEvery, sse, stallAfterHeaders, stallBeforeHeaders, startWorker, stream,
  wire,
} from "./harness.mjs";
import { AUTH, UPSTREAM, USER_HI, anthropicMessage, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const SERVICE_ACCOUNT = JSON.stringify({
  type: "service_account", client_email: "proxy@p.iam.gserviceaccount.com", private_key_id: "kid",
  private_key: privateKey.export({ type: "pkcs8", format: "pem" }), token_uri: `${UPSTREAM}/token`,
});
const config = routingConfig();
config.backends.unshift({ name: "vertex", kind: "vertex", project: "p", location: "us-east5", base_url: `${UPSTREAM}/vertex`,
  service_account_env: "VERTEX_SA", models: ["claude-v-*"] });
const DEADLINES = { LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS: "1", LLMPROXY_IDLE_TIMEOUT_SECONDS: "1", LLMPROXY_TOKEN_TIMEOUT_SECONDS: "1" };
const worker = await startWorker({ vars: routingVars({ ...DEADLINES, VERTEX_SA: SERVICE_ACCOUNT }), config });
after(() => worker.dispose());

const CHAT_STREAM = { model: "gpt-slow", messages: USER_HI, stream: true };
const MESSAGES = { model: "gpt-slow", max_tokens: 5, messages: USER_HI };
const ANTHROPIC_CLIENT = { ...AUTH, "anthropic-version": "2023-06-01" };

/** Waits (bounded) until `target` holds no upstream answer open: the worker let every one go. */
async function letGo(target) {
  const deadline = Date.now() + 3000;
  while (target.open.size > 0 && Date.now() < deadline) await sleep(20);
  assert.equal(target.open.size, 0, "the upstream answers were let go");
}

/** Milliseconds `promise` takes, and its value. */
async function timed(promise) {
  const started = Date.now();
  const value = await promise;
  return [Date.now() - started, value];
}

test("an upstream that sends no headers is a 504 in the client's dialect once the first-byte deadline passes", async () => {
  worker.upstream = (request) => stallBeforeHeaders(request);
  const [ms, response] = await timed(worker.post("/v1/messages", MESSAGES, ANTHROPIC_CLIENT));
  assert.equal(response.status, 504);
  const error = await readJson(response);
  assert.deepEqual([error.type, error.error.type], ["error", "timeout_error"]);
  assert.match(error.error.message, /LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS/);
  assert.ok(ms >= 900 && ms < 5000, `${ms} ms`);
});

test("a first-byte deadline longer than the idle one holds for the headers, and the idle one for the body after", async () => {
  const patient = await startWorker({ vars: routingVars({ LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS: "3", LLMPROXY_IDLE_TIMEOUT_SECONDS: "1" }), config });
  try {
    // Headers after 1.5 s: past the idle deadline, within the first-byte one.
    patient.upstream = (request) => stallBeforeHeaders(request, 1500, () => json(chatCompletion("worth the wait")));
    const [late, answered] = await timed(patient.post("/v1/chat/completions", { model: "gpt-slow", messages: USER_HI }, AUTH));
    assert.equal(answered.status, 200);
    assert.equal((await readJson(answered)).choices[0].message.content, "worth the wait");
    assert.ok(late >= 1400, `${late} ms`);

    patient.upstream = (request) => stallBeforeHeaders(request);
    const [ms, response] = await timed(patient.post("/v1/chat/completions", { model: "gpt-slow", messages: USER_HI }, AUTH));
    assert.equal(response.status, 504);
    assert.match((await readJson(response)).error.message, /LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS/);
    assert.ok(ms >= 2900 && ms < 6000, `${ms} ms: the first-byte deadline, not the idle one`);

    // Headers after 1.5 s, then a body that stalls: the idle deadline, restarted at the headers.
    const text = JSON.stringify(chatCompletion("never finished"));
    patient.upstream = (request) =>
      stallBeforeHeaders(request, 1500, () => stream([text.slice(0, 20), pause(Infinity)], { contentType: "application/json" }));
    const [stalled, cut] = await timed(patient.post("/v1/chat/completions", { model: "gpt-slow", messages: USER_HI }, AUTH));
    assert.equal(cut.status, 504);
    assert.match((await readJson(cut)).error.message, /stopped for 1 s/);
    assert.ok(stalled >= 2400 && stalled < 6000, `${stalled} ms`);
  } finally {
    await patient.dispose();
  }
});

test("a stream that stalls after content ends with an error event at the idle deadline", async () => {
  const recording = wire("openai-chat-tool.sdkpy.sse").toString().split("\n\n").filter(Boolean).map((e) => `${e}\n\n`);
  worker.upstream = () => sse([...recording.slice(0, 3), pause(Infinity)]);
  for (const [path, body, headers] of [
    ["/v1/chat/completions", CHAT_STREAM, AUTH],
    ["/v1/messages", { ...MESSAGES, stream: true }, ANTHROPIC_CLIENT],
  ]) {
    const [ms, read] = await timed(worker.post(path, body, headers).then((r) => readChunks(r)));
    assert.equal(read.done, true, "the client's stream is closed");
    assert.match(read.text, /LLMPROXY_IDLE_TIMEOUT_SECONDS/);
    assert.ok(read.chunks.length > 1, "the content came first");
    assert.ok(ms >= 900 && ms < 5000, `${ms} ms`);
  }
  await letGo(worker);

});

test("a whole answer whose body stalls is a 504", async () => {
  const text = JSON.stringify(chatCompletion("never finished"));
  worker.upstream = () => stream([text.slice(0, 20), pause(Infinity)], { contentType: "application/json" });
  const response = await worker.post("/v1/chat/completions", { model: "gpt-slow", messages: USER_HI }, AUTH);
  assert.equal(response.status, 504);
  assert.match((await readJson(response)).error.message, /stopped for 1 s/);
});

test("a compressed whole answer is read chunk by chunk, not in one read bounded by the idle deadline", async () => {
  // The length a compressed answer declares is not that of what it decompresses to, so its body
  // is not read in one call bounded by the idle deadline as a whole.
  const compressed = gzipSync(JSON.stringify(chatCompletion("slow but steady")));
  const parts = splitEvery(compressed, Math.ceil(compressed.length / 4));
  // Four chunks 500 ms apart: 1.5 s in all, past the 1 s idle deadline, never 1 s without one.
  worker.upstream = () => stream(parts.flatMap((part, i) => (i === 0 ? [part] : [pause(500), part])), {
    contentType: "application/json",
    headers: { "content-encoding": "gzip", "content-length": String(compressed.length) },
  });
  const [ms, response] = await timed(worker.post("/v1/chat/completions", { model: "gpt-slow", messages: USER_HI }, AUTH));
  assert.equal(response.status, 200);
  assert.equal((await readJson(response)).choices[0].message.content, "slow but steady");
  assert.ok(ms >= 1400, `${ms} ms: the chunks came apart`);
});

test("the client's stream closes at the last event even if the upstream keeps its socket open", async () => {
  const slow = await startWorker({ vars: routingVars({ LLMPROXY_IDLE_TIMEOUT_SECONDS: "60" }), config });
  try {
    slow.upstream = () => stallAfterHeaders(0, [wire("openai-chat-tool.sdkpy.sse"), pause(Infinity)]);
    for (const [path, body, headers, last] of [
      ["/v1/chat/completions", CHAT_STREAM, AUTH, /data: \[DONE\]\n\n$/],
      ["/v1/messages", { ...MESSAGES, stream: true }, ANTHROPIC_CLIENT, /event: message_stop\ndata: [^\n]*\n\n$/],
    ]) {
      const [ms, read] = await timed(slow.post(path, body, headers).then((r) => readChunks(r, { timeoutMs: 5000 })));
      assert.equal(read.done, true, `${path}: ${read.error}`);
      assert.match(read.text, last);
      assert.ok(ms < 3000, `${ms} ms`);
    }
    await letGo(slow);
  } finally {
    await slow.dispose();
  }
});

let tokenEndpoint = () => json({ access_token: "ya29.ok", expires_in: 3600 });
const vertexUpstream = (request) =>
  new URL(request.url).pathname === "/token" ? tokenEndpoint(request) : json(anthropicMessage("from vertex"));

test("a token exchange that hangs is a 504, and the next request mints again", async () => {
  worker.upstream = vertexUpstream;
  tokenEndpoint = (request) => stallBeforeHeaders(request);
  const [ms, response] = await timed(worker.post("/v1/messages", { ...MESSAGES, model: "claude-v-1" }, ANTHROPIC_CLIENT));
  assert.equal(response.status, 504);
  assert.match((await readJson(response)).error.message, /LLMPROXY_TOKEN_TIMEOUT_SECONDS/);
  assert.ok(ms < 5000, `${ms} ms`);

  tokenEndpoint = () => json({ access_token: "ya29.second", expires_in: 3600 });
  const answer = await readJson(await worker.post("/v1/messages", { ...MESSAGES, model: "claude-v-1" }, ANTHROPIC_CLIENT));
  assert.equal(answer.content[0].text, "from vertex");
  assert.equal(worker.lastRequest().headers.authorization, "Bearer ya29.second");
});

test("a mint whose request went away is abandoned, and later requests are not stuck behind it", async () => {
  const cold = await startWorker({ vars: routingVars({ ...DEADLINES, VERTEX_SA: SERVICE_ACCOUNT }), config });
  try {
    let exchanges = 0;
    tokenEndpoint = (request) => {
      exchanges += 1;
      return exchanges === 1 ? stallBeforeHeaders(request) : json({ access_token: `ya29.mint-${exchanges}`, expires_in: 3600 });
    };
    cold.upstream = vertexUpstream;
    const gone = new AbortController();
    const first = cold.fetch("/v1/messages", { method: "POST", headers: { "content-type": "application/json", ...ANTHROPIC_CLIENT },
      body: JSON.stringify({ ...MESSAGES, model: "claude-v-2" }), signal: gone.signal }).catch((error) => error);
    await sleep(200);
    gone.abort();
    await first;
    const [ms, response] = await timed(cold.post("/v1/messages", { ...MESSAGES, model: "claude-v-2" }, ANTHROPIC_CLIENT));
    assert.equal((await readJson(response)).content[0].text, "from vertex");
    assert.match(cold.lastRequest().headers.authorization, /^Bearer ya29\.mint-/);
    assert.ok(ms < 4000, `${ms} ms`);
  } finally {
    await cold.dispose();
  }
});

test("the deadlines are read from their vars, and an unreadable one is named", async () => {
  const broken = await startWorker({ vars: routingVars({ LLMPROXY_IDLE_TIMEOUT_SECONDS: "soon" }), config });
  try {
    const response = await broken.post("/v1/chat/completions", { model: "gpt-x", messages: USER_HI }, AUTH);
    assert.equal(response.status, 500);
    assert.match((await readJson(response)).error.message, /LLMPROXY_IDLE_TIMEOUT_SECONDS must be a whole number/);
  } finally {
    await broken.dispose();
  }
});
