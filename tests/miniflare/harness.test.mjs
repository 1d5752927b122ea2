// What the harness promises the other tests: every subrequest is answered in-process, chunks
// reach the worker as they were given, and stalls and resets act as on a network.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  json,
  pause,
  readChunks,
  sleep,
  sse,
  ssePayloads,
  stallAfterHeaders,
  stallBeforeHeaders,
  startWorker,
  stream,
  wire,
} from "./harness.mjs";

import { ANTHROPIC_KEY, OPENAI_KEY, USER_HI, anthropicMessage, chatCompletion } from "./fixtures.mjs";

const CHAT = { model: "gpt-4o", messages: USER_HI };

const worker = await startWorker({
  vars: { OPENAI_API_KEY: OPENAI_KEY, ANTHROPIC_API_KEY: ANTHROPIC_KEY },
  config: {
    backends: [
      // No base_url: the real vendor's, which must be answered here all the same.
      { name: "openai", kind: "openai", api_key_env: "OPENAI_API_KEY", models: ["gpt-*"] },
      { name: "anthropic", kind: "anthropic", base_url: "http://upstream.test/anthropic",
        api_key_env: "ANTHROPIC_API_KEY", models: ["claude-*"] },
    ],
  },
});
after(() => worker.dispose());

test("a request for the vendor's own host is answered in-process", async () => {
  worker.upstream = () => json(chatCompletion("from the harness"));
  const response = await worker.post("/v1/chat/completions", CHAT);
  assert.equal(response.status, 200);
  assert.equal((await response.json()).choices[0].message.content, "from the harness");
  const sent = worker.lastRequest();
  assert.equal(sent.url, "https://api.openai.com/v1/chat/completions", "the scheme survives");
  assert.equal(sent.headers.authorization, `Bearer ${OPENAI_KEY}`);
});

test("a host that exists nowhere is answered in-process too", async () => {
  worker.upstream = () => json(anthropicMessage("ok"));
  const response = await worker.post("/v1/messages", { model: "claude-x", max_tokens: 5, messages: CHAT.messages });
  assert.equal(response.status, 200);
  assert.equal(worker.lastRequest().url, "http://upstream.test/anthropic/v1/messages");
});

test("the worker reads each chunk on its own, never two as one", async () => {
  // A probe worker in place of the proxy reports the reads its fetch body gave it.
  const probe = await startWorker({
    miniflare: {
      modules: true,
      script: `export default { async fetch() {
        const sizes = [];
        for await (const chunk of (await fetch("http://upstream.test/")).body) sizes.push(chunk.byteLength);
        return Response.json(sizes);
      } }`,
    },
  });
  try {
    const sizes = Array.from({ length: 60 }, (_, i) => 1 + (i % 7));
    probe.upstream = () => sse(sizes.map((n) => "x".repeat(n)));
    const seen = await (await probe.fetch("/")).json();
    let at = 0;
    const boundaries = new Set(seen.map((n) => (at += n)));
    at = 0;
    // workerd may split a chunk further, but every boundary given is one the worker sees.
    for (const n of sizes) assert.ok(boundaries.has((at += n)), `a read ends at byte ${at}: ${seen}`);
  } finally {
    await probe.dispose();
  }
});

test("a stall after the headers holds the body, not the headers", async () => {
  const events = [...wire("openai-chat-tool.sdkpy.sse").toString().split(/(?<=\n\n)/)];
  worker.upstream = () => stallAfterHeaders(600, events);
  const started = Date.now();
  const response = await worker.post("/v1/chat/completions", { ...CHAT, stream: true });
  const headersAfter = Date.now() - started;
  assert.equal(response.status, 200);
  const body = await readChunks(response);
  assert.ok(headersAfter < 500, `headers after ${headersAfter} ms`);
  assert.ok(Date.now() - started >= 600, "the body waited for the stall");
  assert.equal(ssePayloads(body.text).length, 10);
});

test("a stall that never ends is bounded by the reader", async () => {
  worker.upstream = () => stallAfterHeaders(Infinity);
  const response = await worker.post("/v1/chat/completions", { ...CHAT, stream: true });
  const body = await readChunks(response, { timeoutMs: 300 });
  assert.deepEqual([body.timedOut, body.text], [true, ""]);
});

test("a client that leaves is noticed at the worker's next write, which ends the subrequest", async () => {
  const event = wire("openai-chat-tool.sdkpy.sse").toString().split(/(?<=\n\n)/)[0];
  worker.upstream = () => stream([pause(500), event, pause(Infinity)]);
  const open = worker.open.size;
  const response = await worker.post("/v1/chat/completions", { ...CHAT, stream: true });
  assert.equal((await readChunks(response, { timeoutMs: 100 })).timedOut, true);
  assert.equal(worker.open.size, open + 1, "still open while the worker has nothing to write");
  for (let waited = 0; worker.open.size > open && waited < 5000; waited += 50) await sleep(50);
  assert.equal(worker.open.size, open, "the upstream answer was closed");
});

test("a stall before the headers delays the answer", async () => {
  worker.upstream = (request) => stallBeforeHeaders(request, 400, () => json(chatCompletion("late")));
  const started = Date.now();
  const response = await worker.post("/v1/chat/completions", CHAT);
  assert.ok(Date.now() - started >= 400);
  assert.equal((await response.json()).choices[0].message.content, "late");
  worker.upstream = (request) => stallBeforeHeaders(request);
  await assert.rejects(worker.post("/v1/chat/completions", CHAT, {}, { timeoutMs: 300 }), /took longer than 300 ms/);
});

// The bindings that per-key limits and usage records will use run under the same harness, locally
// and for real: a Durable Object with SQL storage, a D1 database and the rate-limit binding.
const BINDINGS_SCRIPT = `
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (n INTEGER)");
  }
  hit() {
    this.ctx.storage.sql.exec("INSERT INTO hits VALUES (1)");
    return this.ctx.storage.sql.exec("SELECT COUNT(*) AS n FROM hits").one().n;
  }
}
export default {
  async fetch(request, env) {
    const counter = env.COUNTER.get(env.COUNTER.idFromName("key-1"));
    const hits = await counter.hit();
    await env.DB.exec("CREATE TABLE IF NOT EXISTS usage (id TEXT)");
    await env.DB.prepare("INSERT INTO usage VALUES (?)").bind(String(hits)).run();
    const rows = (await env.DB.prepare("SELECT COUNT(*) AS n FROM usage").first()).n;
    const { success } = await env.LIMITER.limit({ key: "key-1" });
    return Response.json({ hits, rows, allowed: success });
  },
};`;

test("Durable Objects, D1 and the rate-limit binding run under the harness", async () => {
  const bound = await startWorker({ miniflare: {
    modules: true, script: BINDINGS_SCRIPT,
    durableObjects: { COUNTER: { className: "Counter", useSQLite: true } },
    d1Databases: ["DB"],
    ratelimits: { LIMITER: { namespace_id: "1001", simple: { limit: 2, period: 60 } } },
  } });
  try {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await (await bound.fetch("/")).json());
    assert.deepEqual(answers, [
      { hits: 1, rows: 1, allowed: true },
      { hits: 2, rows: 2, allowed: true },
      { hits: 3, rows: 3, allowed: false },
    ]);
  } finally {
    await bound.dispose();
  }
});
