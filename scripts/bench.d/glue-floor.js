// The glue floor Worker of scripts/bench: the JavaScript + wasm floor (wasm-floor/) with its I/O
// done by llmproxy's own JavaScript (src/worker/glue.js), step for step as llmproxy takes it: the
// client's method, URL and headers read as one string, its body read within llmproxy's limit and
// idle deadline, the upstream attempt through `exchangeWithin` (its headers built, no redirect
// followed, one deadline and one abort, the answer's length and the headers llmproxy looks at read,
// its body read within llmproxy's limit), and the client's response built by `respond` with the
// headers llmproxy gives a JSON answer (the fake upstream's only header of those it reads is its
// request id, which llmproxy passes on). wasm parses and writes out each body, as in the JavaScript
// + wasm floor, and a stream's body is handed back untouched. What llmproxy costs over this floor
// is what its Rust side does and what crossing into it costs: the least llmproxy could cost with
// the JavaScript it has.
import { exchangeWithin, readWithin, requestLines, respond } from "../../src/worker/glue.js";
import { rewritten } from "./wasm-floor/rewrite.js";

// llmproxy's defaults (src/limits.rs, src/worker/upstream.rs).
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const FIRST_BYTE_MS = 300_000;
const IDLE_MS = 120_000;
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const ANSWER_HEADERS = "request-id\nx-request-id\nretry-after\nretry-after-ms";
const UPSTREAM_HEADERS = "content-type\napplication/json\nauthorization\nBearer sk-bench\n";
const ANSWER_META = "content-type\napplication/json\nx-llmproxy-backend\nopenai\nx-llmproxy-model\ngpt-bench\nx-llmproxy-attempts\n1\n";

/** The value of header `name` in `parts`, the lines `requestLines` wrote (the method, the URL, then the headers), or null. */
function header(parts, name) {
  for (let at = 2; at + 1 < parts.length; at += 2) if (parts[at] === name) return parts[at + 1];
  return null;
}

export default {
  async fetch(request, env) {
    const parts = requestLines(request).split("\n");
    const declared = header(parts, "content-length");
    const length = declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : -1;
    const { body, stream } = rewritten(await readWithin(request, MAX_BODY_BYTES, IDLE_MS, length));
    const url = parts[1];
    const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
    const exchanged = await exchangeWithin(`http://${env.UPSTREAM_HOST}${path}`, UPSTREAM_HEADERS, body, ANSWER_HEADERS,
      FIRST_BYTE_MS, IDLE_MS, MAX_ANSWER_BYTES, MAX_ERROR_BODY_BYTES, stream);
    if (exchanged === null) return respond(null, 504, "");
    if (exchanged.error) return respond(null, 502, "");
    if (stream) return respond(exchanged.response.body, exchanged.status, "content-type\ntext/event-stream\n");
    // The upstream's request id goes back to the client, as llmproxy passes it on.
    return respond(rewritten(exchanged.bytes).body, exchanged.status, ANSWER_META + exchanged.headers);
  },
};
