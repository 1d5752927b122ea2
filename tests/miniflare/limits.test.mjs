// A key's limits under Miniflare, counted by its real Durable Object: requests per minute exact
// however many come at once, tokens reserved before the call and settled with the real usage
// after it (streams included, and streams cut short), and spend budgets.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, pause, readChunks, startWorker, stream } from "./harness.mjs";
import { USER_HI, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";
import { ADMIN_KEY, admin, issue, keyUsage } from "./gateway.mjs";

const config = {
  ...routingConfig(),
  // $1000 per million tokens: a token costs a tenth of a cent.
  prices: { "gpt-priced": { input: 1000, output: 1000 } },
};
const worker = await startWorker({
  vars: routingVars({ LLMPROXY_ADMIN_KEY: ADMIN_KEY }),
  config,
  gateway: true,
  upstream: () => json(chatCompletion("hello")),
});
after(() => worker.dispose());

const CHAT = { model: "gpt-4o", messages: USER_HI };
const settled = (usage) => usage.unsettled === 0;

const anthropicEvents = (input, texts, { end = true } = {}) => [
  `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "msg_1", type: "message",
    role: "assistant", model: "claude-x", content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: input, output_tokens: 1 } } })}\n\n`,
  `event: content_block_start\ndata: ${JSON.stringify({ type: "content_block_start", index: 0,
    content_block: { type: "text", text: "" } })}\n\n`,
  ...texts.map((text) => `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0,
    delta: { type: "text_delta", text } })}\n\n`),
  ...(end ? [
    `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
    `event: message_delta\ndata: ${JSON.stringify({ type: "message_delta", delta: { stop_reason: "end_turn",
      stop_sequence: null }, usage: { output_tokens: 7 } })}\n\n`,
    `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
  ] : []),
];

test("50 requests at once on a key of 20 a minute: exactly 20 served, 30 told when to retry", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  const key = await issue(worker, { name: "rpm", rpm: 20 });
  const sentBefore = worker.requests.length;
  const responses = await Promise.all(Array.from({ length: 50 }, () => worker.post("/v1/chat/completions", CHAT, key.auth)));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 20, statuses.join(","));
  assert.equal(statuses.filter((s) => s === 429).length, 30);
  const refused = responses.find((r) => r.status === 429);
  const retryAfter = Number(refused.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
  assert.equal(refused.headers.get("x-ratelimit-limit-requests"), "20");
  assert.equal(refused.headers.get("x-ratelimit-remaining-requests"), "0");
  assert.match(refused.headers.get("x-ratelimit-reset-requests"), /^(\d+ms|(\d+m)?\d+s)$/);
  const error = (await refused.json()).error;
  assert.deepEqual([error.type, error.code], ["rate_limit_error", "rate_limit_exceeded"]);
  assert.match(error.message, /20 requests in the last minute/);
  assert.equal(worker.requests.length - sentBefore >= 20, true);
  // Every other client is told in its own dialect.
  const anthropic = await worker.post("/v1/messages", { model: "claude-x", max_tokens: 5, messages: USER_HI },
    { "x-api-key": key.key, "anthropic-version": "2023-06-01" });
  assert.equal(anthropic.status, 429);
  assert.equal((await anthropic.json()).error.type, "rate_limit_error");
  assert.ok(anthropic.headers.get("retry-after"));
  const gemini = await worker.post("/v1beta/models/gemini-2.5-pro:generateContent",
    { contents: [{ role: "user", parts: [{ text: "hi" }] }] }, { "x-goog-api-key": key.key });
  assert.equal(gemini.status, 429);
  assert.equal((await gemini.json()).error.status, "RESOURCE_EXHAUSTED");
  for (const response of responses) if (!response.bodyUsed) await response.body?.cancel();
  assert.equal((await keyUsage(worker, key.id)).requests_last_minute, 20, "refusals count nothing");
});

