// The JavaScript half of the Workers shell: what waits on timers or runs once per chunk. Rust
// decides what is sent and answered; this file moves bytes and reads bodies within their limits,
// so wasm is entered once per chunk and every timer and every transcoder is released when its
// request ends, however it ends. It also drives the shell's tasks (see task.rs).

// --- Tasks ---------------------------------------------------------------------------------------

/** The tasks not yet settled, by id: how to settle the Promise of each, and whether it was woken. */
const tasks = new Map();
/** Hands a task the result of a wait and polls it (`resume` in task.rs). */
let resume = null;

/** Takes the way back into a new instance of the module; the tasks of an earlier one are gone. */
export function setResume(fn) {
  abandonTasks(new Error("the worker's module was started again"));
  resume = fn;
}

function abandonTasks(error) {
  for (const task of tasks.values()) task.reject(error);
  tasks.clear();
}

/** The Promise of task `id`'s output. */
export function taskOutput(id) {
  return new Promise((resolve, reject) => tasks.set(id, { resolve, reject, woken: false }));
}

export function settleTask(id, ok, value) {
  const task = tasks.get(id);
  if (task === undefined) return;
  tasks.delete(id);
  (ok ? task.resolve : task.reject)(value);
}

function step(id, wait, ok, value) {
  if (!tasks.has(id)) return;
  try {
    resume(id, wait, ok, value);
  } catch (error) {
    // wasm trapped: every task of this instance is lost with it.
    abandonTasks(error);
  }
}

/** Task `id` waits for `promise`: its result goes back as wait `wait`. */
export function awaitFor(id, wait, promise) {
  promise.then(
    (value) => step(id, wait, true, value),
    (error) => step(id, wait, false, error),
  );
}

