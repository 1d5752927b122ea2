// The summary of scripts/bench: one markdown table with every figure next to its goal, to paste
// into the README.
//   node table.mjs --requests FILE --coldstart FILE --bundle-gzip-kib N --rust-floor-gzip-kib N
//     [--baseline-gzip-kib N] [--out FILE]
// FILE are what measure.mjs and coldstart.mjs wrote; a part of the benchmark that did not run
// (BENCH_ONLY, BENCH_ANSWERS) left no file, and its rows are left out. A baseline build
// (BENCH_BASELINE) has two columns of its own, its routes as llmproxy's. --out also writes the
// table to a file.
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: {
  requests: { type: "string" }, coldstart: { type: "string" }, "bundle-gzip-kib": { type: "string" },
  "rust-floor-gzip-kib": { type: "string" }, "baseline-gzip-kib": { type: "string" }, out: { type: "string" },
} });
const read = (file) => (file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : null);
const requests = read(values.requests);
const coldStart = read(values.coldstart);
const bundleGzipKib = Number(values["bundle-gzip-kib"]);
const rustFloorGzipKib = Number(values["rust-floor-gzip-kib"]);
const baselineGzipKib = values["baseline-gzip-kib"] === undefined ? null : Number(values["baseline-gzip-kib"]);

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

// The columns between the metric and the goal: each measured target, by its key in the results.
const baseline = Boolean(requests?.kinds && Object.values(requests.kinds)[0]?.targets.baselineSame) ||
  Boolean(coldStart?.baseline) || baselineGzipKib !== null;
const COLUMNS = [
  ["noop", "no-op"], ["floor", "transform floor"], ["rustFloor", "Rust floor"], ["wasmFloor", "JS + wasm floor"], ["glueFloor", "glue floor"],
  ["same", "same dialect"], ["translated", "translated"],
  ...(baseline ? [["baselineSame", "same dialect, baseline"], ["baselineTranslated", "translated, baseline"]] : []),
];
/** Rows: a metric, its cells by column key, and its goal and verdict. */
const rows = [];
const push = (metric, cells, goal = "", met = "") => rows.push({ metric, cells, goal, met });
/** `f` of each target of `targets` (by key) that was measured. */
const each = (targets, keys, f) => Object.fromEntries(keys.filter((key) => targets[key]).map((key) => [key, f(targets[key])]));
const ALL = COLUMNS.map(([key]) => key);
/** The routes of llmproxy, and of the baseline's columns when there is one. */
const LLMPROXY = ["same", "translated", "baselineSame", "baselineTranslated"];

