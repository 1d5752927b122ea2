// The usage record of every request, in the worker's real D1 database: one row per request for
// every client dialect and every backend kind, with the tokens the recorded upstream answers
// report and the cost the config's prices make of them, and `/admin/usage` totals over them.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, test } from "node:test";
import { json, readChunks, sse, startWorker, wire } from "./harness.mjs";
import { AUTH, CLIENT_KEY, UPSTREAM, routingVars } from "./fixtures.mjs";
import { ADMIN_KEY, admin, issue, records } from "./gateway.mjs";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const SERVICE_ACCOUNT = JSON.stringify({
  type: "service_account", client_email: "proxy@p.iam.gserviceaccount.com", private_key_id: "kid",
  private_key: privateKey.export({ type: "pkcs8", format: "pem" }), token_uri: `${UPSTREAM}/token`,
});

// Per backend kind: the model it serves, its price, and the recorded answers it gives (whole and
// streamed) with the usage they report.
const BACKENDS = {
  openai: { model: "gpt-4o", price: { input: 2.5, output: 10 },
    whole: "openai-chat-text.vercel.json", usage: [16, 363, 0, 0],
    stream: "openai-chat-tool.sdkpy.sse", streamUsage: [44, 16, 0, 0] },
  openresponses: { model: "o-resp-1", price: { input: 1.25, output: 10, cache_read: 0.125 },
    whole: "openai-responses-reasoning.vercel.json", usage: [865, 163, 0, 128],
    // The recording holds four answers; the stream ends with the first one's `response.completed`.
    stream: "openai-responses-reasoning-fc.vercel.chunks.jsonl", streamUsage: [134, 28, 0, 0] },
  anthropic: { model: "claude-x", price: { input: 3, output: 15 },
    whole: "anthropic-text.vercel.json", usage: [12, 29, 0, 0],
    stream: "anthropic-tool-use.sdkpy.sse", streamUsage: [377, 65, 0, 0] },
  gemini: { model: "gemini-x", price: { input: 0.3, output: 2.5 },
    whole: "gemini-text.vercel.json", usage: [9, 272, 0, 244],
    stream: "gemini-partial-args.vercel.chunks.jsonl", streamUsage: [26, 155, 0, 132] },
  vertex: { model: "gemini-v-x", price: { input: 0.5, output: 3 },
    whole: "gemini-text.vercel.json", usage: [9, 272, 0, 244],
    stream: "gemini-partial-args.vercel.chunks.jsonl", streamUsage: [26, 155, 0, 132] },
  mock: { model: "mock-1", price: null },
};

const config = {
  backends: [
    { name: "openai", kind: "openai", base_url: `${UPSTREAM}/openai/v1`, api_key_env: "OPENAI_API_KEY", models: ["gpt-*"] },
    { name: "openresponses", kind: "openresponses", base_url: `${UPSTREAM}/openresponses/v1`,
      api_key_env: "OPENAI_API_KEY", models: ["o-resp-*"] },
    { name: "anthropic", kind: "anthropic", base_url: `${UPSTREAM}/anthropic`, api_key_env: "ANTHROPIC_API_KEY",
      models: ["claude-*"] },
    { name: "gemini", kind: "gemini", base_url: `${UPSTREAM}/gemini`, api_key_env: "GEMINI_API_KEY", models: ["gemini-x*"] },
    { name: "vertex", kind: "vertex", project: "p", location: "us-east5", base_url: `${UPSTREAM}/vertex`,
      service_account_env: "VERTEX_SA", models: ["gemini-v-*"] },
    { name: "mock", kind: "mock", models: ["mock-*"] },
    { name: "vllm", kind: "openai", base_url: `${UPSTREAM}/vllm/v1`, compat: "vllm", models: ["vllm-*"] },
    { name: "xai", kind: "openai", base_url: `${UPSTREAM}/xai/v1`, api_key_env: "OPENAI_API_KEY", compat: "xai",
      models: ["grok-*"] },
  ],
  prices: Object.fromEntries(Object.values(BACKENDS).filter((b) => b.price).map((b) => [b.model, b.price])),
  price_source: "test prices",
};

