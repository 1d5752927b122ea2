// The admin API, called with the admin key kept in this tab's session storage.

const KEY = "llmproxy-admin-key";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

/** An answer that is not a 2xx: its status and body (the API's error, or its problems). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls `path` with `body` as JSON; the JSON answer, or throws an ApiError. A 401 signs out. */
export async function api(method, path, body) {
  const init = { method, headers: { authorization: `Bearer ${session.key}` } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => null);
  if (response.status === 401) {
    session.key = null;
    window.dispatchEvent(new Event("signed-out"));
  }
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

/** An element: `tag` with attributes (`text` sets its text, `on*` its handlers) and children. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

/** Fills `table` with a header of `columns` ([title, value(row)]) and a row per `rows` item. */
export function fillTable(table, columns, rows, empty = "nothing yet") {
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...columns.map(([title]) => el("th", { text: title })))),
    el(
      "tbody",
      {},
      ...(rows.length === 0
        ? [el("tr", {}, el("td", { colspan: columns.length, class: "empty", text: empty }))]
        : rows.map((row) => el("tr", {}, ...columns.map(([, value]) => cell(value(row)))))),
    ),
  );
}

function cell(value) {
  if (value instanceof Node) return el("td", {}, value);
  return el("td", { text: value ?? "" });
}

export const format = {
  number: (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US")),
  usd: (n) => (n === null || n === undefined ? "-" : `$${Number(n).toFixed(n < 1 ? 4 : 2)}`),
  ms: (n) => (n === null || n === undefined ? "-" : `${Math.round(n)} ms`),
  percent: (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "-"),
  time: (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""),
};
