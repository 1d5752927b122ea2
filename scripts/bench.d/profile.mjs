// A CPU profile of one llmproxy isolate (through workerd's inspector, the V8 Profiler domain)
// over `--requests` requests of the Chat route, whole answers or streams (`--stream`): the
// functions that spent the most of its time themselves, wasm ones by their Rust names (when the
// build kept them: LLMPROXY_KEEP_WASM_NAMES=1 scripts/build).
//   node scripts/bench.d/profile.mjs --port P --inspector-port I [--requests 2000] [--stream] [--top 30]
//     [--model gpt-bench]   (claude-bench: the route translated to the Anthropic upstream)
import http from "node:http";
import { parseArgs } from "node:util";
import { inspect } from "./inspector.mjs";

const { values } = parseArgs({ options: {
  port: { type: "string" }, "inspector-port": { type: "string" }, requests: { type: "string", default: "2000" },
  stream: { type: "boolean", default: false }, top: { type: "string", default: "30" },
  model: { type: "string", default: "gpt-bench" },
} });
const PORT = Number(values.port);
const REQUESTS = Number(values.requests);
const TIMEOUT_MS = 10_000;
const body = JSON.stringify({ model: values.model, messages: [{ role: "user", content: "hi" }], stream: values.stream });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request() {
  return new Promise((resolve, reject) => {
    const sent = http.request({ host: "127.0.0.1", port: PORT, path: "/v1/chat/completions", method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, timeout: TIMEOUT_MS },
    (response) => {
      response.resume();
      response.on("end", () => (response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`))));
    });
    sent.on("timeout", () => sent.destroy(new Error("no answer")));
    sent.on("error", reject);
    sent.end(body);
  });
}

// A profile of thousands of requests takes the inspector a while to hand over.
const { call, close } = await inspect(Number(values["inspector-port"]), { timeoutMs: 60_000 });

for (let i = 0; i < 200; i++) await request(); // warm up
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 50 });
await call("Profiler.start");
for (let i = 0; i < REQUESTS; i++) await request();
const { profile } = await call("Profiler.stop");
close();

// Self time per function: samples whose top frame it is, times the mean interval.
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
let wasm = 0; // self time in wasm functions (their frames' URLs are wasm://)
const intervals = profile.timeDeltas.reduce((a, b) => a + b, 0) / Math.max(1, profile.timeDeltas.length);
for (const id of profile.samples) {
  const frame = nodes.get(id).callFrame;
  const name = `${frame.functionName || "(anonymous)"} ${frame.url ? frame.url.split("/").pop() : ""}`.trim();
  self.set(name, (self.get(name) ?? 0) + intervals);
  if (frame.url.startsWith("wasm://")) wasm += intervals;
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const busy = [...self.entries()].filter(([name]) => !/^\((idle|program|garbage collector)\)/.test(name));
const busyTotal = busy.reduce((a, [, us]) => a + us, 0);
console.log(`${REQUESTS} ${values.stream ? "streamed" : "whole"} answers; sampled ${(total / 1000).toFixed(0)} ms, ` +
  `${(busyTotal / REQUESTS).toFixed(1)} us busy per request outside idle/program/gc; ` +
  `wasm ${(wasm / REQUESTS).toFixed(1)} us, program ${(((self.get("(program)") ?? 0)) / REQUESTS).toFixed(1)} us, gc ${(((self.get("(garbage collector)") ?? 0)) / REQUESTS).toFixed(1)} us per request`);
for (const [name, us] of busy.sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(`${(us / REQUESTS).toFixed(2).padStart(8)} us/req  ${((100 * us) / busyTotal).toFixed(1).padStart(5)}%  ${name.slice(0, 110)}`);
}
