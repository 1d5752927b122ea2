// The summary of scripts/bench: one markdown table with every figure next to its goal, to paste
// into the README.
//   node table.mjs --requests FILE --coldstart FILE --bundle-gzip-kib N --rust-floor-gzip-kib N [--out FILE]
// FILE are what measure.mjs and coldstart.mjs wrote; a part of the benchmark that did not run
// (BENCH_ONLY, BENCH_ANSWERS) left no file, and its rows are left out. --out also writes the table
// to a file.
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: {
  requests: { type: "string" }, coldstart: { type: "string" }, "bundle-gzip-kib": { type: "string" },
  "rust-floor-gzip-kib": { type: "string" }, out: { type: "string" },
} });
const read = (file) => (file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : null);
const requests = read(values.requests);
const coldStart = read(values.coldstart);
const bundleGzipKib = Number(values["bundle-gzip-kib"]);
const rustFloorGzipKib = Number(values["rust-floor-gzip-kib"]);

/** The goals, each with how a figure meets it. */
const GOALS = {
  // JSON answers: p50 latency llmproxy adds over the no-op forwarder, same-dialect and translated.
  latencyAddedMs: { text: "≤ 0.5 ms", met: (ms) => ms <= 0.5 },
  // JSON answers: server CPU per request over the no-op forwarder's.
  cpuOverNoop: { text: "≤ 1.5×", met: (ratio) => ratio <= 1.5 },
  // Server CPU per realistic translated stream over the transform floor's.
  translatedStreamOverFloor: { text: "translated ≤ 1.2×", met: (ratio) => ratio <= 1.2 },
  // A new isolate to its first answer.
  coldStartMs: { text: "< 50 ms", met: (ms) => ms < 50 },
  // The bundle as Cloudflare counts it (KiB, as wrangler prints it).
  bundleGzipKib: { text: "≤ 600 KiB", met: (kib) => kib <= 600 },
};

const ms = (value) => value.toFixed(3);
const added = (value) => (value >= 0 ? "+" : "") + value.toFixed(3);
const ratio = (value) => `${value.toFixed(2)}×`;
const medianMax = (s) => `${s.medianMs.toFixed(1)} (${s.maxMs.toFixed(1)})`;
/** "yes", or "no" with the routes that miss it when only some do. */
function verdict(routes) {
  const missed = Object.entries(routes).filter(([, met]) => !met).map(([route]) => route);
  if (missed.length === 0) return "yes";
  return missed.length === Object.keys(routes).length ? "no" : `no (${missed.join(", ")})`;
}

