// Hostile and unusual input from clients and upstreams: nothing crashes the isolate, steers a
// credential elsewhere, grows without bound or breaks a header, and errors stay in the client's
// dialect.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { json, readChunks, readJson, redirect, sse, ssePayloads, startWorker, stream } from "./harness.mjs";
import {
  ANTHROPIC_KEY, AUTH, GEMINI_KEY, OPENAI_KEY, UPSTREAM, USER_HI,
  chatCompletion, routingConfig, routingVars,
} from "./fixtures.mjs";

const config = routingConfig();
config.backends.splice(3, 0,
  { name: "responses", kind: "openresponses", base_url: `${UPSTREAM}/responses/v1`, api_key_env: "OPENAI_API_KEY",
    models: ["resp-*"] },
  { name: "every-gemini", kind: "gemini", base_url: `${UPSTREAM}/any-gemini`, api_key_env: "GEMINI_API_KEY", models: ["**"] });
const worker = await startWorker({ vars: routingVars({ LLMPROXY_CONFIG_TTL_SECONDS: "600" }), config });
after(() => worker.dispose());

test("a multi-byte character across byte 7 of Authorization is a 401, and the isolate lives on", async () => {
  worker.upstream = () => json(chatCompletion("first config"));
  // The config is read now and kept for 600 s; a reset isolate would read the new one below.
  assert.equal((await worker.post("/v1/chat/completions", { model: "gpt-a", messages: USER_HI }, AUTH)).status, 200);
  const edited = structuredClone(config);
  edited.backends[0].base_url = `${UPSTREAM}/edited/v1`;
  await worker.putConfig(edited);
  try {
    for (const value of ["xxxxxxé-key", "Beareré", "bearer ééé", "é".repeat(20)]) {
      const response = await worker.post("/v1/chat/completions", { model: "gpt-a", messages: USER_HI }, { authorization: value });
      assert.equal(response.status, 401, value);
      assert.equal((await readJson(response)).error.type, "authentication_error");
    }
    await readJson(await worker.post("/v1/chat/completions", { model: "gpt-a", messages: USER_HI }, AUTH));
    assert.equal(worker.lastRequest().url, `${UPSTREAM}/openai/v1/chat/completions`, "the isolate kept its cached config");
  } finally {
    await worker.putConfig(config);
  }
});

test("a model name in the path never leaves its path segment, whatever the globs allow", async () => {
  const before = worker.requests.length;
  const hostile = [
    "x%2F..%2F..%2F..%2Fv1%2Fprojects%2FOTHER%2FcustomJobs%23",
    "..",
    "a%3Fkey%3Dx",
    "a%5C..%5Cb",
  ];
  for (const model of hostile) {
    const response = await worker.post(`/v1beta/models/${model}:generateContent`,
      { contents: [{ role: "user", parts: [{ text: "hi" }] }] }, AUTH);
    assert.equal(response.status, 400, model);
    const error = (await readJson(response)).error;
    assert.equal(error.status, "INVALID_ARGUMENT", model);
  }
  assert.equal(worker.requests.length, before, "nothing was sent upstream");
  // A name that needs escaping but stays one segment is sent, escaped.
  worker.upstream = () => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] });
  await readJson(await worker.post("/v1beta/models/tuned%3Av1@2:generateContent", { contents: [] }, AUTH));
  assert.equal(worker.lastRequest().url, `${UPSTREAM}/any-gemini/v1beta/models/tuned%3Av1@2:generateContent`);
});

test("a chunked body over the limit is a 413, counted as it is read", async () => {
  const big = new TextEncoder().encode(JSON.stringify({ model: "gpt-big", messages: [{ role: "user", content: "x".repeat(8000) }] }));
  const before = worker.requests.length;
  // Just past the limit, then nothing and no end: only counting while reading can answer. (A
  // client still writing when the answer comes may see its connection close instead.)
  const body = new ReadableStream({
    start(controller) {
      for (let at = 0; at < 5000; at += 1000) controller.enqueue(big.subarray(at, at + 1000));
    },
  });
  const response = await worker.fetch("/v1/chat/completions",
    { method: "POST", headers: { "content-type": "application/json", ...AUTH }, body, duplex: "half" });
  assert.equal(response.status, 413);
  assert.match((await readJson(response)).error.message, /larger than 4096 bytes/);
  assert.equal(worker.requests.length, before);
});

test("dropped field names that are no header value still make one, bounded", async () => {
  worker.upstream = () => json(chatCompletion("answered"));
  const body = { model: "gpt-dropped", max_tokens: 5, messages: USER_HI, "evil\r\nset-cookie: x": 1, "a名前": 2 };
  for (let i = 0; i < 200; i++) body[`f${i}`] = i;
  const response = await worker.post("/v1/messages", body, { ...AUTH, "anthropic-version": "2023-06-01" });
  assert.equal(response.status, 200);
  const dropped = response.headers.get("x-llmproxy-dropped");
  assert.ok(dropped.length < 4096, `${dropped.length} bytes`);
  assert.ok(dropped.includes("evil%0D%0Aset-cookie:%20x") && dropped.includes("a%E5%90%8D%E5%89%8D"), dropped);
  assert.ok(dropped.endsWith(", ..."), "the rest is said to be more");
  assert.equal(response.headers.get("set-cookie"), null);
});

