// The config: edited as JSON, checked as it is typed by the worker's own validation, reviewed as
// a diff against the revision it is based on, saved only if that revision is still the latest;
// its history, each revision viewable and restorable.

import { api, el, fillTable, format } from "./api.js";

const $ = (id) => document.getElementById(id);
let base = { revision: 0, text: "" };
let checking = 0;

const pretty = (value) => `${JSON.stringify(value, null, 2)}\n`;

export async function showConfig() {
  $("config-reload").onclick = load;
  $("config-text").oninput = () => {
    $("config-save").disabled = true;
    $("config-diff").hidden = true;
    clearTimeout(checking);
    checking = setTimeout(check, 300);
  };
  $("config-review").onclick = review;
  $("config-save").onclick = save;
  await load();
}

async function load() {
  const current = await api("GET", "/admin/config");
  base = { revision: current.revision, text: current.config ? pretty(current.config) : "" };
  $("config-text").value = base.text;
  $("config-revision").textContent = `revision ${current.revision}${current.revision === 0 ? ` (${current.source})` : ""}`;
  $("config-status").textContent = "";
  $("config-status").className = "";
  $("config-problems").replaceChildren();
  $("config-diff").hidden = true;
  $("config-save").disabled = true;
  await history();
}

/** The edited document, or null after its syntax error was shown. */
function edited() {
  try {
    return JSON.parse($("config-text").value);
  } catch (error) {
    $("config-problems").replaceChildren(el("li", { text: `not JSON: ${error.message}` }));
    return null;
  }
}

async function check() {
  const config = edited();
  if (config === null) return false;
  const { valid, problems } = await api("POST", "/admin/config/validate", { config });
  $("config-problems").replaceChildren(
    ...problems.map((problem) => el("li", {}, el("code", { text: problem.path || "(document)" }), ` ${problem.message}`)),
  );
  return valid;
}

async function review() {
  if (!(await check())) return;
  const lines = diff(base.text.split("\n"), pretty(edited()).split("\n"));
  const changed = lines.some(([mark]) => mark !== " ");
  $("config-diff").replaceChildren(
    ...(changed ? lines : [[" ", "no changes"]]).map(([mark, line]) =>
      el("span", { class: { "+": "added", "-": "removed", " ": "same" }[mark], text: `${mark} ${line}\n` }),
    ),
  );
  $("config-diff").hidden = false;
  $("config-save").disabled = !changed;
}

async function save() {
  const status = $("config-status");
  try {
    const saved = await api("PUT", "/admin/config", {
      if_revision: base.revision,
      config: edited(),
      note: $("config-note").value,
    });
    $("config-note").value = "";
    await load();
    status.className = "ok";
    status.textContent = `Saved as revision ${saved.revision}.`;
  } catch (error) {
    status.className = "error";
    if (error.status === 412) {
      status.textContent = `Conflict: ${error.message} Your edit is still in the editor; reload to see the latest.`;
    } else if (error.body?.problems) {
      status.textContent = "Not saved: the config has problems.";
      $("config-problems").replaceChildren(
        ...error.body.problems.map((p) => el("li", {}, el("code", { text: p.path || "(document)" }), ` ${p.message}`)),
      );
    } else {
      status.textContent = `Not saved: ${error.message}`;
    }
    $("config-save").disabled = true;
  }
}

async function history() {
  const { revisions } = await api("GET", "/admin/config/revisions");
  fillTable($("revisions"), [
    ["Revision", (r) => String(r.revision)],
    ["Saved", (r) => format.time(r.created_at)],
    ["Note", (r) => r.note],
    ["", (r) => (r.revision === base.revision ? "current" : restore(r))],
  ], revisions, "no revisions saved yet: the first save makes revision 1");
}

function restore(revision) {
  return el("div", { class: "row-actions" },
    el("button", {
      type: "button",
      text: "View",
      onclick: async () => {
        const shown = await api("GET", `/admin/config/revisions/${revision.revision}`);
        $("config-text").value = pretty(shown.config);
        $("config-status").textContent = `Showing revision ${revision.revision}: review and save to make it current.`;
        $("config-save").disabled = true;
      },
    }),
    el("button", {
      type: "button",
      text: "Roll back",
      onclick: async () => {
        try {
          const rolled = await api("POST", "/admin/config/rollback", { to: revision.revision, if_revision: base.revision });
          await load();
          $("config-status").className = "ok";
          $("config-status").textContent = `Rolled back to revision ${revision.revision}, as revision ${rolled.revision}.`;
        } catch (error) {
          $("config-status").className = "error";
          $("config-status").textContent = error.status === 412 ? `Conflict: ${error.message}` : error.message;
        }
      },
    }),
  );
}

/** A line diff (longest common subsequence): [" " | "-" | "+", line] for each line. */
export function diff(before, after) {
  const n = before.length;
  const m = after.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = before[i] === after[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      lines.push([" ", before[i]]);
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      lines.push(["+", after[j++]]);
    } else {
      lines.push(["-", before[i++]]);
    }
  }
  return lines;
}
