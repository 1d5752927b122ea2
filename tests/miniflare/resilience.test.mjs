// Retries, fallback across backends and dialects, balancing, key rotation and circuit breakers:
// every kind of upstream fault, streamed and not, on same-dialect and cross-dialect chains. A
// failure before anything reached the client is tried again or falls back; after content, the
// client gets its error event; what a retry cannot fix comes back at once.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  hangUp, json, readChunks, readJson, sleep, sse, sseEvents, stallBeforeHeaders, startWorker, wire,
} from "./harness.mjs";
import { AUTH, UPSTREAM, USER_HI, anthropicMessage, chatCompletion } from "./fixtures.mjs";

const backend = (name, kind, keys = [`${name.toUpperCase()}_KEY`]) =>
  ({ name, kind, base_url: `${UPSTREAM}/${name}${kind === "openai" ? "/v1" : ""}`, api_key_env: keys, models: [`${name}-*`] });
const RETRY = { attempts: 2, backoff_ms: 10, max_backoff_ms: 20, retry_after_max_seconds: 2 };
const config = {
  backends: [backend("first", "anthropic"), backend("second", "openai"), backend("twin", "anthropic"),
    backend("rotated", "openai", ["ROTATED_A", "ROTATED_B"]), backend("flaky", "openai"), backend("steady", "openai")],
  routes: {
    "claude-chain": { targets: [{ backend: "first", model: "claude-first" }, { backend: "second", model: "gpt-second" }], retry: RETRY },
    "claude-twins": { targets: [{ backend: "first", model: "claude-first" }, { backend: "twin", model: "claude-twin" }], retry: RETRY },
    "balanced": { balance: true, targets: [{ backend: "first", weight: 4 }, { backend: "twin", weight: 1 }] },
    "breaker-chain": { targets: [{ backend: "flaky" }, { backend: "steady" }] },
  },
  // Off here: the tests below fail the same backends many times on purpose. The breaker test
  // has a worker of its own.
  breaker: { failures: 0 },
};
const vars = { LLMPROXY_API_KEY: "client-key-for-tests", FIRST_KEY: "k1", SECOND_KEY: "k2", TWIN_KEY: "kt", ROTATED_A: "ra",
  ROTATED_B: "rb", FLAKY_KEY: "kf", STEADY_KEY: "ks", LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS: "1", LLMPROXY_CONFIG_TTL_SECONDS: "0" };
const worker = await startWorker({ vars, config });
after(() => worker.dispose());

const ANTHROPIC_CLIENT = { ...AUTH, "anthropic-version": "2023-06-01" };
const ask = (model, stream = false) => worker.post("/v1/messages", { model, max_tokens: 5, messages: USER_HI, stream }, ANTHROPIC_CLIENT);
const hosts = (from) => worker.requests.slice(from).map((r) => new URL(r.url).pathname.split("/")[1]);
const OVERLOADED = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
const anthropicEvents = () => wire("anthropic-tool-use.sdkpy.sse").toString().split(/(?<=\n\n)/).filter(Boolean);

/** What a healthy backend answers, whole or streamed, in its own dialect. */
function healthy(request, body) {
  const anthropic = new URL(request.url).pathname.includes("/v1/messages");
  if (!body.stream) return json(anthropic ? anthropicMessage("served") : chatCompletion("served"));
  return sse([wire(anthropic ? "anthropic-tool-use.sdkpy.sse" : "openai-chat-tool.sdkpy.sse")]);
}

/** Upstream answers: per backend, a list of faults for its first requests, then health. */
function upstreamWith(faults, target = worker) {
  const seen = {};
  target.upstream = async (request) => {
    const name = new URL(request.url).pathname.split("/")[1];
    const count = seen[name] = (seen[name] ?? 0) + 1;
    const body = JSON.parse(await request.clone().text());
    const fault = faults[name]?.[count - 1];
    return fault ? fault(request) : healthy(request, body);
  };
}