const KEY_HEADERS = [
  ["openai", "/v1/chat/completions", { model: "gpt-redirect", messages: USER_HI }, "authorization", OPENAI_KEY],
  ["anthropic", "/v1/messages", { model: "claude-redirect", max_tokens: 5, messages: USER_HI }, "x-api-key", ANTHROPIC_KEY],
  ["gemini", "/v1beta/models/gemini-redirect:generateContent", { contents: [] }, "x-goog-api-key", GEMINI_KEY],
];

for (const [backend, path, body, header, key] of KEY_HEADERS) {
  test(`an upstream redirect is not followed, so the ${backend} key stays with its backend`, async () => {
    for (const status of [301, 302, 307, 308]) {
      worker.upstream = (request) =>
        new URL(request.url).host === "elsewhere.test" ? json({}) : redirect("http://elsewhere.test/steal", status);
      const before = worker.requests.length;
      const response = await worker.post(path, body, AUTH);
      assert.equal(response.status, 502, `${status}`);
      const text = JSON.stringify(await readJson(response));
      assert.match(text, /redirect/);
      const sent = worker.requests.slice(before);
      assert.deepEqual(sent.map((r) => new URL(r.url).host), ["upstream.test"]);
      assert.ok(sent[0].headers[header].includes(key), "the key went to its own backend only");
    }
  });
}

