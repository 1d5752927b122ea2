// Cold start: starts a fresh `workerd serve` process on each given config, --starts times each
// (by turns, after one unrecorded start each that brings workerd's binary and the bundle into the
// page cache), and times one Chat Completions request (a whole JSON answer) from the process's
// start and from the moment it reports listening to the answer being in and checked.
//   node coldstart.mjs --workerd BIN --starts N --results FILE --target NAME=CONFIG... [--traced NAME=CONFIG...]
// Each CONFIG is encoded (`workerd compile --config-only`), as Miniflare hands workerd its config.
// workerd compiles and instantiates a Worker's modules before it listens, so "start -> answer"
// holds the isolate's creation and the first request, "listening -> answer" the first request
// alone (whatever a Worker leaves to it, such as V8 compiling wasm functions on first call). Both
// also hold what workerd itself does, which the target named `bare` (a socket in front of the
// upstream, no Worker at all) measures: each other target's start -> answer over bare's of the same
// turn is the new isolate to its first answer. A --traced config is a target's with V8's
// `--trace-wasm-compilation-times` among its v8Flags: one more start of it counts the wasm
// functions V8 compiled up to the first answer and the size of their bodies (V8 compiles a wasm
// function when it is first called), a figure the noise of the timings does not blur. Writes
// every figure to FILE for table.mjs.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { call, percentile } from "./client.mjs";

const { values } = parseArgs({ options: {
  workerd: { type: "string" }, starts: { type: "string" }, results: { type: "string" },
  target: { type: "string", multiple: true }, traced: { type: "string", multiple: true },
} });
const STARTS = Number(values.starts);
if (!(Number.isInteger(STARTS) && STARTS >= 1 && STARTS <= 100)) throw new Error(`--starts must be 1 to 100, got ${values.starts}`);
const targets = (values.target ?? []).map((spec) => {
  const [name, config] = spec.split("=");
  return { name, config, startMs: [], listenMs: [] };
});
if (!targets.some((t) => t.name === "bare")) throw new Error("a --target bare=CONFIG is needed");
/** Bounds a start, from spawning workerd to the checked answer. */
const START_TIMEOUT_MS = 20_000;
/** How long workerd may take to exit on SIGTERM before it gets SIGKILL. */
const EXIT_TIMEOUT_MS = 5_000;

const REQUEST = {
  path: "/v1/chat/completions",
  body: JSON.stringify({ model: "gpt-bench", messages: [{ role: "user", content: "Say something about foxes." }] }),
  answer: /"object":\s*"chat\.completion"/,
};

let running = null; // the workerd of the start under way, killed if this script is stopped
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    running?.kill("SIGKILL");
    process.exit(130);
  });
}

/** Stops `child` and resolves once it has exited. */
function stop(child) {
  return new Promise((resolve) => {
    // No pid: the process never started.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill("SIGKILL"), EXIT_TIMEOUT_MS);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * One fresh workerd on `target`'s config: resolves to { startMs, listenMs } of its first answer,
 * and to `output`, what it wrote to its standard output up to its exit when `withOutput`.
 */
async function coldStart(target, withOutput = false) {
  const spawned = process.hrtime.bigint();
  const sinceSpawn = () => Number(process.hrtime.bigint() - spawned) / 1e6;
  const child = spawn(values.workerd, ["serve", "--binary", target.config, "--control-fd=3"],
    { stdio: ["ignore", withOutput ? "pipe" : "ignore", "pipe", "pipe"] });
  running = child;
  let log = "";
  let output = "";
  child.stderr.on("data", (part) => (log += part));
  // As text: a chunk may end inside a character of a line (the "μ" of "μs").
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (part) => (output += part));
  // `close` comes once the process has exited and its pipes are drained.
  const closed = withOutput && new Promise((resolve) => child.once("close", resolve));
  try {
    const listenedMs = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listen event within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      let control = "";
      child.stdio[3].on("data", (part) => {
        control += part;
        const port = control.match(/"event":"listen".*"port":(\d+)/)?.[1];
        if (!port) return;
        clearTimeout(timer);
        target.port = Number(port);
        resolve(sinceSpawn());
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`workerd exited with ${code} before listening`)));
    });
    // A new agent: the first request opens a connection, as a client reaching a new isolate does.
    const agent = new http.Agent({ keepAlive: false });
    await call({ ...REQUEST, label: target.name, port: target.port, agent, timeoutMs: START_TIMEOUT_MS - listenedMs });
    const answeredMs = sinceSpawn();
    // Read once workerd has stopped, right after the answer, so that every line it wrote is in.
    if (withOutput) {
      await stop(child);
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`its output did not end within ${EXIT_TIMEOUT_MS} ms of its exit`)), EXIT_TIMEOUT_MS);
      });
      await Promise.race([closed, timeout]).finally(() => clearTimeout(timer));
    }
    return { startMs: answeredMs, listenMs: answeredMs - listenedMs, output };
  } catch (error) {
    throw new Error(`cold start of ${target.name} (${target.config}): ${error.message}\n${log.slice(-2000)}`);
  } finally {
    await stop(child);
    running = null;
  }
}