/** Task `id` is to be polled again: once, however often it is woken before. */
export function wakeTask(id) {
  const task = tasks.get(id);
  if (task === undefined || task.woken) return;
  task.woken = true;
  queueMicrotask(() => {
    task.woken = false;
    step(id, 0, true, undefined);
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- Fetches and bodies --------------------------------------------------------------------------

const timedOut = () => Object.assign(new Error("timed out"), { name: "TimeoutError" });

/**
 * A deadline `ms` after it was last restarted; when it passes, `onPass` is called, once. One timer
 * serves it however often it is restarted: timers cost more than reads do. The timer first goes
 * off after `firstMs` (at most `ms`): a deadline that will be restarted to a shorter one sets it
 * no later than that one's, so the restart need not set it again.
 */
class Deadline {
  constructor(ms, onPass, firstMs = ms) {
    this.passed = false;
    this.onPass = onPass;
    this.ms = ms;
    this.from = Date.now();
    this.arm(Math.min(ms, firstMs));
  }

  /** The deadline is `ms` from now. */
  restart(ms = this.ms) {
    this.ms = ms;
    this.from = Date.now();
    // The timer is set again only when it would go off too late; going off early, it looks again.
    if (this.from + ms < this.due) {
      clearTimeout(this.timer);
      this.arm(ms);
    }
  }

  arm(ms) {
    this.due = Date.now() + ms;
    this.timer = setTimeout(() => this.check(), ms);
  }

  check() {
    const left = this.from + this.ms - Date.now();
    if (left > 0) return this.arm(left);
    this.passed = true;
    this.onPass();
  }

  stop() {
    clearTimeout(this.timer);
  }
}

/** The Headers of `lines`, as `headerLines` writes them. */
function headersOf(lines) {
  const headers = new Headers();
  const parts = lines.split("\n");
  for (let at = 0; at + 1 < parts.length; at += 2) headers.set(parts[at], parts[at + 1]);
  return headers;
}

/** The response to `request`, or null when its headers took longer than `ms`. */
export async function fetchWithin(request, ms) {
  const controller = new AbortController();
  const deadline = new Deadline(ms, () => controller.abort());
  try {
    return await fetch(request, { signal: controller.signal });
  } catch (error) {
    if (deadline.passed) return null;
    throw error;
  } finally {
    deadline.stop();
  }
}

/**
 * An upstream attempt in one call: a POST of `body` to `url` with the headers in `lines` (as
 * `headerLines` writes them), never following a redirect. Resolves to null when its response's
 * headers took longer than `firstByteMs`; else to an `Exchanged`: its response, status and the
 * headers of `names` (one per line) as `headerLines` writes them, and its body read whole as
 * `readBody` reads one (up to `limit` bytes for a success, `errorLimit` for an error answer)
 * unless it is a redirect (its body not wanted) or the success of a `stream` (read chunk by chunk
 * elsewhere), or the error its read failed with, named TimeoutError when no chunk came for
 * `idleMs`. Rejects when the fetch itself fails. One timer and one abort serve every deadline of
 * the attempt, and one promise for wasm to await where a fetch and a read would be two.
 */
export async function exchangeWithin(url, lines, body, names, firstByteMs, idleMs, limit, errorLimit, stream) {
  const controller = new AbortController();
  // Its passing aborts the fetch, and so the read of its body. Restarted to `idleMs` once the
  // headers are in, so its timer goes off first no later than that.
  const deadline = new Deadline(firstByteMs, () => controller.abort(), idleMs);
  try {
    let response;
    try {
      const headers = headersOf(lines);
      // A redirect followed would carry the backend's key to wherever it points.
      response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: controller.signal });
    } catch (error) {
      if (deadline.passed) return null;
      throw error;
    }
    const exchanged = new Exchanged(response, names);
    const { status } = response;
    const ok = status >= 200 && status < 300;
    if ((status >= 300 && status < 400) || (ok && stream)) return exchanged;
    deadline.restart(idleMs);
    try {
      const length = declaredLength(response.headers);
      exchanged.bytes = await readBody(response, ok ? limit : errorLimit, length, deadline);
    } catch (error) {
      exchanged.error = deadline.passed ? timedOut() : error;
    }
    return exchanged;
  } finally {
    deadline.stop();
  }
}

/** What `exchangeWithin` resolves to; wasm reads each field once. */
class Exchanged {
  constructor(response, names) {
    this.response = response;
    this.status = response.status;
    this.headers = pickedLines(response.headers, names);
    /** The body read whole, or null. */
    this.bytes = null;
    /** Why the body could not be read, or null. */
    this.error = null;
  }
}

/** The headers of `names` (one per line) that `headers` has, as `headerLines` writes them. */
function pickedLines(headers, names) {
  let lines = "";
  for (const name of names.split("\n")) {
    const value = headers.get(name);
    if (value !== null) lines += `${name}\n${value}\n`;
  }
  return lines;
}

/**
 * The length of the body `headers` declare, or -1 when they declare none we can use (none, a
 * malformed one, or more than 15 digits): a compressed body's length is not that of the bytes it
 * decompresses to, so it is read chunk by chunk.
 */
function declaredLength(headers) {
  const coding = headers.get("content-encoding");
  if (coding !== null && coding.toLowerCase() !== "identity") return -1;
  const length = headers.get("content-length");
  return length !== null && /^\d{1,15}$/.test(length) ? Number(length) : -1;
}

/** A body of a known length up to this is read whole by the runtime (see `readBody`). */
const WHOLE_READ_MAX_BYTES = 1024 * 1024;

/**
 * The bytes of the body of `owner` (a Request or a Response), read until its end or until more
 * than `limit` arrived (the rest is then left unread, and the caller sees more than `limit`
 * bytes), every chunk restarting `deadline`, whose passing must end or fail the read in progress
 * (it then fails with an error named TimeoutError). A body that says its `length` (-1: it does
 * not), within `limit` and small, is read by the runtime in one call (`arrayBuffer()` of its
 * owner, which costs a fraction of a read loop); the deadline then bounds the whole read (a
 * megabyte in the default two minutes is 9 KB/s). `onReader` is handed the reader of a body read
 * chunk by chunk.
 */
async function readBody(owner, limit, length, deadline, onReader = () => {}) {
  if (length >= 0 && length <= limit && length <= WHOLE_READ_MAX_BYTES) {
    return new Uint8Array(await owner.arrayBuffer());
  }
  const stream = owner.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  onReader(reader);
  const chunks = [];
  let size = 0;
  let ended = false;
  try {
    while (size <= limit) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (!deadline.passed) throw error;
      }
      // A read cut short by the deadline ends or fails, as the runtime has it: either way it timed out.
      if (deadline.passed) throw timedOut();
      const { done, value } = chunk;
      if (done) {
        ended = true;
        break;
      }
      deadline.restart();
      size += value.byteLength;
      chunks.push(value);
    }
  } finally {
    if (!ended) reader.cancel().catch(() => {});
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/**
 * The bytes of the body of `owner` (a Request or a Response), read as `readBody` reads them;
 * rejects with an error named TimeoutError when no chunk comes for `idleMs`.
 */
export async function readWithin(owner, limit, idleMs, length) {
  let fail;
  let reader = null;
  const failed = new Promise((_, reject) => (fail = reject));
  const deadline = new Deadline(idleMs, () => {
    reader?.cancel().catch(() => {});
    fail(timedOut());
  });
  try {
    return await Promise.race([readBody(owner, limit, length, deadline, (r) => (reader = r)), failed]);
  } finally {
    deadline.stop();
  }
}

/**
 * The response for the client, built at once: `body` (bytes, a stream or null) with `status` and
 * the headers in `lines`, written as `headerLines` writes them.
 */
export function respond(body, status, lines) {
  return new Response(body, { status, headers: headersOf(lines) });
}

/** The reader of a body. */
export function readerOf(stream) {
  return stream.getReader();
}

/**
 * The next chunk a reader gives, or null at the end of its body; rejects with an error named
 * TimeoutError when none comes within `idleMs`, and with the reader's own error when it fails.
 */
export async function readChunk(reader, idleMs) {
  let timer = 0;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), idleMs);
  });
  try {
    const { done, value } = await Promise.race([reader.read(), timeout]);
    return done ? null : value;
  } finally {
    clearTimeout(timer);
  }
}