test("an upstream error that repeats the backend's key reaches the client without it", async () => {
  const masked = `${OPENAI_KEY.slice(0, 8)}${"*".repeat(12)}${OPENAI_KEY.slice(-4)}`;
  worker.upstream = () => json({ error: { message: `Incorrect API key provided: ${masked}. Or was it ${OPENAI_KEY}?`,
    type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });
  for (const [path, body, headers] of [
    ["/v1/chat/completions", { model: "gpt-leak", messages: USER_HI }, {}],
    ["/v1/messages", { model: "gpt-leak", max_tokens: 5, messages: USER_HI }, { "anthropic-version": "2023-06-01" }],
  ]) {
    const response = await worker.post(path, body, { ...AUTH, ...headers });
    assert.equal(response.status, 401);
    const text = JSON.stringify(await readJson(response));
    assert.match(text, /Incorrect API key provided/);
    for (const leak of [OPENAI_KEY, OPENAI_KEY.slice(0, 8), OPENAI_KEY.slice(-6)]) {
      assert.ok(!text.includes(leak), `${path} repeats ${leak}: ${text}`);
    }
  }
});

test("upstream stream data that would index, expect or buffer without bound ends in an error event", async () => {
  const anthropic = (events) => sse(events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`));
  const start = ["message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant",
    model: "claude-x", content: [], usage: { input_tokens: 1, output_tokens: 0 } } }];
  // A block index at the top of u32: the answer still arrives.
  worker.upstream = () => anthropic([start,
    ["content_block_start", { type: "content_block_start", index: 4294967295, content_block: { type: "text", text: "" } }],
    ["content_block_delta", { type: "content_block_delta", index: 4294967295, delta: { type: "text_delta", text: "big index" } }],
    ["content_block_stop", { type: "content_block_stop", index: 4294967295 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2 } }],
    ["message_stop", { type: "message_stop" }]]);
  let body = await readChunks(await worker.post("/v1/chat/completions", { model: "claude-index", messages: USER_HI, stream: true }, AUTH));
  assert.equal(ssePayloads(body.text).map((c) => c.choices?.[0]?.delta?.content ?? "").join(""), "big index");

  // Arguments aimed at a message item of a Responses stream.
  const events = [
    { type: "response.created", response: { id: "resp_1", model: "m", output: [] } },
    { type: "response.output_item.added", output_index: 0, item: { type: "message", id: "msg_1", role: "assistant" } },
    { type: "response.function_call_arguments.delta", output_index: 0, delta: "{}" },
  ];
  worker.upstream = () => sse(events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
  body = await readChunks(await worker.post("/v1/chat/completions", { model: "resp-mismatch", messages: USER_HI, stream: true }, AUTH));
  assert.equal(body.done, true);
  assert.match(ssePayloads(body.text).at(-1).error.message, /function call arguments for output item 0/);

  // 9 MiB without a newline.
  const line = new Uint8Array(1 << 20).fill(0x78);
  worker.upstream = () => stream([new TextEncoder().encode("data: "), ...Array(9).fill(line)]);
  body = await readChunks(await worker.post("/v1/messages", { model: "gpt-endless", max_tokens: 5, messages: USER_HI, stream: true },
    { ...AUTH, "anthropic-version": "2023-06-01" }));
  assert.equal(body.done, true);
  assert.match(body.text, /event: error\ndata: .*larger than 8388608 bytes/);
});

test("a Chat server's reasoning of the wrong type, or huge, breaks no client's stream", async () => {
  const chunk = (delta, finish = null) =>
    `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m",
      choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const huge = "r".repeat(3 << 20);
  worker.upstream = () => sse([
    chunk({ role: "assistant", reasoning_content: 42 }),
    chunk({ reasoning_content: { text: "not text" }, reasoning: ["nor", "this"] }),
    chunk({ reasoning_content: huge }),
    chunk({ content: "Hello" }),
    chunk({}, "stop"),
    "data: [DONE]\n\n",
  ]);
  const anthropic = await readChunks(await worker.post("/v1/messages",
    { model: "gpt-reasoning", max_tokens: 5, messages: USER_HI, stream: true }, { ...AUTH, "anthropic-version": "2023-06-01" }));
  const events = ssePayloads(anthropic.text);
  assert.ok(!events.some((e) => e.type === "error"), anthropic.text.slice(-300));
  assert.equal(events.filter((e) => e.delta?.type === "thinking_delta").map((e) => e.delta.thinking).join(""), huge);
  assert.equal(events.filter((e) => e.delta?.type === "text_delta").map((e) => e.delta.text).join(""), "Hello");
  assert.equal(events.at(-1).type, "message_stop");
  const gemini = await readChunks(await worker.post("/v1beta/models/gpt-reasoning:streamGenerateContent?alt=sse",
    { contents: [{ role: "user", parts: [{ text: "hi" }] }] }, AUTH));
  const parts = ssePayloads(gemini.text).flatMap((c) => c.candidates?.[0]?.content?.parts ?? []);
  assert.equal(parts.filter((p) => p.thought).map((p) => p.text).join("").length, huge.length);
  assert.equal(parts.filter((p) => !p.thought).map((p) => p.text).join(""), "Hello");
});

test("without LLMPROXY_API_KEY only this machine is served, unless anonymous use is allowed", async () => {
  const open = await startWorker({ vars: { OPENAI_API_KEY: OPENAI_KEY }, config });
  const anonymous = await startWorker({ vars: { OPENAI_API_KEY: OPENAI_KEY, LLMPROXY_ALLOW_ANONYMOUS: "true" }, config });
  try {
    for (const w of [open, anonymous]) w.upstream = () => json(chatCompletion("served"));
    const ask = (w, url, headers = {}) => w.post(url, { model: "gpt-anon", messages: USER_HI }, headers);
    assert.equal((await readJson(await ask(open, "http://localhost/v1/chat/completions"))).choices[0].message.content, "served");
    assert.equal((await ask(open, "http://127.0.0.1:8787/v1/chat/completions")).status, 200);
    for (const [url, headers] of [
      ["https://llmproxy.example.workers.dev/v1/chat/completions", {}],
      ["http://localhost/v1/chat/completions", { "cf-connecting-ip": "203.0.113.9" }],
    ]) {
      const refused = await ask(open, url, headers);
      assert.equal(refused.status, 401, url);
      assert.match((await readJson(refused)).error.message, /LLMPROXY_API_KEY.*LLMPROXY_ALLOW_ANONYMOUS/);
    }
    const allowed = await ask(anonymous, "https://llmproxy.example.workers.dev/v1/chat/completions");
    assert.equal((await readJson(allowed)).choices[0].message.content, "served");
    assert.equal((await open.fetch("https://llmproxy.example.workers.dev/healthz")).status, 200, "health stays open");
  } finally {
    await open.dispose();
    await anonymous.dispose();
  }
});

test("a backend key that would break its header line is refused before anything is sent, one with whitespace around it is trimmed", async () => {
  const broken = await startWorker({ vars: routingVars({ OPENAI_API_KEY: `${OPENAI_KEY}\r\nx-injected: yes` }), config });
  const padded = await startWorker({ vars: routingVars({ OPENAI_API_KEY: `  ${OPENAI_KEY}\n` }), config });
  try {
    for (const w of [broken, padded]) w.upstream = () => json(chatCompletion("served"));
    const refused = await broken.post("/v1/chat/completions", { model: "gpt-a", messages: USER_HI }, AUTH);
    assert.equal(refused.status, 500);
    const { error } = await readJson(refused);
    assert.match(error.message, /the upstream header `authorization` has a value that is not allowed/);
    assert.ok(!JSON.stringify(error).includes(OPENAI_KEY), "the key stays out of the error");
    assert.equal(broken.requests.length, 0, "nothing went upstream");

    const served = await padded.post("/v1/chat/completions", { model: "gpt-a", messages: USER_HI }, AUTH);
    assert.equal((await readJson(served)).choices[0].message.content, "served");
    assert.equal(padded.lastRequest().headers.authorization, `Bearer ${OPENAI_KEY}`);
    assert.equal(padded.lastRequest().headers["x-injected"], undefined);
  } finally {
    await broken.dispose();
    await padded.dispose();
  }
});