/**
 * V8's line for each wasm function it compiles, e.g. "Compiled function 0x5375bfd8f518#3320 using
 * Liftoff, took 71 μs and 16432 bytes; bodysize 82 codesize 536" (other V8 versions say ms).
 */
const COMPILED = /^Compiled function \S+#(\d+) using \w+, took \d+ (?:μs|ms) and \d+ bytes; bodysize (\d+) /gm;

/**
 * What a fresh start of the traced `target` compiled by its first answer (it is stopped right
 * after it). A function compiled again by a higher tier counts once.
 */
async function compiledFor(target) {
  const { output } = await coldStart(target, true);
  const bodies = new Map([...output.matchAll(COMPILED)].map((match) => [match[1], Number(match[2])]));
  const sizes = [...bodies.values()];
  if (sizes.length === 0) throw new Error(`${target.name} (${target.config}): no compiled wasm function in its output (no traced v8Flags?)`);
  return { functions: sizes.length, bodyBytes: sizes.reduce((sum, size) => sum + size, 0), largestBytes: Math.max(...sizes) };
}

for (const target of targets) await coldStart(target);
const isolateMs = Object.fromEntries(targets.map((t) => [t.name, []]));
for (let i = 0; i < STARTS; i++) {
  const turn = {};
  for (const target of targets) {
    turn[target.name] = await coldStart(target);
    target.startMs.push(turn[target.name].startMs);
    target.listenMs.push(turn[target.name].listenMs);
  }
  for (const target of targets) isolateMs[target.name].push(turn[target.name].startMs - turn.bare.startMs);
}

const summary = (values) => ({ medianMs: percentile(values, 50), maxMs: Math.max(...values) });
const results = Object.fromEntries(targets.map((t) => [t.name, {
  start: summary(t.startMs), listen: summary(t.listenMs), ...(t.name !== "bare" && { isolate: summary(isolateMs[t.name]) }),
}]));
for (const spec of values.traced ?? []) {
  const [name, config] = spec.split("=");
  if (!results[name] || name === "bare") throw new Error(`--traced ${name}: no --target with a Worker of that name`);
  results[name].compiled = await compiledFor({ name, config });
}
const ms = (s) => `${s.medianMs.toFixed(1)} (${s.maxMs.toFixed(1)})`.padStart(16);
console.log(`\ncold start: ${STARTS} fresh workerd processes per target, by turns; ms, median (max)`);
console.log(`${"target".padEnd(12)}${"start->answer".padStart(16)}${"listen->answer".padStart(16)}${"isolate->answer".padStart(16)}`);
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(12)}${ms(r.start)}${ms(r.listen)}${r.isolate ? ms(r.isolate) : "-".padStart(16)}`);
}
console.log("isolate->answer: start->answer over bare's (workerd with no Worker) in the same turn");
const kib = (bytes) => (bytes / 1024).toFixed(1);
for (const [name, { compiled }] of Object.entries(results)) {
  if (!compiled) continue;
  console.log(`${name}: up to the first answer V8 compiled ${compiled.functions} wasm functions, ${kib(compiled.bodyBytes)} KiB of bodies (the largest ${kib(compiled.largestBytes)} KiB)`);
}
fs.writeFileSync(values.results, JSON.stringify(results, null, 2));