const ANSWER_NAMES = {
  json: "JSON answers", short: "Short streams", realistic: "Realistic streams", agent: "JSON answers to agents' requests",
};
for (const [kind, measured] of Object.entries(requests?.kinds ?? {})) {
  const { targets } = measured;
  const { direct, noop, floor, rustFloor, glueFloor, same, translated } = targets;
  const name = ANSWER_NAMES[kind];
  if (kind !== "realistic") {
    push(`${name}: p50 latency added over the upstream called directly, ms`, each(targets, ALL, (t) => added(t.medianMs - direct.medianMs)));
    const over = (t) => t.medianMs - noop.medianMs;
    const goal = kind === "json" ? GOALS.latencyAddedMs : null;
    push(`${name}: p50 latency added over the no-op, ms`, each(targets, ALL.slice(1), (t) => added(over(t))), goal?.text,
      goal ? verdict({ "same dialect": goal.met(over(same)), translated: goal.met(over(translated)) }) : "");
  }
  push(`${name}: server CPU per request, ms`, each(targets, ALL, (t) => ms(t.cpuMs)));
  const overNoop = (t) => t.cpuMs / noop.cpuMs;
  const cpuGoal = kind === "json" ? GOALS.cpuOverNoop : null;
  push(`${name}: server CPU per request ÷ no-op's`, each(targets, ALL, (t) => ratio(overNoop(t))), cpuGoal?.text,
    cpuGoal ? verdict({ "same dialect": cpuGoal.met(overNoop(same)), translated: cpuGoal.met(overNoop(translated)) }) : "");
  if (kind === "realistic") {
    const overFloor = (t) => t.cpuMs / floor.cpuMs;
    const goal = GOALS.translatedStreamOverFloor;
    push(`${name}: server CPU per request ÷ transform floor's`, each(targets, ALL.slice(1), (t) => ratio(overFloor(t))),
      goal.text, verdict({ translated: goal.met(overFloor(translated)) }));
  }
  if (kind === "json") {
    // How much of llmproxy's cost any Rust Worker pays. (A stream the Rust floor passes untouched.)
    push(`${name}: server CPU per request ÷ Rust floor's`,
      each(targets, ["rustFloor", "wasmFloor", "glueFloor", ...LLMPROXY], (t) => ratio(t.cpuMs / rustFloor.cpuMs)));
    // What llmproxy's Rust side costs over its JavaScript doing the I/O (see glue-floor.js).
    push(`${name}: server CPU per request ÷ glue floor's`,
      each(targets, ["glueFloor", ...LLMPROXY], (t) => ratio(t.cpuMs / glueFloor.cpuMs)));
  }
}
if (coldStart) {
  const { noop, rustFloor, llmproxy } = coldStart;
  // Each bundle serves both routes: its figures go in its same-dialect column.
  const cells = (figure) => ({
    noop: figure(noop), rustFloor: figure(rustFloor), same: figure(llmproxy), translated: "(same bundle)",
    ...(coldStart.baseline && { baselineSame: figure(coldStart.baseline), baselineTranslated: "(same bundle)" }),
  });
  push("Cold start: process start → first answer, ms, median (max)", cells((t) => medianMax(t.start)));
  push("Cold start: listening → first answer, ms, median (max)", cells((t) => medianMax(t.listen)));
  push("Cold start: new isolate → first answer, ms, median (max)", cells((t) => medianMax(t.isolate)), GOALS.coldStartMs.text,
    verdict({ median: GOALS.coldStartMs.met(llmproxy.isolate.medianMs), max: GOALS.coldStartMs.met(llmproxy.isolate.maxMs) }));
  // The machine's speed drifts from run to run, the floor's with llmproxy's: their ratio does less.
  const overFloor = (t) => ratio(t.isolate.medianMs / rustFloor.isolate.medianMs);
  push("Cold start: new isolate → first answer ÷ Rust floor's (medians)", { ...cells(overFloor), noop: "" });
  if (rustFloor.compiled && llmproxy.compiled) {
    const compiled = ({ functions, bodyBytes }) => `${functions}, ${(bodyBytes / 1024).toFixed(1)} KiB`;
    push("Cold start: wasm functions V8 compiled up to the first answer, and their bodies",
      { rustFloor: compiled(rustFloor.compiled), same: compiled(llmproxy.compiled), translated: "(same bundle)" });
  }
}
push("Bundle, gzip KiB", {
  rustFloor: rustFloorGzipKib.toFixed(2), same: bundleGzipKib.toFixed(2), translated: "(same bundle)",
  ...(baselineGzipKib !== null && { baselineSame: baselineGzipKib.toFixed(2), baselineTranslated: "(same bundle)" }),
}, GOALS.bundleGzipKib.text, verdict({ bundle: GOALS.bundleGzipKib.met(bundleGzipKib) }));

const header = ["metric", ...COLUMNS.map(([, title]) => title), "goal", "met?"];
const line = (cells) => `| ${cells.map((cell) => cell || "—").join(" | ")} |`;
const body = rows.map(({ metric, cells, goal, met }) => line([metric, ...COLUMNS.map(([key]) => cells[key]), goal, met]));
const table = [line(header), line(header.map(() => "---")), ...body].join("\n") + "\n";
console.log(`\nsummary (same dialect = Chat -> openai, translated = Chat -> anthropic)\n\n${table}`);
if (values.out) fs.writeFileSync(values.out, table);
