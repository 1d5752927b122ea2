// Usage over a range: totals, charts over time (uPlot), and the tables by model, key and backend,
// from /admin/usage.

import { api, fillTable, format } from "./api.js";

const $ = (id) => document.getElementById(id);
const charts = new Map();

/** The bucket of a range: minutes for an hour, hours for a day, days beyond. */
function bucketOf(rangeMs) {
  if (rangeMs <= 3_600_000) return "minute";
  if (rangeMs <= 86_400_000) return "hour";
  return "day";
}

/** A bucket's label (`2026-12-01T10:00`, `2026-12-01`) as Unix seconds. */
function secondsOf(label) {
  const iso = label.length === 10 ? `${label}T00:00:00Z` : `${label}:00Z`;
  return Date.parse(iso) / 1000;
}

function usage(group, from, to) {
  const query = new URLSearchParams({ from: String(from), to: String(to) });
  if (group) query.set("group", group);
  return api("GET", `/admin/usage?${query}`);
}

export async function showUsage() {
  $("range").onchange = showUsage;
  $("usage-refresh").onclick = showUsage;
  const range = Number($("range").value);
  const to = Date.now() + 60_000;
  const from = to - range;
  const bucket = bucketOf(range);
  const [all, series, models, keys, backends] = await Promise.all([
    usage(null, from, to),
    usage(bucket, from, to),
    usage("model", from, to),
    usage("key", from, to),
    usage("backend", from, to),
  ]);
  showTotals(all.totals ?? {}, all.price_source);
  showCharts(series.groups ?? [], [from / 1000, to / 1000]);
  const rows = (answer) => (answer.groups ?? []).filter((row) => row.grp !== null);
  const slowest = [...rows(models)].sort((a, b) => (b.total_ms_p95 ?? 0) - (a.total_ms_p95 ?? 0)).slice(0, 10);
  const failing = rows(models).filter((row) => row.errors > 0).sort((a, b) => b.errors - a.errors).slice(0, 10);
  fillTable($("slowest"), columns("Model"), slowest);
  fillTable($("failing"), columns("Model"), failing, "no failures in this range");
  fillTable($("by-model"), columns("Model"), rows(models));
  fillTable($("by-key"), columns("Key"), rows(keys));
  fillTable($("by-backend"), columns("Backend"), rows(backends));
}

function columns(name) {
  return [
    [name, (row) => row.grp],
    ["Requests", (row) => format.number(row.requests)],
    ["Errors", (row) => `${format.number(row.errors)} (${format.percent(row.errors, row.requests)})`],
    ["Input tokens", (row) => format.number(row.input_tokens)],
    ["Output tokens", (row) => format.number(row.output_tokens)],
    ["Cost", (row) => format.usd(row.cost_usd)],
    ["p50", (row) => format.ms(row.total_ms_p50)],
    ["p95", (row) => format.ms(row.total_ms_p95)],
  ];
}

function showTotals(totals, priceSource) {
  const card = (title, value, note) => {
    const div = document.createElement("div");
    div.className = "card";
    div.dataset.total = title;
    div.innerHTML = "<span class=title></span><strong></strong><small></small>";
    div.querySelector(".title").textContent = title;
    div.querySelector("strong").textContent = value;
    div.querySelector("small").textContent = note ?? "";
    return div;
  };
  $("totals").replaceChildren(
    card("Requests", format.number(totals.requests ?? 0)),
    card("Error rate", format.percent(totals.errors ?? 0, totals.requests ?? 0), `${format.number(totals.errors ?? 0)} errors`),
    card("Tokens", format.number((totals.input_tokens ?? 0) + (totals.output_tokens ?? 0)),
      `${format.number(totals.input_tokens ?? 0)} in, ${format.number(totals.output_tokens ?? 0)} out`),
    card("Cost", format.usd(totals.cost_usd), priceSource ? `prices: ${priceSource}` : null),
    card("Latency p50", format.ms(totals.total_ms_p50)),
    card("Latency p95", format.ms(totals.total_ms_p95)),
  );
}

function showCharts(groups, range) {
  const x = groups.map((row) => secondsOf(row.grp));
  const pick = (field) => groups.map((row) => row[field] ?? null);
  draw("chart-requests", [x, pick("requests"), pick("errors")], ["requests", "errors"], range);
  draw("chart-tokens", [x, pick("input_tokens"), pick("output_tokens")], ["input", "output"], range);
  draw("chart-cost", [x, pick("cost_usd")], ["USD"], range);
  draw("chart-latency", [x, pick("total_ms_p50"), pick("total_ms_p95")], ["p50", "p95"], range);
}

const COLOURS = ["#2563eb", "#dc2626", "#059669"];

/** A chart of `data` ([times, ...series]) over the whole `range` (Unix seconds), however few its points. */
function draw(id, data, names, range) {
  const target = $(id);
  charts.get(id)?.destroy();
  const width = Math.max(240, target.clientWidth || 320);
  const options = {
    width,
    height: 180,
    series: [{}, ...names.map((label, i) => ({ label, stroke: COLOURS[i], width: 2, points: { show: true, size: 6 } }))],
    scales: { x: { time: true, range: () => range }, y: { range: (_, min, max) => [Math.min(0, min ?? 0), (Math.max(0, max ?? 0) * 1.1) || 1] } },
    axes: [{}, { size: 60 }],
    legend: { live: false },
  };
  const chart = new uPlot(options, data, target);
  target.dataset.points = String(data[0].length);
  charts.set(id, chart);
}

window.addEventListener("resize", () => {
  for (const [id, chart] of charts) chart.setSize({ width: Math.max(240, $(id).clientWidth || 320), height: 180 });
});
