// The limiter's cost, for scripts/bench: the latency an issued key adds to a request over an
// unrestricted LLMPROXY_API_KEY key on the same worker, with the keys' real Durable Objects and D1
// database. It runs under Miniflare, because plain `workerd serve` has no local D1 for the admin
// API; the figures are differences within one process, so Miniflare's own cost per request is in
// both sides. The upstream answers after UPSTREAM_MS (default 20 ms; a real model takes far longer
// to its first token), so that an admission asked alongside the upstream call can be seen to hide.
//
// Each of KEYS keys (rpm 10) makes 10 requests in turn: the first is the key's first in this
// isolate (a lookup and then the admission, one after the other), the 2nd to 9th leave it far from
// its limit (admission alongside the upstream call), the 10th comes near it (admission first).
// A static-key request is interleaved with each. Prints p50 and p99 of each kind and what each
// adds over the static key.
import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KEYS = Number(process.env.BENCH_LIMITER_KEYS ?? 100);
const UPSTREAM_MS = Number(process.env.BENCH_LIMITER_UPSTREAM_MS ?? 20);
const ADMIN_KEY = "bench-admin-key";
const STATIC_KEY = "bench-static-key";
const TIMEOUT_MS = 20_000;

const answer = JSON.stringify({
  id: "chatcmpl-bench", object: "chat.completion", created: 1, model: "gpt-bench",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
});
const upstream = http.createServer((request, response) => {
  request.resume();
  request.on("end", () => setTimeout(() => response.writeHead(200, { "content-type": "application/json" }).end(answer), UPSTREAM_MS));
});
await new Promise((resolve) => upstream.listen(0, "127.0.0.1", resolve));

const BUILD = `${ROOT}build`;
const mf = new Miniflare({
  compatibilityDate: "2026-08-06",
  compatibilityFlags: ["enable_request_signal"],
  modulesRoot: BUILD,
  modules: [{ type: "ESModule", path: `${BUILD}/index.js` }, { type: "CompiledWasm", path: `${BUILD}/index_bg.wasm` }],
  durableObjects: { KEYS: { className: "IssuedKey", useSQLite: true } },
  d1Databases: ["DB"],
  bindings: {
    LLMPROXY_BACKEND: "openai",
    LLMPROXY_BASE_URL: `http://127.0.0.1:${upstream.address().port}/v1`,
    OPENAI_API_KEY: "sk-bench",
    LLMPROXY_API_KEY: STATIC_KEY,
    LLMPROXY_ADMIN_KEY: ADMIN_KEY,
  },
});
await mf.ready;
const db = await mf.getD1Database("DB");
for (const file of readdirSync(`${ROOT}migrations`).sort()) {
  const statements = readFileSync(`${ROOT}migrations/${file}`, "utf8").replace(/--.*$/gm, "").split(";").map((s) => s.trim()).filter(Boolean);
  await db.batch(statements.map((s) => db.prepare(s)));
}

const body = JSON.stringify({ model: "gpt-bench", messages: [{ role: "user", content: "hi" }], max_tokens: 16 });
async function timed(key) {
  const started = process.hrtime.bigint();
  const response = await mf.dispatchFetch("http://localhost/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`status ${response.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

for (let i = 0; i < 20; i++) await timed(STATIC_KEY); // warm up
const times = { static: [], first: [], far: [], near: [] };
for (let k = 0; k < KEYS; k++) {
  const created = await mf.dispatchFetch("http://localhost/admin/keys", {
    method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `bench-${k}`, rpm: 10 }),
  });
  const { key } = await created.json();
  for (let n = 1; n <= 10; n++) {
    times.static.push(await timed(STATIC_KEY));
    times[n === 1 ? "first" : n === 10 ? "near" : "far"].push(await timed(key));
  }
}
await mf.dispose();
upstream.close();

const ms = (v) => `${v.toFixed(2)} ms`;
const base = { 50: percentile(times.static, 50), 99: percentile(times.static, 99) };
console.log(`\nlimiter: ${KEYS} issued keys x 10 requests, each next to a static-key request; upstream answers after ${UPSTREAM_MS} ms (Miniflare, real Durable Objects and D1)`);
for (const [kind, label] of [["static", "static key (no limiter)"], ["first", "issued, first use in the isolate"],
  ["far", "issued, far from its limits"], ["near", "issued, near a limit"]]) {
  const [p50, p99] = [percentile(times[kind], 50), percentile(times[kind], 99)];
  const added = kind === "static" ? "" : `   adds p50 ${ms(p50 - base[50])}, p99 ${ms(p99 - base[99])}`;
  console.log(`  ${label.padEnd(34)} p50 ${ms(p50)}, p99 ${ms(p99)} (${times[kind].length} requests)${added}`);
}
const farAdds = percentile(times.far, 50) - base[50];
console.log(`  target: a key far from its limits adds under 1 ms at p50: ${farAdds < 1 ? "met" : "MISSED"} (${ms(farAdds)})`);
