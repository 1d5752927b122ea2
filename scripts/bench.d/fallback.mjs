// The fallback load test of scripts/bench: ROUNDS waves of PARALLEL concurrent streamed Chat requests
// through one llmproxy whose route `gpt-chain` tries a flaky target (one attempt in ten fails before
// any content) and then a steady one. Every answer must be whole and error-free; prints how many
// requests fell back and what the fallback cost, p50 and p99, against the requests that did not.
import http from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string" } } });
const PORT = Number(values.port);
const PARALLEL = 200;
const ROUNDS = Number(process.env.BENCH_FALLBACK_ROUNDS ?? 10);
const REQUEST_TIMEOUT_MS = 20_000;
const body = JSON.stringify({ model: "gpt-chain", messages: [{ role: "user", content: "hi" }], stream: true });
const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });

function stream() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const request = http.request({ host: "127.0.0.1", port: PORT, path: "/v1/chat/completions", method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, timeout: REQUEST_TIMEOUT_MS },
    (response) => {
      const parts = [];
      response.on("data", (part) => parts.push(part));
      response.on("end", () => {
        const text = Buffer.concat(parts).toString();
        const whole = response.statusCode === 200 && text.endsWith("data: [DONE]\n\n") && !text.includes('"error"');
        resolve({ whole, attempts: Number(response.headers["x-llmproxy-attempts"]), ms: Number(process.hrtime.bigint() - started) / 1e6,
          status: response.statusCode, tail: text.slice(-200) });
      });
      response.on("error", (error) => resolve({ whole: false, status: 0, tail: error.message }));
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on("error", (error) => resolve({ whole: false, status: 0, tail: error.message }));
    request.end(body);
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
};

await Promise.all(Array.from({ length: 20 }, stream)); // warm up
const results = [];
for (let round = 0; round < ROUNDS; round++) results.push(...(await Promise.all(Array.from({ length: PARALLEL }, stream))));
const failed = results.filter((r) => !r.whole);
const direct = results.filter((r) => r.whole && r.attempts === 1).map((r) => r.ms);
const fellBack = results.filter((r) => r.whole && r.attempts === 2).map((r) => r.ms);
const ms = (v) => `${v.toFixed(2)} ms`;
console.log(`\nfallback under load: ${results.length} streams, ${PARALLEL} at a time, a two-target chain whose first target fails 1 attempt in 10 before content`);
console.log(`  client-visible errors: ${failed.length}${failed.length ? ` (first: status ${failed[0].status}, ${failed[0].tail})` : ""}`);
console.log(`  fell back: ${fellBack.length} (${((100 * fellBack.length) / results.length).toFixed(1)}%)`);
console.log(`  latency, served at once:  p50 ${ms(percentile(direct, 50))}, p99 ${ms(percentile(direct, 99))}`);
console.log(`  latency, after a fallback: p50 ${ms(percentile(fellBack, 50))}, p99 ${ms(percentile(fellBack, 99))}`);
console.log(`  cost of a fallback: p50 +${ms(percentile(fellBack, 50) - percentile(direct, 50))}, p99 +${ms(percentile(fellBack, 99) - percentile(direct, 99))}`);
agent.destroy();
if (failed.length > 0) process.exit(1);