const FAULTS = {
  "connection refused": () => hangUp(),
  "a 500": () => json({ error: { message: "boom", type: "server_error" } }, { status: 500 }),
  "a 503": () => json({ error: { message: "unavailable" } }, { status: 503 }),
  "a 529": () => json(OVERLOADED, { status: 529 }),
  "a 429 with a short Retry-After": () => json({ type: "error", error: { type: "rate_limit_error", message: "slow" } },
    { status: 429, headers: { "retry-after": "1" } }),
  "a stall past the first-byte deadline": (request) => stallBeforeHeaders(request),
};

for (const [name, fault] of Object.entries(FAULTS)) {
  for (const streamed of [false, true]) {
    test(`${name} is tried again and falls back, ${streamed ? "streamed" : "whole"}, same dialect and across dialects`, async () => {
      // Twice at the first target, then the second: the Anthropic twin, or a Chat backend.
      for (const [route, second, translated] of [["claude-twins", "twin", false], ["claude-chain", "second", true]]) {
        upstreamWith({ first: [fault, fault] });
        const before = worker.requests.length;
        const response = await ask(route, streamed);
        assert.equal(response.status, 200, `${route}: ${response.status}`);
        assert.deepEqual(hosts(before), ["first", "first", second]);
        assert.equal(response.headers.get("x-llmproxy-backend"), second);
        assert.equal(response.headers.get("x-llmproxy-attempts"), "3");
        assert.equal(response.headers.get("x-llmproxy-model"), translated ? "gpt-second" : "claude-twin");
        if (streamed) {
          const events = sseEvents((await readChunks(response)).text);
          assert.equal(events[0].event, "message_start");
          assert.equal(events.at(-1).event, "message_stop", "a whole Messages stream");
          assert.ok(!events.some((e) => e.event === "error"));
        } else {
          const message = await readJson(response);
          assert.equal(message.type, "message");
        }
      }
    });
  }
}

test("a 429 whose Retry-After is longer than the cap falls back at once", async () => {
  const long = () => json({ type: "error", error: { type: "rate_limit_error", message: "later" } },
    { status: 429, headers: { "retry-after": "60" } });
  upstreamWith({ first: [long] });
  const before = worker.requests.length;
  const started = Date.now();
  const response = await ask("claude-chain");
  assert.equal((await readJson(response)).type, "message");
  assert.deepEqual(hosts(before), ["first", "second"]);
  assert.ok(Date.now() - started < 1500, "no wait");
});

test("an in-band error before any content is tried again; only the preamble was held", async () => {
  const inBand = () => sse([anthropicEvents()[0],
    `event: error\ndata: ${JSON.stringify(OVERLOADED)}\n\n`]);
  upstreamWith({ first: [inBand] });
  const before = worker.requests.length;
  const response = await ask("claude-twins", true);
  const events = sseEvents((await readChunks(response)).text);
  assert.deepEqual(hosts(before), ["first", "first"]);
  assert.equal(events.filter((e) => e.event === "message_start").length, 1, "one answer, not two glued");
  assert.ok(!events.some((e) => e.event === "error"));
  assert.equal(events.at(-1).event, "message_stop");
});

test("an error after content is the client's error event, and nothing is tried again", async () => {
  const late = () => sse([...anthropicEvents().slice(0, 4), `event: error\ndata: ${JSON.stringify(OVERLOADED)}\n\n`]);
  upstreamWith({ first: [late, late] });
  const before = worker.requests.length;
  const response = await ask("claude-twins", true);
  assert.equal(response.headers.get("x-llmproxy-attempts"), "1");
  const events = sseEvents((await readChunks(response)).text);
  assert.deepEqual(hosts(before), ["first"]);
  assert.equal(events.at(-1).event, "error");
  assert.equal(JSON.parse(events.at(-1).data).error.message, "Overloaded");
});

test("what a retry cannot fix comes back at once", async () => {
  for (const status of [400, 404, 413, 422]) {
    const refused = () => json({ type: "error", error: { type: "invalid_request_error", message: `no (${status})` } }, { status });
    upstreamWith({ first: [refused, refused] });
    const before = worker.requests.length;
    const response = await ask("claude-chain");
    assert.equal(response.status, status);
    assert.equal((await readJson(response)).error.message, `no (${status})`);
    assert.deepEqual(hosts(before), ["first"]);
  }
});

