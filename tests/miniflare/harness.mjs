// Runs the built worker (build/index.js + build/index_bg.wasm) in-process under Miniflare, with its
// vars, a CONFIG KV namespace and an upstream scripted per test by a JavaScript function. Every
// subrequest the worker makes is answered here: nothing leaves the machine.

import { Log, LogLevel, Miniflare } from "miniflare";
import { readFileSync, readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUILD = `${ROOT}build`;

// The newest date the workerd bundled with miniflare 4.20260730.0 accepts (its release date plus a
// week); wrangler.toml's later date would make it refuse to start.
export const COMPATIBILITY_DATE = "2026-08-06";
// The bindings of a team gateway, as wrangler.toml has them: each issued key's Durable Object and
// the usage database, which `startWorker({ gateway: true })` migrates as `wrangler d1 migrations
// apply` would.
export const GATEWAY = {
  durableObjects: { KEYS: { className: "IssuedKey", useSQLite: true } },
  d1Databases: ["DB"],
};
const MIGRATIONS = `${ROOT}migrations`;
// Longest wait for anything the worker or Miniflare does, unless a caller asks for another.
export const TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
// What the harness adds to every upstream request on its way here; not part of what the worker sent.
const HARNESS_HEADERS = ["mf-custom-node-service", "x-harness-original-url"];

// The worker's subrequests go to this small worker first (its `outboundService`), which hands them
// on to Node with their full URL. Miniflare's own Node outbound services lose the scheme, and its
// fetch-function form neither sends headers before the first body chunk nor lets a body break.
const RECORDER = `export default {
  fetch(request, env) {
    const forwarded = new Request(request);
    forwarded.headers.set("x-harness-original-url", request.url);
    return env.UPSTREAM.fetch(forwarded);
  },
};`;

// build/index.js imports `./index_bg.wasm` and nothing else of its own (`cloudflare:workers` is built in).
const BUILT_WORKER = {
  modulesRoot: BUILD,
  modules: [
    { type: "ESModule", path: `${BUILD}/index.js` },
    { type: "CompiledWasm", path: `${BUILD}/index_bg.wasm` },
  ],
};

// workerd logs an error for each client that left before the end of a stream, which some tests
// do on purpose; everything else it prints is passed on.
const EXPECTED_RUNTIME_NOISE = /disconnected: ::write\(.*Broken pipe/;
function forwardRuntimeOutput(stdout, stderr) {
  for (const [input, output] of [[stdout, process.stdout], [stderr, process.stderr]]) {
    createInterface({ input }).on("line", (line) => EXPECTED_RUNTIME_NOISE.test(line) || output.write(`${line}\n`));
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts the worker. `vars` become its vars and secrets; `config` (an object or raw text) is put
 * under `config` in its CONFIG namespace; `upstream(request)` answers every subrequest and may be
 * replaced at any time through `worker.upstream`. `miniflare` holds further Miniflare options
 * (durableObjects, d1Databases, ratelimits, log, …), given both as shared and as this worker's
 * options so either kind takes effect; they override the harness's own, and a `script` or
 * `scriptPath` among them runs instead of the built worker. `gateway` adds the GATEWAY bindings.
 *
 * A test file starts its worker at its top level, `const worker = await startWorker(…)` with
 * `after(() => worker.dispose())`, not in a `before` hook: when a name pattern filters out every
 * test of a file, node runs `after` without waiting for `before`, which would leave it running.
 */
export async function startWorker({ vars = {}, config, upstream = unscripted, miniflare = {}, gateway = false } = {}) {
  const worker = new Worker(upstream);
  if (gateway) miniflare = { ...GATEWAY, ...miniflare };
  const log = process.env.LLMPROXY_MF_LOG ? new Log(LogLevel.DEBUG) : undefined;
  worker.mf = new Miniflare({
    ...(log && { log }),
    handleRuntimeStdio: forwardRuntimeOutput,
    ...miniflare,
    workers: [
      {
        name: "llmproxy",
        compatibilityDate: COMPATIBILITY_DATE,
        // As wrangler.toml has them.
        compatibilityFlags: ["enable_request_signal"],
        ...(miniflare.script || miniflare.scriptPath ? {} : BUILT_WORKER),
        kvNamespaces: ["CONFIG"],
        bindings: vars,
        outboundService: "upstream-recorder",
        ...miniflare,
      },
      {
        name: "upstream-recorder",
        compatibilityDate: COMPATIBILITY_DATE,
        modules: true,
        script: RECORDER,
        serviceBindings: { UPSTREAM: { node: (req, res) => worker.answer(req, res) } },
      },
    ],
  });
  try {
    await withTimeout(worker.mf.ready, START_TIMEOUT_MS, "starting Miniflare");
    if (config !== undefined) await worker.putConfig(config);
    if (gateway) await worker.migrate();
  } catch (error) {
    await worker.dispose();
    throw error;
  }
  return worker;
}

function unscripted(request) {
  return json({ error: { message: `no upstream answer scripted for ${request.method} ${request.url}` } }, { status: 599 });
}

class Worker {
  constructor(upstream) {
    /** Answers each subrequest: `(request: Request) => Response | Promise<Response>`. */
    this.upstream = upstream;
    /** Every subrequest the worker made, in order: `{method, url, headers, body}`, with headers
     * as sent (lower-cased, `host`, `content-length` and workerd's `cf-worker` among them) and
     * the body as text. */
    this.requests = [];
    /** The upstream answers still being sent. */
    this.open = new Set();
  }

  /** Puts a config (object or raw text) under `config` in the CONFIG namespace. */
  async putConfig(config) {
    const kv = await this.mf.getKVNamespace("CONFIG");
    const text = typeof config === "string" ? config : JSON.stringify(config);
    await withTimeout(kv.put("config", text), TIMEOUT_MS, "writing the config to KV");
  }

  /** Empties the CONFIG namespace, leaving the worker to its zero-config vars. */
  async deleteConfig() {
    const kv = await this.mf.getKVNamespace("CONFIG");
    await withTimeout(kv.delete("config"), TIMEOUT_MS, "deleting the config from KV");
  }

  /** Applies migrations/*.sql to the DB database, in order. */
  async migrate() {
    const db = await this.mf.getD1Database("DB");
    for (const file of readdirSync(MIGRATIONS).filter((name) => name.endsWith(".sql")).sort()) {
      const text = readFileSync(`${MIGRATIONS}/${file}`, "utf8").replace(/--.*$/gm, "");
      const statements = text.split(";").map((statement) => statement.trim()).filter(Boolean);
      await withTimeout(db.batch(statements.map((statement) => db.prepare(statement))), TIMEOUT_MS, `applying ${file}`);
    }
  }

  /** Sends a request to the worker; `path` is joined to http://localhost unless it is a URL. */
  fetch(path, init = {}, { timeoutMs = TIMEOUT_MS } = {}) {
    const url = new URL(path, "http://localhost");
    return withTimeout(this.mf.dispatchFetch(url, init), timeoutMs, `${init.method ?? "GET"} ${url.pathname}`);
  }

  /** POSTs `body` as JSON with the given headers. */
  post(path, body, headers = {}, options) {
    const init = { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
    return this.fetch(path, init, options);
  }

  /** The last subrequest, failing when there was none. */
  lastRequest() {
    if (this.requests.length === 0) throw new Error("the worker sent no request upstream");
    return this.requests.at(-1);
  }

  async answer(req, res) {
    // Aborted when the worker drops the subrequest, so that a scripted wait can end with it.
    const dropped = new AbortController();
    this.open.add(res);
    res.on("close", () => {
      this.open.delete(res);
      dropped.abort();
    });
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const url = req.headers["x-harness-original-url"];
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HARNESS_HEADERS.includes(name)));
    this.requests.push({ method: req.method, url, headers, body: body.toString() });
    const hasBody = !["GET", "HEAD"].includes(req.method);
    const request = new Request(url, { method: req.method, headers, body: hasBody ? body : undefined, signal: dropped.signal });
    let response;
    try {
      response = await this.upstream(request);
      if (response !== HANG_UP && !(response instanceof Response)) {
        throw new TypeError(`it returned ${response} instead of a Response`);
      }
    } catch (error) {
      response = new Response(`the scripted upstream failed: ${error.stack}`, { status: 599 });
    }
    if (response === HANG_UP) return res.destroy();
    if (!res.destroyed) await send(response, res);
  }

  /** Ends every upstream answer still open, then Miniflare. */
  async dispose() {
    for (const res of this.open) res.destroy();
    await withTimeout(this.mf.dispose(), START_TIMEOUT_MS, "disposing Miniflare");
  }
}

// Headers go out at once; each body chunk is a write of its own, so the worker never reads two
// chunks as one; a body that errors breaks the connection, as a reset would.
async function send(response, res) {
  const headers = {};
  for (const [name, value] of response.headers) headers[name] = value;
  res.writeHead(response.status, headers);
  res.flushHeaders();
  if (!response.body) return res.end();
  const reader = response.body.getReader();
  res.on("close", () => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await new Promise((resolve, reject) => res.write(value, (error) => (error ? reject(error) : resolve())));
    }
    res.end();
  } catch {
    res.destroy();
  }
}

// --- Upstream answers -----------------------------------------------------------------------

const PAUSE = Symbol("pause");
const RESET = Symbol("reset");

/** A JSON answer. */
export function json(value, { status = 200, headers = {} } = {}) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", ...headers } });
}

/** In a list of body parts: nothing is sent for `ms` milliseconds (`Infinity`: until the
 * request is dropped or the instance disposed). */
export const pause = (ms = Infinity) => ({ [PAUSE]: ms });
/** In a list of body parts: the body breaks off here, as on a connection reset. */
export const reset = () => ({ [RESET]: true });

/**
 * A body sent part by part: each string or byte array is one chunk, delivered as it is (the
 * worker never reads two as one), `pause(ms)` waits, `reset()` breaks the connection.
 * `gapMs` paces the chunks: it waits that long before each one after the first.
 */
export function stream(parts, { status = 200, headers = {}, contentType = "text/event-stream", gapMs = 0 } = {}) {
  const encoder = new TextEncoder();
  const cancelled = Promise.withResolvers();
  let next = 0;
  let isCancelled = false;
  const body = new ReadableStream({
    async pull(controller) {
      for (;;) {
        if (next === parts.length) return controller.close();
        const part = parts[next++];
        if (part?.[RESET]) return controller.error(new Error("the scripted upstream reset the connection"));
        if (part?.[PAUSE] !== undefined) {
          await Promise.race([cancelled.promise, part[PAUSE] === Infinity ? new Promise(() => {}) : sleep(part[PAUSE])]);
          if (isCancelled) return;
          continue;
        }
        if (gapMs && next > 1) await sleep(gapMs);
        return controller.enqueue(typeof part === "string" ? encoder.encode(part) : part);
      }
    },
    cancel() {
      isCancelled = true;
      cancelled.resolve();
    },
  });
  return new Response(body, { status, headers: { "content-type": contentType, ...headers } });
}

/** An SSE answer given as byte chunks (see `stream`). */
export const sse = (chunks, options) => stream(chunks, options);

/** Headers, then nothing for `ms` (`Infinity`: never), then `after` and the end of the body. */
export const stallAfterHeaders = (ms = Infinity, after = [], options) => stream([pause(ms), ...after], options);

/** No answer at all for `ms` (`Infinity`: until the worker drops the request), then `then()`. */
export async function stallBeforeHeaders(request, ms = Infinity, then = () => json({})) {
  const dropped = new Promise((resolve) => request.signal.addEventListener("abort", resolve, { once: true }));
  await Promise.race([dropped, ms === Infinity ? new Promise(() => {}) : sleep(ms)]);
  return then();
}

/** `parts` (see `stream`), then a connection reset instead of the end of the body. */
export const resetMidBody = (parts, options) => stream([...parts, reset()], options);

const HANG_UP = Symbol("hang up");
/** No answer at all: the connection is closed before any header, as by a server that went down. */
export const hangUp = () => HANG_UP;

/** A redirect to `location`. */
export const redirect = (location, status = 302) => new Response(null, { status, headers: { location } });

// --- Reading what the worker answered -------------------------------------------------------

/**
 * Reads a response body chunk by chunk until it ends, fails or `timeoutMs` passes (the reader is
 * then cancelled). `{chunks, text, done, error, timedOut}`: `chunks` as the client received them.
 */
export async function readChunks(response, { timeoutMs = TIMEOUT_MS } = {}) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const chunks = [];
  const deadline = Date.now() + timeoutMs;
  const result = { chunks, done: false, error: undefined, timedOut: false };
  try {
    for (;;) {
      const { done, value } = await withTimeout(reader.read(), Math.max(deadline - Date.now(), 1), "reading the body");
      if (done) break;
      chunks.push(decoder.decode(value, { stream: true }));
    }
    result.done = true;
  } catch (error) {
    result.timedOut = /took longer than/.test(error.message);
    result.error = error;
    reader.cancel().catch(() => {});
  }
  result.text = chunks.join("");
  return result;
}

/** A JSON answer, read within the bound. */
export async function readJson(response, options) {
  const { text, done, error } = await readChunks(response, options);
  if (!done) throw error;
  return JSON.parse(text);
}

/** The events of an SSE text: `[{event, data}]`, `event` undefined when the event named none. */
export function sseEvents(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const event = { event: undefined, data: undefined };
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const [, field, value = ""] = line.match(/^([^:]*):? ?(.*)$/);
      if (field === "event") event.event = value;
      if (field === "data") event.data = event.data === undefined ? value : `${event.data}\n${value}`;
    }
    if (event.data !== undefined || event.event !== undefined) events.push(event);
  }
  return events;
}

/** The JSON payloads of an SSE text, without OpenAI's `[DONE]`. */
export const ssePayloads = (text) => sseEvents(text).filter((e) => e.data !== "[DONE]").map((e) => JSON.parse(e.data));

// --- Fixtures -------------------------------------------------------------------------------

/** A recording from fixtures/wire/, as bytes. */
export const wire = (name) => readFileSync(`${ROOT}fixtures/wire/${name}`);

/** `bytes` cut into pieces of `size` bytes (the last may be shorter). */
export function splitEvery(bytes, size) {
  const pieces = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return pieces;
}
