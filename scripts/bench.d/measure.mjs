// The latency client of scripts/bench. It calls the four targets one request at a time, round
// robin, so that any drift of the machine (frequency scaling, other load) hits all of them alike,
// then prints latency, time to first byte and server CPU per request, and the targets.
//
// Every response is checked (status 200 and the answer's expected last event); a failed or wrong
// answer ends the run with exit code 1, because numbers from a broken proxy would mean nothing.
import http from "node:http";
import fs from "node:fs";
import { parseArgs } from "node:util";

const OPTIONS = ["upstream-port", "forwarder-port", "forwarder-pid", "chat-port", "chat-pid", "messages-port",
  "messages-pid", "clock-ticks", "bundle-kib", "bundle-gzip-kib"];
const { values: given } = parseArgs({ options: Object.fromEntries(OPTIONS.map((name) => [name, { type: "string" }])) });
const args = Object.fromEntries(OPTIONS.map((name) => {
  const value = Number(given[name]);
  if (given[name] === undefined || !(value >= 0)) throw new Error(`--${name} needs a number, got ${given[name]}`);
  return [name, value];
}));
const env = (name, fallback) => {
  const value = process.env[name] ?? String(fallback);
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got ${value}`);
  return Number(value);
};
const ROUNDS = env("BENCH_ROUNDS", 1000);
const WARMUP_ROUNDS = env("BENCH_WARMUP", 50);
const STREAM = env("BENCH_STREAM", 1) !== 0;
if (ROUNDS < 1) throw new Error("BENCH_ROUNDS must be at least 1");
/** No single request may take longer than this; a hung target fails the run instead of stalling it. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The targets the issue sets, stated next to the numbers. */
const GOALS = {
  bundleGzipKib: 1024, // 1 MB, in the binary units Cloudflare's size limits use
  excessMedianMs: 0.2,
  cpuRatio: 1.3,
};

const chatBody = JSON.stringify({
  model: "gpt-bench",
  messages: [{ role: "user", content: "Say something about foxes." }],
  ...(STREAM && { stream: true, stream_options: { include_usage: true } }),
});
const messagesBody = JSON.stringify({
  model: "gpt-bench",
  max_tokens: 64,
  messages: [{ role: "user", content: "Say something about foxes." }],
  ...(STREAM && { stream: true }),
});

// How a complete answer ends (streaming: the dialect's last event) or what it holds (JSON).
const chatAnswer = STREAM ? /data: \[DONE\]\n\n$/ : /"object":\s*"chat\.completion"/;
const messagesAnswer = STREAM ? /event: message_stop\ndata: [^\n]*\n\n$/ : /"type":\s*"message"/;

const chatTarget = (port) => ({ port, path: "/v1/chat/completions", body: chatBody, headers: {}, answer: chatAnswer });
const targets = [
  { id: "a", label: "upstream, called directly", ...chatTarget(args["upstream-port"]) },
  { id: "b", label: "no-op JS forwarder Worker", ...chatTarget(args["forwarder-port"]), pid: args["forwarder-pid"] },
  { id: "c", label: "llmproxy, Chat -> openai", ...chatTarget(args["chat-port"]), pid: args["chat-pid"] },
  {
    id: "d",
    label: "llmproxy, Messages -> openai",
    port: args["messages-port"],
    pid: args["messages-pid"],
    path: "/v1/messages",
    body: messagesBody,
    headers: { "anthropic-version": "2023-06-01" },
    answer: messagesAnswer,
  },
];
for (const target of targets) {
  // One kept-alive connection per target, as a client talking to one proxy would hold.
  target.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  target.totalMs = [];
  target.ttfbMs = [];
}

/** One request; resolves to its timings in ms once the whole answer is in and checked. */
function call(target) {
  return new Promise((resolve, reject) => {
    const fail = (why) => reject(new Error(`(${target.id}) ${target.label}: ${why}`));
    const start = process.hrtime.bigint();
    let firstByte;
    const request = http.request({
      host: "127.0.0.1",
      port: target.port,
      path: target.path,
      method: "POST",
      agent: target.agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(target.body), ...target.headers },
      timeout: REQUEST_TIMEOUT_MS,
    }, (response) => {
      const parts = [];
      response.on("data", (part) => {
        firstByte ??= process.hrtime.bigint();
        parts.push(part);
      });
      response.on("end", () => {
        const end = process.hrtime.bigint();
        const text = Buffer.concat(parts).toString("utf8");
        if (response.statusCode !== 200) return fail(`status ${response.statusCode}: ${text.slice(0, 500)}`);
        if (!target.answer.test(text)) return fail(`the answer does not match ${target.answer}:\n${text.slice(-500)}`);
        resolve({ totalMs: Number(end - start) / 1e6, ttfbMs: Number((firstByte ?? end) - start) / 1e6 });
      });
      response.on("error", (error) => fail(error.message));
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on("error", (error) => fail(error.message));
    request.end(target.body);
  });
}

/** Calls every target once per round; each round starts one target later so none always goes first. */
async function run(rounds, record) {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(round + i) % targets.length];
      const timing = await call(target);
      if (record) {
        target.totalMs.push(timing.totalMs);
        target.ttfbMs.push(timing.ttfbMs);
      }
    }
  }
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3, `state`
  return Number(fields[11]) + Number(fields[12]);
}

const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

await run(WARMUP_ROUNDS, false);
const ticksBefore = targets.map((t) => t.pid && cpuTicks(t.pid));
const started = process.hrtime.bigint();
await run(ROUNDS, true);
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
const clockTicks = args["clock-ticks"];
targets.forEach((t, i) => {
  t.median = percentile(t.totalMs, 50);
  t.p99 = percentile(t.totalMs, 99);
  t.ttfbMedian = percentile(t.ttfbMs, 50);
  t.ttfbP99 = percentile(t.ttfbMs, 99);
  if (t.pid) t.cpuMs = ((cpuTicks(t.pid) - ticksBefore[i]) * 1000) / clockTicks / ROUNDS;
});

// The report.
const [direct, forwarder, chat, messages] = targets;
const ms = (value) => value.toFixed(3);
const added = (value) => (value >= 0 ? "+" : "") + value.toFixed(3);
const row = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(34) : cell.padStart(9))).join(" ");
console.log(`${ROUNDS} measured rounds after ${WARMUP_ROUNDS} warm-up rounds, ${STREAM ? "streaming" : "not streaming"}, ` +
  `requests interleaved round robin across ${targets.length} targets (${elapsedS.toFixed(1)} s)`);
console.log(`all times in ms; "added" = over (a), the upstream called directly; TTFB = first body byte\n`);
console.log(row(["target", "median", "p99", "added", "added", "TTFB", "TTFB", "added", "CPU/req"]));
console.log(row(["", "", "", "median", "p99", "median", "p99", "TTFB med", "ms"]));
for (const t of targets) {
  const isDirect = t === direct;
  console.log(row([
    `(${t.id}) ${t.label}`, ms(t.median), ms(t.p99),
    isDirect ? "-" : added(t.median - direct.median), isDirect ? "-" : added(t.p99 - direct.p99),
    ms(t.ttfbMedian), ms(t.ttfbP99), isDirect ? "-" : added(t.ttfbMedian - direct.ttfbMedian),
    t.pid ? ms(t.cpuMs) : "-",
  ]));
}
const resolutionMs = 1000 / clockTicks / ROUNDS;
console.log(`\nCPU/req: utime+stime of the target's own workerd process over the measured rounds, ` +
  `to +-${ms(resolutionMs)} ms (one clock tick of 1/${clockTicks} s over ${ROUNDS} requests)`);
console.log(`bundle (wrangler deploy --dry-run): ${args["bundle-kib"].toFixed(2)} KiB, gzip ${args["bundle-gzip-kib"].toFixed(2)} KiB`);

console.log("\ntargets");
const check = (what, value, met) => console.log(`  ${what.padEnd(48)} ${value.padStart(12)}  ${met ? "met" : "NOT met"}`);
const bundleGzipKib = args["bundle-gzip-kib"];
check(`bundle under 1 MB gzip (${GOALS.bundleGzipKib} KiB)`, `${bundleGzipKib.toFixed(2)} KiB`, bundleGzipKib < GOALS.bundleGzipKib);
for (const t of [chat, messages]) {
  const excess = t.median - forwarder.median;
  check(`(${t.id}) median excess over (b) under ${GOALS.excessMedianMs} ms`, `${added(excess)} ms`, excess < GOALS.excessMedianMs);
}
for (const t of [chat, messages]) {
  const ratio = t.cpuMs / forwarder.cpuMs;
  check(`(${t.id}) CPU per request under ${GOALS.cpuRatio}x (b)'s`, `${ratio.toFixed(2)}x`, ratio < GOALS.cpuRatio);
}
for (const t of targets) t.agent.destroy();