test("exact too when admissions run alongside the upstream calls of a key far from its limit", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  const key = await issue(worker, { name: "warm", rpm: 20 });
  // One request leaves it 19 of 20: far from its limit, so the next ones go upstream at once.
  assert.equal((await worker.post("/v1/chat/completions", CHAT, key.auth)).status, 200);
  const responses = await Promise.all(Array.from({ length: 49 }, () => worker.post("/v1/chat/completions", CHAT, key.auth)));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 19, statuses.join(","));
  assert.equal(statuses.filter((s) => s === 429).length, 30);
  for (const response of responses) await response.arrayBuffer();
  assert.equal((await keyUsage(worker, key.id)).requests_last_minute, 20);
});

test("tokens are reserved from the output limit and settled with the answer's real usage", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  const key = await issue(worker, { name: "tpm", tpm: 1000 });
  let release;
  const held = new Promise((resolve) => (release = resolve));
  worker.upstream = async () => {
    await held;
    return json(chatCompletion("hello"));
  };
  const big = { ...CHAT, max_tokens: 600 };
  try {
    const first = worker.post("/v1/chat/completions", big, key.auth);
    await keyUsage(worker, key.id, (usage) => usage.unsettled === 1);
    const second = await worker.post("/v1/chat/completions", big, key.auth);
    assert.equal(second.status, 429, "600 more would pass 1000 while the first holds its reservation");
    assert.match((await second.json()).error.message, /of its 1000 tokens a minute/);
    assert.equal(second.headers.get("x-ratelimit-limit-tokens"), "1000");
    release();
    assert.equal((await first).status, 200);
  } finally {
    release();
  }
  const usage = await keyUsage(worker, key.id, settled);
  assert.equal(usage.tokens_last_minute, 2, "the answer's usage (1 + 1) replaced the reservation");
  const third = await worker.post("/v1/chat/completions", big, key.auth);
  assert.equal(third.status, 200);
  assert.ok(Number(third.headers.get("x-ratelimit-remaining-tokens")) < 1000 - 600);
  const tooBig = await worker.post("/v1/chat/completions", { ...CHAT, max_tokens: 5000 }, key.auth);
  assert.equal(tooBig.status, 429);
  assert.match((await tooBig.json()).error.message, /more than key `tpm`'s 1000 a minute/);
});

test("a stream settles from its final usage event, passed through or translated", async () => {
  worker.upstream = () => stream(anthropicEvents(30, ["Hello", " there"]));
  const key = await issue(worker, { name: "streams", tpm: 100_000 });
  const messages = await worker.post("/v1/messages",
    { model: "claude-x", max_tokens: 50, stream: true, messages: USER_HI }, { "x-api-key": key.key });
  assert.equal(messages.status, 200);
  assert.match((await readChunks(messages)).text, /message_stop/);
  let usage = await keyUsage(worker, key.id, settled);
  assert.equal(usage.tokens_last_minute, 37, "30 in, 7 out, from message_start and message_delta");
  const chat = await worker.post("/v1/chat/completions",
    { model: "claude-x", stream: true, messages: USER_HI }, key.auth);
  assert.match((await readChunks(chat)).text, /\[DONE\]/);
  usage = await keyUsage(worker, key.id, settled);
  assert.equal(usage.tokens_last_minute, 74);
});

test("a stream cut short settles with its prompt and an estimate of what it streamed", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  // 30 prompt tokens, then 40 characters (about 10 tokens), then the upstream ends early.
  worker.upstream = () => stream(anthropicEvents(30, ["x".repeat(20), "y".repeat(20)], { end: false }));
  const key = await issue(worker, { name: "cut", tpm: 100_000 });
  for (const [path, body, headers] of [
    ["/v1/messages", { model: "claude-x", max_tokens: 500, stream: true, messages: USER_HI }, { "x-api-key": key.key }],
    ["/v1/chat/completions", { model: "claude-x", max_tokens: 500, stream: true, messages: USER_HI }, key.auth],
  ]) {
    const response = await worker.post(path, body, headers);
    assert.equal(response.status, 200);
    assert.match((await readChunks(response)).text, /error/, "the client is told it was cut");
  }
  const usage = await keyUsage(worker, key.id, settled);
  assert.equal(usage.tokens_last_minute, 2 * (30 + 10), "not the 500 reserved");
});

