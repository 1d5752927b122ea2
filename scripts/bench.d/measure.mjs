// The request measurements of scripts/bench. Nine targets (eleven with a baseline) share the fake
// upstream (upstream.mjs):
//   (a) the upstream called directly,
//   (b) the no-op JavaScript forwarder Worker (forwarder.js), the floor of any Worker proxy,
//   (c) the transform floor Worker (transform-floor.js), the floor of any Worker that reads the bytes,
//   (d) llmproxy on the same-dialect route (Chat Completions client -> openai backend),
//   (e) llmproxy on the translated route (Chat Completions client -> anthropic backend),
//   (f) llmproxy translating the other way (Anthropic Messages client -> openai backend),
//   (g) the Rust floor Worker (rust-floor/), the floor of any Rust Worker that reads the bytes,
//   (h) the JavaScript + wasm floor Worker (wasm-floor/), the Rust floor's steps in a JavaScript shell,
//   (i) the glue floor Worker (glue-floor.js), the JavaScript + wasm floor with llmproxy's JavaScript,
//   (j), (k) with --baseline-*: another build of llmproxy (BENCH_BASELINE) on the routes of (d) and (e).
// (a) to (d), (f) to (j) ask a gpt-* model of the upstream's Chat endpoint, (e) and (k) a claude-* one
// of its Messages endpoint. For each kind of answer in BENCH_ANSWERS it prints latency, time to first byte
// and server CPU per request, and writes the figures to --results for table.mjs:
//   json       whole JSON answers;
//   short      short streams (about 20 events in two bursts);
//   realistic  streams of --stream-events text deltas, every event in a chunk of its own,
//              --event-gap-ms apart, as a model streams;
//   agent      whole JSON answers to the requests agents send, captured (fixtures/captures/): the
//              Chat clients send opencode's (31 KB, 10 tools), the Messages client Claude Code's
//              (78 KB, 24 tools, a tool result), each with the benchmark's model and no stream.
// json and short call the targets one request at a time, round robin, each round starting one
// target later, so that any drift of the machine (frequency scaling, other load) hits all alike. A
// realistic stream spends nearly all its time waiting for the upstream's next event, so a realistic
// round sends one stream to every target at once; CPU is read per process, so each target's stays
// its own.
//
// Every response is checked (status 200 and the answer's expected last event); a failed or wrong
// answer ends the run with exit code 1, because numbers from a broken proxy would mean nothing.
import http from "node:http";
import fs from "node:fs";
import { parseArgs } from "node:util";
import { call, cpuClock, percentile } from "./client.mjs";

const NUMBERS = ["upstream-port", "forwarder-port", "forwarder-pid", "floor-port", "floor-pid", "chat-port", "chat-pid",
  "translated-port", "translated-pid", "messages-port", "messages-pid", "rust-floor-port", "rust-floor-pid", "wasm-floor-port",
  "wasm-floor-pid", "glue-floor-port", "glue-floor-pid", "clock-ticks",
  "stream-events"];
// A baseline build of llmproxy (BENCH_BASELINE), measured on both routes when given.
const BASELINE_NUMBERS = ["baseline-chat-port", "baseline-chat-pid", "baseline-translated-port", "baseline-translated-pid"];
const STRINGS = ["event-gap-ms", "results"];
const { values: given } = parseArgs({
  options: Object.fromEntries([...NUMBERS, ...BASELINE_NUMBERS, ...STRINGS].map((name) => [name, { type: "string" }])),
});
const baseline = BASELINE_NUMBERS.some((name) => given[name] !== undefined);
const args = Object.fromEntries([...NUMBERS, ...(baseline ? BASELINE_NUMBERS : [])].map((name) => {
  const value = Number(given[name]);
  if (given[name] === undefined || !(value >= 0)) throw new Error(`--${name} needs a number, got ${given[name]}`);
  return [name, value];
}));
for (const name of STRINGS) if (!given[name]) throw new Error(`--${name} is missing`);
const GAP_MAX_MS = Number(given["event-gap-ms"].split("-").pop());