/** A recording as the upstream sends it: SSE as recorded, JSON lines framed as SSE events. */
function recorded(name) {
  const bytes = wire(name);
  if (!name.endsWith(".chunks.jsonl")) return name.endsWith(".json") ? json(JSON.parse(bytes)) : sse([bytes]);
  const events = bytes.toString().trim().split("\n").map((line) => {
    const type = JSON.parse(line).type;
    return `${type ? `event: ${type}\n` : ""}data: ${line}\n\n`;
  });
  return sse(events);
}

let streaming = false;
function upstream(request) {
  const path = new URL(request.url).pathname;
  if (path === "/token") return json({ access_token: "ya29.usage", expires_in: 3600 });
  const backend = BACKENDS[path.split("/")[1]];
  return recorded(streaming ? backend.stream : backend.whole);
}

const worker = await startWorker({
  vars: routingVars({ LLMPROXY_ADMIN_KEY: ADMIN_KEY, VERTEX_SA: SERVICE_ACCOUNT, LLMPROXY_MAX_BODY_BYTES: "65536" }),
  config,
  gateway: true,
  miniflare: { analyticsEngineDatasets: { USAGE_EVENTS: { dataset: "llmproxy_usage" } } },
  upstream,
});
after(() => worker.dispose());

const USER = "Say hello";
// Per client dialect: how it asks for `model`, streamed or not.
const CLIENTS = {
  "openai-chat": (model, stream) => ["/v1/chat/completions", { model, stream, messages: [{ role: "user", content: USER }] }],
  anthropic: (model, stream) => ["/v1/messages", { model, stream, max_tokens: 100, messages: [{ role: "user", content: USER }] }],
  "openai-responses": (model, stream) => ["/v1/responses", { model, stream, input: USER }],
  gemini: (model, stream) => [
    `/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
    { contents: [{ role: "user", parts: [{ text: USER }] }] },
  ],
};

const costOf = (price, [input, output, cached]) =>
  price && ((input - cached) * price.input + cached * (price.cache_read ?? price.input) + output * price.output) / 1e6;

async function everyPair(stream) {
  streaming = stream;
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM usage").run();
  const asked = [];
  for (const [client, ask] of Object.entries(CLIENTS)) {
    for (const [backend, { model }] of Object.entries(BACKENDS)) {
      if (stream && backend === "mock") continue;
      const [path, body] = ask(model, stream);
      const response = await worker.post(path, body, AUTH);
      const read = await readChunks(response);
      assert.equal(response.status, 200, `${client} → ${backend}: ${read.text}`);
      asked.push({ client, backend, model, path: path.split("?")[0] });
    }
  }
  const rows = await records(worker, asked.length);
  assert.equal(rows.length, asked.length, "one record per request");
  for (const { client, backend, model, path } of asked) {
    const row = rows.find((r) => r.client === client && r.backend === backend);
    assert.ok(row, `a record of ${client} → ${backend}`);
    const expected = BACKENDS[backend];
    assert.equal(row.key_id, "static");
    assert.equal(row.endpoint, path);
    assert.deepEqual([row.model_asked, row.model_sent, row.status, row.streamed, row.attempts, row.error],
      [model, model, 200, stream ? 1 : 0, 1, null], `${client} → ${backend}`);
    assert.ok(row.ttfb_ms <= row.total_ms);
    if (backend === "mock") {
      assert.equal(row.cost_usd, null, "a model without a price has no made-up cost");
      continue;
    }
    const usage = stream ? expected.streamUsage : expected.usage;
    assert.deepEqual([row.input_tokens, row.output_tokens, row.cached_tokens, row.reasoning_tokens], usage,
      `${client} → ${backend}: the tokens the recording reports`);
    assert.equal(row.usage_reported, 1);
    assert.ok(Math.abs(row.cost_usd - costOf(expected.price, usage)) < 1e-12, `${client} → ${backend}: ${row.cost_usd}`);
  }
  return rows;
}

test("every client dialect and every backend kind is recorded, whole answers", async () => {
  await everyPair(false);
});

test("every client dialect and every backend kind is recorded, streams", async () => {
  await everyPair(true);
});

test("no record holds any prompt or answer text, or any key", async () => {
  streaming = false;
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM usage").run();
  await readChunks(await worker.post("/v1/chat/completions", { model: "claude-x", messages: [{ role: "user", content: USER }] }, AUTH));
  const [row] = await records(worker, 1);
  const text = JSON.stringify(row);
  for (const secret of [USER, "Hello", CLIENT_KEY, "sk-upstream"]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
});

test("refusals are recorded with their class, and the key they came with", async () => {
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM usage").run();
  const key = await issue(worker, { name: "refused", models: ["gpt-*"], rpm: 1 });
  const chat = (model) => worker.post("/v1/chat/completions", { model, messages: [{ role: "user", content: "x" }] }, key.auth);
  streaming = false;
  assert.equal((await chat("gpt-4o")).status, 200);
  assert.equal((await chat("gpt-4o")).status, 429);
  assert.equal((await chat("claude-x")).status, 403);
  assert.equal((await worker.post("/v1/chat/completions", { messages: [] }, key.auth)).status, 400);
  const rows = await records(worker, 4, `key_id = '${key.id}'`);
  assert.deepEqual(rows.map((r) => [r.status, r.error]),
    [[200, null], [429, "rate_limit_exceeded"], [403, "model_not_allowed"], [400, "status 400"]]);
  assert.deepEqual(rows.map((r) => r.model_asked), ["gpt-4o", "gpt-4o", "claude-x", ""]);
});

test("a failed upstream is recorded with the failure, and a stream cut short as an estimate", async () => {
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM usage").run();
  const saved = worker.upstream;
  try {
    worker.upstream = () => json({ error: { type: "overloaded_error", message: "busy" } }, { status: 529 });
    await readChunks(await worker.post("/v1/chat/completions", { model: "claude-x", messages: [{ role: "user", content: "x" }] }, AUTH));
    const cut = wire("anthropic-tool-use.sdkpy.sse").toString();
    worker.upstream = () => sse([cut.slice(0, cut.indexOf("event: message_delta"))]);
    await readChunks(await worker.post("/v1/messages",
      { model: "claude-x", max_tokens: 100, stream: true, messages: [{ role: "user", content: "x" }] }, AUTH));
  } finally {
    worker.upstream = saved;
  }
  const [failed, cut] = await records(worker, 2);
  assert.deepEqual([failed.status, failed.error, failed.input_tokens, failed.usage_reported], [529, "status 529", 0, 0]);
  assert.deepEqual([cut.status, cut.error, cut.input_tokens, cut.usage_reported], [200, "cut", 377, 0]);
  assert.ok(cut.output_tokens > 1 && cut.cost_usd > 0, JSON.stringify(cut));
});

test("a vLLM stream is not asked for usage and is estimated; xAI's reasoning beside its completion is output", async () => {
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM usage").run();
  const saved = worker.upstream;
  const before = worker.requests.length;
  try {
    // Old vLLM refuses `stream_options` (recorded); without it, it streams with no usage chunk.
    worker.upstream = (request) => new URL(request.url).pathname.startsWith("/vllm/")
      ? (JSON.parse(worker.requests.at(-1).body).stream_options
        ? json(JSON.parse(wire("vllm-stream-options-refused.msagent489.json")), { status: 400 })
        : sse([wire("vllm-text.pr19662.sse")]))
      : json(JSON.parse(wire("xai-tool-call.vercel.json")));
    const chat = await readChunks(await worker.post("/v1/chat/completions",
      { model: "vllm-qwen3", stream: true, messages: [{ role: "user", content: USER }] }, AUTH));
    assert.equal(chat.text, wire("vllm-text.pr19662.sse").toString(), "a Chat client gets vLLM's stream as it came");
    await readChunks(await worker.post("/v1/messages",
      { model: "vllm-qwen3", stream: true, max_tokens: 50, messages: [{ role: "user", content: USER }] }, AUTH));
    await readChunks(await worker.post("/v1/chat/completions",
      { model: "grok-3-mini", messages: [{ role: "user", content: USER }] }, AUTH));
  } finally {
    worker.upstream = saved;
  }
  const sent = worker.requests.slice(before).map((r) => JSON.parse(r.body));
  assert.deepEqual(sent.map((body) => "stream_options" in body), [false, false, false]);
  const [passed, translated, grok] = await records(worker, 3);
  for (const row of [passed, translated]) {
    assert.deepEqual([row.backend, row.status, row.error, row.usage_reported], ["vllm", 200, null, 0], JSON.stringify(row));
    // As for a stream cut short: the prompt it reported (none), and "가요?" streamed, a token.
    assert.deepEqual([row.input_tokens, row.output_tokens], [0, 1], JSON.stringify(row));
  }
  // 291 prompt, 26 completion and 189 reasoning tokens, the total 506.
  assert.deepEqual([grok.input_tokens, grok.output_tokens, grok.reasoning_tokens, grok.usage_reported], [291, 215, 189, 1]);
});

test("/admin/usage totals a range, grouped by key, model, backend or day", async () => {
  const rows = await everyPair(false);
  const from = Math.min(...rows.map((r) => r.at_ms));
  const to = Math.max(...rows.map((r) => r.at_ms)) + 1;
  const { status, body } = await admin(worker, "GET", `/admin/usage?from=${from}&to=${to}&group=backend`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.totals?.requests, rows.length, JSON.stringify(body));
  assert.equal(body.price_source, "test prices");
  const sum = (list, field) => list.reduce((total, row) => total + (row[field] ?? 0), 0);
  assert.equal(body.totals.input_tokens, sum(rows, "input_tokens"));
  assert.ok(Math.abs(body.totals.cost_usd - sum(rows, "cost_usd")) < 1e-9);
  assert.equal(body.totals.priced, rows.filter((r) => r.cost_usd !== null).length);
  assert.deepEqual(body.groups.map((g) => g.grp), Object.keys(BACKENDS).sort());
  for (const group of body.groups) {
    assert.equal(group.requests, rows.filter((r) => r.backend === group.grp).length);
    assert.equal(group.output_tokens, sum(rows.filter((r) => r.backend === group.grp), "output_tokens"));
  }
  const day = new Date(from).toISOString().slice(0, 10);
  const byDay = await admin(worker, "GET", `/admin/usage?from=${day}&group=day`);
  assert.equal(byDay.status, 200);
  assert.ok(byDay.body.groups.some((g) => g.grp === day && g.requests >= rows.length), JSON.stringify(byDay.body));
  const byKey = await admin(worker, "GET", `/admin/usage?from=${from}&to=${to}&group=key&key=static`);
  assert.deepEqual(byKey.body.groups.map((g) => [g.grp, g.requests]), [["static", rows.length]]);
  const empty = await admin(worker, "GET", `/admin/usage?from=${to + 1000}&to=${to + 2000}`);
  assert.equal(empty.body.totals.requests, 0);
  for (const bad of ["group=key_id;DROP%20TABLE%20usage", "from=yesterday-ish"]) {
    const refused = await admin(worker, "GET", `/admin/usage?${bad}`);
    assert.equal(refused.status, 400, bad);
  }
  assert.equal((await worker.fetch("/admin/usage", { headers: AUTH })).status, 401, "a client key is no admin key");
});