// Cells: metric, no-op, transform floor, Rust floor, JS + wasm floor, same dialect, translated, goal, met?
const rows = [];
const ANSWER_NAMES = { json: "JSON answers", short: "Short streams", realistic: "Realistic streams" };
for (const [kind, measured] of Object.entries(requests?.kinds ?? {})) {
  const { direct, noop, floor, rustFloor, wasmFloor, same, translated } = measured.targets;
  const name = ANSWER_NAMES[kind];
  const routes = [noop, floor, rustFloor, wasmFloor, same, translated];
  if (kind !== "realistic") {
    rows.push([`${name}: p50 latency added over the upstream called directly, ms`,
      ...routes.map((t) => added(t.medianMs - direct.medianMs)), "", ""]);
    const over = (t) => t.medianMs - noop.medianMs;
    const latencyGoal = kind === "json" ? GOALS.latencyAddedMs : null;
    rows.push([`${name}: p50 latency added over the no-op, ms`, "", added(over(floor)), added(over(rustFloor)),
      added(over(wasmFloor)), added(over(same)), added(over(translated)), latencyGoal?.text ?? "",
      latencyGoal ? verdict({ "same dialect": latencyGoal.met(over(same)), translated: latencyGoal.met(over(translated)) }) : ""]);
  }
  rows.push([`${name}: server CPU per request, ms`, ...routes.map((t) => ms(t.cpuMs)), "", ""]);
  const overNoop = (t) => t.cpuMs / noop.cpuMs;
  const cpuGoal = kind === "json" ? GOALS.cpuOverNoop : null;
  rows.push([`${name}: server CPU per request ÷ no-op's`, ...routes.map((t) => ratio(overNoop(t))), cpuGoal?.text ?? "",
    cpuGoal ? verdict({ "same dialect": cpuGoal.met(overNoop(same)), translated: cpuGoal.met(overNoop(translated)) }) : ""]);
  if (kind === "realistic") {
    const overFloor = (t) => t.cpuMs / floor.cpuMs;
    const goal = GOALS.translatedStreamOverFloor;
    rows.push([`${name}: server CPU per request ÷ transform floor's`, "", ...[floor, rustFloor, wasmFloor, same, translated].map((t) => ratio(overFloor(t))),
      goal.text, verdict({ translated: goal.met(overFloor(translated)) })]);
  }
  if (kind === "json") {
    // How much of llmproxy's cost any Rust Worker pays. (A stream the Rust floor passes untouched.)
    const overRustFloor = (t) => t.cpuMs / rustFloor.cpuMs;
    rows.push([`${name}: server CPU per request ÷ Rust floor's`, "", "", ratio(1), ratio(overRustFloor(wasmFloor)), ratio(overRustFloor(same)),
      ratio(overRustFloor(translated)), "", ""]);
  }
}
if (coldStart) {
  const { noop, rustFloor, llmproxy } = coldStart;
  rows.push(["Cold start: process start → first answer, ms, median (max)", medianMax(noop.start), "",
    medianMax(rustFloor.start), "", medianMax(llmproxy.start), "(same bundle)", "", ""]);
  rows.push(["Cold start: listening → first answer, ms, median (max)", medianMax(noop.listen), "",
    medianMax(rustFloor.listen), "", medianMax(llmproxy.listen), "(same bundle)", "", ""]);
  rows.push(["Cold start: new isolate → first answer, ms, median (max)", medianMax(noop.isolate), "",
    medianMax(rustFloor.isolate), "", medianMax(llmproxy.isolate), "(same bundle)", GOALS.coldStartMs.text,
    verdict({ median: GOALS.coldStartMs.met(llmproxy.isolate.medianMs), max: GOALS.coldStartMs.met(llmproxy.isolate.maxMs) })]);
  // The machine's speed drifts from run to run, the floor's with llmproxy's: their ratio does less.
  rows.push(["Cold start: new isolate → first answer ÷ Rust floor's (medians)", "", "", ratio(1), "",
    ratio(llmproxy.isolate.medianMs / rustFloor.isolate.medianMs), "(same bundle)", "", ""]);
  if (rustFloor.compiled && llmproxy.compiled) {
    const compiled = ({ functions, bodyBytes }) => `${functions}, ${(bodyBytes / 1024).toFixed(1)} KiB`;
    rows.push(["Cold start: wasm functions V8 compiled up to the first answer, and their bodies", "", "",
      compiled(rustFloor.compiled), "", compiled(llmproxy.compiled), "(same bundle)", "", ""]);
  }
}
rows.push(["Bundle, gzip KiB", "", "", rustFloorGzipKib.toFixed(2), "", bundleGzipKib.toFixed(2), "(same bundle)", GOALS.bundleGzipKib.text,
  verdict({ bundle: GOALS.bundleGzipKib.met(bundleGzipKib) })]);

const header = ["metric", "no-op", "transform floor", "Rust floor", "JS + wasm floor", "same dialect", "translated", "goal", "met?"];
const line = (cells) => `| ${cells.map((cell) => cell || "—").join(" | ")} |`;
const table = [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
console.log(`\nsummary (same dialect = Chat -> openai, translated = Chat -> anthropic)\n\n${table}`);
if (values.out) fs.writeFileSync(values.out, table);