const env = (name, fallback) => {
  const value = process.env[name] ?? String(fallback);
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got ${value}`);
  return Number(value);
};
const ROUNDS = env("BENCH_ROUNDS", 1000);
const WARMUP_ROUNDS = env("BENCH_WARMUP", 50);
const REALISTIC_ROUNDS = env("BENCH_REALISTIC_ROUNDS", 100);
const REALISTIC_WARMUP_ROUNDS = env("BENCH_REALISTIC_WARMUP", 5);
const AGENT_ROUNDS = env("BENCH_AGENT_ROUNDS", 1000);
if (ROUNDS < 1 || REALISTIC_ROUNDS < 1 || AGENT_ROUNDS < 1) {
  throw new Error("BENCH_ROUNDS, BENCH_REALISTIC_ROUNDS and BENCH_AGENT_ROUNDS must be at least 1");
}

/** No single request may take longer than this; a hung target fails the run instead of stalling it. */
const REQUEST_TIMEOUT_MS = 10_000;
// A realistic stream waits up to the longest gap before each of its events (its framing adds six).
const REALISTIC_TIMEOUT_MS = REQUEST_TIMEOUT_MS + 2 * (args["stream-events"] + 6) * GAP_MAX_MS;

const KINDS = {
  json: { what: "whole JSON answers", stream: false, model: "bench", concurrent: false, rounds: ROUNDS,
    warmup: WARMUP_ROUNDS, timeoutMs: REQUEST_TIMEOUT_MS },
  short: { what: "short streams", stream: true, model: "bench", concurrent: false, rounds: ROUNDS,
    warmup: WARMUP_ROUNDS, timeoutMs: REQUEST_TIMEOUT_MS },
  realistic: {
    what: `realistic streams (${args["stream-events"]} text deltas, each event its own chunk, ${given["event-gap-ms"]} ms apart)`,
    stream: true, model: "realistic", concurrent: true, rounds: REALISTIC_ROUNDS, warmup: REALISTIC_WARMUP_ROUNDS,
    timeoutMs: REALISTIC_TIMEOUT_MS,
  },
  agent: { what: "whole JSON answers to agents' requests", stream: false, model: "bench", concurrent: false,
    rounds: AGENT_ROUNDS, warmup: WARMUP_ROUNDS, timeoutMs: REQUEST_TIMEOUT_MS, captured: true },
};
const answers = (process.env.BENCH_ANSWERS ?? Object.keys(KINDS).join(",")).split(",").filter(Boolean);
for (const name of answers) if (!(name in KINDS)) throw new Error(`BENCH_ANSWERS: no kind of answer ${name} (${Object.keys(KINDS)})`);

// `key` names a target in the results; `family` is the model family it asks for.
const targets = [
  { id: "a", key: "direct", label: "upstream, called directly", port: args["upstream-port"], client: "chat", family: "gpt" },
  { id: "b", key: "noop", label: "no-op JS forwarder Worker", port: args["forwarder-port"], pid: args["forwarder-pid"],
    client: "chat", family: "gpt" },
  { id: "c", key: "floor", label: "transform floor JS Worker", port: args["floor-port"], pid: args["floor-pid"],
    client: "chat", family: "gpt" },
  { id: "d", key: "same", label: "llmproxy, Chat -> openai", port: args["chat-port"], pid: args["chat-pid"],
    client: "chat", family: "gpt" },
  { id: "e", key: "translated", label: "llmproxy, Chat -> anthropic", port: args["translated-port"],
    pid: args["translated-pid"], client: "chat", family: "claude" },
  { id: "f", key: "messages", label: "llmproxy, Messages -> openai", port: args["messages-port"],
    pid: args["messages-pid"], client: "messages", family: "gpt" },
  { id: "g", key: "rustFloor", label: "Rust floor Worker", port: args["rust-floor-port"], pid: args["rust-floor-pid"],
    client: "chat", family: "gpt" },
  { id: "h", key: "wasmFloor", label: "JS + wasm floor Worker", port: args["wasm-floor-port"], pid: args["wasm-floor-pid"],
    client: "chat", family: "gpt" },
  { id: "i", key: "glueFloor", label: "glue floor Worker", port: args["glue-floor-port"], pid: args["glue-floor-pid"],
    client: "chat", family: "gpt" },
  ...(baseline ? [
    { id: "j", key: "baselineSame", label: "baseline, Chat -> openai", port: args["baseline-chat-port"],
      pid: args["baseline-chat-pid"], client: "chat", family: "gpt" },
    { id: "k", key: "baselineTranslated", label: "baseline, Chat -> anthropic", port: args["baseline-translated-port"],
      pid: args["baseline-translated-pid"], client: "chat", family: "claude" },
  ] : []),
];
const [, noop, floor] = targets;
// One kept-alive connection per target, as a client talking to one proxy would hold.
for (const target of targets) target.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const MESSAGES = [{ role: "user", content: "Say something about foxes." }];

/** The body of a captured request (fixtures/captures/), for the benchmark's `model`, answered whole. */
function captured(file, model) {
  const { body } = JSON.parse(fs.readFileSync(new URL(`../../fixtures/captures/${file}`, import.meta.url), "utf8"));
  const { stream, stream_options, ...rest } = typeof body === "string" ? JSON.parse(body) : body;
  return JSON.stringify({ ...rest, model });
}
const CAPTURED = { chat: "opencode-chat-tools.json", messages: "claude-code-tool-result.json" };

/** What `target` is asked for an answer of `kind`, and how its answer must end or what it holds. */
function requestOf(target, kind) {
  const model = `${target.family}-${kind.model}`;
  if (target.client === "chat") {
    return {
      path: "/v1/chat/completions",
      body: kind.captured ? captured(CAPTURED.chat, model)
        : JSON.stringify({ model, messages: MESSAGES, ...(kind.stream && { stream: true, stream_options: { include_usage: true } }) }),
      answer: kind.stream ? /data: \[DONE\]\n\n$/ : /"object":\s*"chat\.completion"/,
    };
  }
  return {
    path: "/v1/messages",
    body: kind.captured ? captured(CAPTURED.messages, model)
      : JSON.stringify({ model, max_tokens: 64, messages: MESSAGES, ...(kind.stream && { stream: true }) }),
    headers: { "anthropic-version": "2023-06-01" },
    answer: kind.stream ? /event: message_stop\ndata: [^\n]*\n\n$/ : /"type":\s*"message"/,
  };
}

/** Runs `kind`'s warm-up and measured rounds; returns every target's figures. */
async function measure(kind) {
  const requests = targets.map((target) => ({
    ...requestOf(target, kind), label: `(${target.id}) ${target.label}`, port: target.port, agent: target.agent,
    timeoutMs: kind.timeoutMs,
  }));
  const timings = targets.map(() => []);
  const callInTurn = async (round, i, record) => {
    const index = (round + i) % targets.length;
    const timing = await call(requests[index]);
    if (record) timings[index].push(timing);
  };
  const round = kind.concurrent
    ? (round, record) => Promise.all(targets.map((_, i) => callInTurn(round, i, record)))
    : async (round, record) => {
      for (let i = 0; i < targets.length; i++) await callInTurn(round, i, record);
    };
  for (let r = 0; r < kind.warmup; r++) await round(r, false);
  const clocks = targets.map((t) => t.pid && cpuClock(t.pid, args["clock-ticks"]));
  const started = process.hrtime.bigint();
  for (let r = 0; r < kind.rounds; r++) await round(r, true);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const figures = targets.map((t, i) => {
    const total = timings[i].map((timing) => timing.totalMs);
    const ttfb = timings[i].map((timing) => timing.ttfbMs);
    return {
      medianMs: percentile(total, 50), p99Ms: percentile(total, 99),
      ttfbMedianMs: percentile(ttfb, 50), ttfbP99Ms: percentile(ttfb, 99),
      cpuMs: t.pid ? clocks[i].elapsedMs() / kind.rounds : null,
    };
  });
  const cpuSources = new Set(clocks.filter(Boolean).map((clock) => clock.source));
  return { figures, elapsedS, cpuSources };
}

const ms = (value) => value.toFixed(3);
const added = (value) => (value >= 0 ? "+" : "") + value.toFixed(3);
const row = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(34) : cell.padStart(9))).join(" ");

function report(kind, { figures, elapsedS, cpuSources }) {
  const [direct] = figures;
  const noopCpu = figures[targets.indexOf(noop)].cpuMs;
  const floorCpu = figures[targets.indexOf(floor)].cpuMs;
  console.log(`\n${kind.what}: ${kind.rounds} measured rounds after ${kind.warmup} warm-up rounds, ` +
    (kind.concurrent ? "each round one request to every target at once" : "requests interleaved round robin") +
    ` across ${targets.length} targets (${elapsedS.toFixed(1)} s)`);
  console.log(`all times in ms; "added" = over (a), the upstream called directly; TTFB = first body byte; ` +
    `CPU x(b), x(c) = CPU per request over (b)'s, (c)'s`);
  console.log(row(["target", "median", "p99", "added", "added", "TTFB", "TTFB", "added", "CPU/req", "CPU", "CPU"]));
  console.log(row(["", "", "", "median", "p99", "median", "p99", "TTFB med", "ms", "x(b)", "x(c)"]));
  targets.forEach((t, i) => {
    const f = figures[i];
    const isDirect = i === 0;
    console.log(row([
      `(${t.id}) ${t.label}`, ms(f.medianMs), ms(f.p99Ms),
      isDirect ? "-" : added(f.medianMs - direct.medianMs), isDirect ? "-" : added(f.p99Ms - direct.p99Ms),
      ms(f.ttfbMedianMs), ms(f.ttfbP99Ms), isDirect ? "-" : added(f.ttfbMedianMs - direct.ttfbMedianMs),
      t.pid ? ms(f.cpuMs) : "-", t.pid ? (f.cpuMs / noopCpu).toFixed(2) : "-", t.pid ? (f.cpuMs / floorCpu).toFixed(2) : "-",
    ]));
  });
  const resolutionMs = 1000 / args["clock-ticks"] / kind.rounds;
  const ticks = `to +-${ms(resolutionMs)} ms (one clock tick of 1/${args["clock-ticks"]} s over ${kind.rounds} requests)`;
  const read = [...cpuSources].map((source) => (source === "ns" ? "to the ns (each thread's run time, schedstat)" : ticks));
  console.log(`CPU/req: CPU time of the target's own workerd process, all its threads, over the measured rounds, ` +
    `read ${read.join(" or ")}`);
}

const results = { kinds: {} };
for (const name of answers) {
  const kind = KINDS[name];
  const measured = await measure(kind);
  report(kind, measured);
  results.kinds[name] = {
    what: kind.what, rounds: kind.rounds, warmup: kind.warmup,
    targets: Object.fromEntries(targets.map((t, i) => [t.key, measured.figures[i]])),
  };
}
fs.writeFileSync(given.results, JSON.stringify(results, null, 2));
for (const target of targets) target.agent.destroy();