test("when every attempt fails the client gets the last upstream error, a 429 with its Retry-After", async () => {
  const limited = () => json({ error: { message: "rate limited", type: "requests", code: "rate_limit_exceeded" } },
    { status: 429, headers: { "retry-after": "1" } });
  upstreamWith({ first: [FAULTS["a 503"], FAULTS["a 503"]], second: [limited, limited] });
  const before = worker.requests.length;
  const response = await ask("claude-chain");
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal(response.headers.get("x-llmproxy-attempts"), "4");
  const error = await readJson(response);
  assert.deepEqual([error.type, error.error.type, error.error.message], ["error", "rate_limit_error", "rate limited"]);
  assert.deepEqual(hosts(before), ["first", "first", "second", "second"]);
});

test("a balanced route sends requests by weight, and every target stays a fallback", async () => {
  upstreamWith({});
  const before = worker.requests.length;
  for (let i = 0; i < 60; i++) await readJson(await ask("balanced"));
  const served = hosts(before);
  const first = served.filter((h) => h === "first").length;
  assert.ok(first >= 36 && first <= 58, `first served ${first} of 60 (weight 4 of 5)`);
  assert.ok(served.includes("twin"));
  upstreamWith({ first: [FAULTS["a 500"]], twin: [FAULTS["a 500"]] });
  const response = await ask("balanced");
  assert.equal(response.headers.get("x-llmproxy-attempts"), "2", "each target once, without retries");
  await readJson(response);
});

test("a refused key is set aside and the backend's other key serves", async () => {
  const refuseA = (request) => request.headers.get("authorization") === "Bearer ra"
    ? json({ error: { message: "invalid key", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 })
    : json(chatCompletion("served by rb"));
  worker.upstream = refuseA;
  const before = worker.requests.length;
  for (let i = 0; i < 3; i++) {
    const answer = await readJson(await worker.post("/v1/chat/completions", { model: "rotated-x", messages: USER_HI }, AUTH));
    assert.equal(answer.choices[0].message.content, "served by rb");
  }
  const keys = worker.requests.slice(before).map((r) => r.headers.authorization);
  assert.equal(keys.filter((k) => k === "Bearer ra").length, 1, `ra refused once, then set aside: ${keys}`);
});

test("a backend that keeps failing is skipped for the cooldown, then probed again", async () => {
  const breaking = await startWorker({ vars, config: { ...config, breaker: { failures: 2, cooldown_seconds: 1 } } });
  after(() => breaking.dispose());
  const { worker } = { worker: breaking };
  const ask = (model) => worker.post("/v1/messages", { model, max_tokens: 5, messages: USER_HI }, ANTHROPIC_CLIENT);
  const hosts = (from) => worker.requests.slice(from).map((r) => new URL(r.url).pathname.split("/")[1]);
  upstreamWith({ flaky: Array(10).fill(FAULTS["a 503"]) }, worker);
  const before = worker.requests.length;
  for (let i = 0; i < 2; i++) await readJson(await ask("breaker-chain"));
  assert.deepEqual(hosts(before), ["flaky", "steady", "flaky", "steady"]);
  const open = worker.requests.length;
  await readJson(await ask("breaker-chain"));
  assert.deepEqual(hosts(open), ["steady"], "the open breaker skips flaky");
  const status = await readJson(await worker.fetch("/status", { headers: AUTH }));
  assert.equal(status.backends.flaky.breaker, "open");
  assert.equal(status.backends.flaky.last_failure.class, "status 503");
  assert.equal(status.backends.steady.breaker, "closed");
  assert.equal((await worker.fetch("/status")).status, 401, "the status page needs the client key");
  await sleep(1100);
  upstreamWith({}, worker);
  const probe = worker.requests.length;
  await readJson(await ask("breaker-chain"));
  assert.deepEqual(hosts(probe), ["flaky"], "probed after the cooldown, and it served");
  assert.equal((await readJson(await worker.fetch("/status", { headers: AUTH }))).backends.flaky.breaker, "closed");
});