test("a client that leaves mid-stream is settled too", async () => {
  // The worker notices a client gone at its next write.
  const more = anthropicEvents(12, ["and more"], { end: false }).slice(2);
  worker.upstream = () => stream([...anthropicEvents(12, ["partial answer"], { end: false }), pause(300), ...more, pause()]);
  const key = await issue(worker, { name: "gone", tpm: 100_000 });
  const response = await worker.post("/v1/messages",
    { model: "claude-x", max_tokens: 500, stream: true, messages: USER_HI }, { "x-api-key": key.key });
  const reader = response.body.getReader();
  await reader.read();
  await reader.cancel();
  const usage = await keyUsage(worker, key.id, settled);
  const tokens = usage.tokens_last_minute;
  assert.ok(tokens >= 12 + 4 && tokens < 100, `settled with what streamed, not the 500 reserved: ${tokens}`);
});

test("a spend budget admits what it can pay for, then is its own error until the period ends", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  const key = await issue(worker, { name: "budget", budget_usd: 0.005, budget_period: "day" });
  const request = { model: "gpt-priced", max_tokens: 1, messages: [{ role: "user", content: "hi" }] };
  const statuses = [];
  let refused;
  for (let i = 0; i < 4; i++) {
    const response = await worker.post("/v1/chat/completions", request, key.auth);
    statuses.push(response.status);
    if (response.status === 402) {
      refused ??= response;
    } else {
      await response.arrayBuffer();
      await keyUsage(worker, key.id, settled);
    }
  }
  // Each answer used 1 + 1 tokens, $0.002: two fit in $0.005, a third would not.
  assert.deepEqual(statuses, [200, 200, 402, 402]);
  const error = (await refused.json()).error;
  assert.deepEqual([error.type, error.code], ["insufficient_quota", "budget_exceeded"]);
  assert.match(error.message, /has spent \$0\.0040 of its \$0\.005 budget for this day/);
  const retryAfter = Number(refused.headers.get("retry-after"));
  assert.ok(retryAfter > 0 && retryAfter <= 86_400, `until the day ends: ${retryAfter}`);
  const usage = await keyUsage(worker, key.id);
  assert.ok(Math.abs(usage.spent_usd - 0.004) < 1e-9, JSON.stringify(usage));
  const anthropic = await worker.post("/v1/messages", { model: "gpt-priced", max_tokens: 1, messages: USER_HI },
    { "x-api-key": key.key, "anthropic-version": "2023-06-01" });
  assert.equal(anthropic.status, 402);
  assert.equal((await anthropic.json()).error.type, "billing_error");
  // Raising the budget lets it go on.
  assert.equal((await admin(worker, "PATCH", `/admin/keys/${key.id}`, { budget_usd: 1 })).status, 200);
  assert.equal((await worker.post("/v1/chat/completions", request, key.auth)).status, 200);
});

test("a model without a price spends nothing and is never refused for budget", async () => {
  worker.upstream = () => json(chatCompletion("hello"));
  const key = await issue(worker, { name: "unpriced", budget_usd: 0 });
  const response = await worker.post("/v1/chat/completions", CHAT, key.auth);
  assert.equal(response.status, 200);
  await response.arrayBuffer();
  assert.equal((await keyUsage(worker, key.id, settled)).spent_usd, 0);
});

test("a failed upstream call settles nothing but the request", async () => {
  worker.upstream = () => json({ error: { message: "boom", type: "server_error" } }, { status: 500 });
  const key = await issue(worker, { name: "failed", tpm: 1000, rpm: 10 });
  const response = await worker.post("/v1/chat/completions", { ...CHAT, max_tokens: 900 }, key.auth);
  assert.equal(response.status, 500);
  const usage = await keyUsage(worker, key.id, settled);
  assert.deepEqual([usage.requests_last_minute, usage.tokens_last_minute], [1, 0]);
});