/** Lets a body go: what was not read is cancelled. */
export function release(reader) {
  reader.cancel().catch(() => {});
}

/** Reads the body of `owner` to its end without keeping it, so a client still sending sees the answer. */
export async function drain(owner) {
  if (owner.body) await owner.body.pipeTo(new WritableStream()).catch(() => {});
}

/**
 * The method, the URL and the headers of `request` in one string, for one crossing into wasm: the
 * method and the URL each followed by a line feed (neither can hold one), then the headers as
 * `headerLines` writes them.
 */
export function requestLines(request) {
  return `${request.method}\n${request.url}\n${headerLines(request.headers)}`;
}

/**
 * `headers` (a Headers) as one string, every name and every value followed by a line feed: all of
 * them cross into wasm at once, where a lookup then costs no call into JavaScript. Neither a name
 * nor a value can hold a line feed.
 */
function headerLines(headers) {
  let lines = "";
  for (const [name, value] of headers) lines += `${name}\n${value}\n`;
  return lines;
}

/**
 * The upstream body, read by `reader`, translated by `transcoder` (a Rust `StreamTranscoder`) and
 * pulled by the client, `first` (what the transcoder already gave) before anything else: the
 * upstream is read only when the client wants more. A read that waits longer than `idleMs` ends
 * the stream with the transcoder's timeout event; so does a failed read, with its failure. The
 * stream closes as soon as the transcoder has written the last event, and the upstream is then
 * cancelled, whether or not it closed its end. However it ends, `onEnd` is called once with what
 * the stream used (the transcoder's summary), just before the transcoder is freed. A client that
 * leaves is seen by `clientSignal` (the runtime drops the stream then, without cancelling it).
 */
export function transcoded(reader, transcoder, idleMs, first, onEnd, clientSignal) {
  // `first` is a view of wasm memory, valid only during this call: it is copied.
  let pending = first.byteLength > 0 ? first.slice() : null;
  let closed = false;
  // When the pending upstream read began, or 0 while none is pending.
  let waitingSince = 0;
  let timer = 0;
  let controller;

  const release = (clientGone) => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    onEnd(transcoder.summary(clientGone));
    transcoder.free();
    reader.cancel().catch(() => {});
  };
  const send = (bytes) => {
    if (bytes.byteLength > 0) controller.enqueue(bytes);
  };
  const finish = (bytes) => {
    if (closed) return;
    send(bytes);
    controller.close();
    release(false);
  };
  const watch = () => {
    if (closed) return;
    const waited = waitingSince === 0 ? 0 : Date.now() - waitingSince;
    if (waited >= idleMs) {
      finish(transcoder.timeOut());
    } else {
      timer = setTimeout(watch, idleMs - waited);
    }
  };

  clientSignal?.addEventListener("abort", () => release(true), { once: true });

  return new ReadableStream(
    {
      start(c) {
        controller = c;
        timer = setTimeout(watch, idleMs);
      },
      async pull() {
        if (pending) {
          send(pending);
          pending = null;
          if (transcoder.finished) finish(new Uint8Array(0));
          return;
        }
        // One pull ends with something sent, or the stream closed.
        while (!closed) {
          waitingSince = Date.now();
          let chunk;
          try {
            chunk = await reader.read();
          } catch (error) {
            return finish(transcoder.fail(String((error && error.message) || error)));
          } finally {
            waitingSince = 0;
          }
          if (closed) return;
          if (chunk.done) return finish(transcoder.end());
          const bytes = transcoder.push(chunk.value);
          if (transcoder.finished) return finish(bytes);
          if (bytes.byteLength > 0) return send(bytes);
        }
      },
      cancel() {
        // The client went away.
        release(true);
      },
    },
    { highWaterMark: 0 },
  );
}
