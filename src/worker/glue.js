// The JavaScript half of the Workers shell: what waits on timers or runs once per chunk. Rust
// decides what is sent and answered; this file moves bytes and reads bodies within their limits,
// so wasm is entered once per chunk and every timer and every transcoder is released when its
// request ends, however it ends.

/** The response to `request`, or null when its headers took longer than `ms`. */
export async function fetchWithin(request, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await fetch(request, { signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) return null;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An upstream attempt in one call: the response to `request`, or null when its headers took longer
 * than `firstByteMs`, with its body read whole as `readWithin` reads one (up to `limit` bytes for
 * a success, `errorLimit` for an error answer), unless it is a redirect (never followed, its body
 * not wanted) or the success of a `stream` (read chunk by chunk). Resolves to [response, bytes],
 * bytes null when not read, or [response, null, error] when the read failed; rejects when the fetch
 * itself fails. One promise for wasm to await where a fetch and a read would be two, and each
 * await costs wasm more than it costs here.
 */
export async function exchangeWithin(request, firstByteMs, idleMs, limit, errorLimit, stream) {
  const response = await fetchWithin(request, firstByteMs);
  if (response === null) return null;
  const { status } = response;
  const ok = status >= 200 && status < 300;
  if ((status >= 300 && status < 400) || (ok && stream)) return [response, null];
  try {
    return [response, await readWithin(response, ok ? limit : errorLimit, idleMs, declaredLength(response.headers))];
  } catch (error) {
    return [response, null, error];
  }
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

/** A body of a known length up to this is read whole by the runtime (see `readWithin`). */
const WHOLE_READ_MAX_BYTES = 1024 * 1024;

/**
 * The bytes of the body of `owner` (a Request or a Response), read until its end or until more
 * than `limit` arrived (the rest is then left unread, and the caller sees more than `limit`
 * bytes). When no chunk comes for `idleMs` it rejects with an error named TimeoutError. One timer
 * watches the whole read: timers cost more than reads do. A body that says its `length` (-1: it
 * does not), within `limit` and small, is read by the runtime in one call (`arrayBuffer()` of its
 * owner, which costs a fraction of a read loop); `idleMs` then bounds the whole read (a megabyte
 * in the default two minutes is 9 KB/s).
 */
export async function readWithin(owner, limit, idleMs, length) {
  if (length >= 0 && length <= limit && length <= WHOLE_READ_MAX_BYTES) {
    let timer = 0;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { name: "TimeoutError" })), idleMs);
    });
    try {
      return new Uint8Array(await Promise.race([owner.arrayBuffer(), timeout]));
    } finally {
      clearTimeout(timer);
    }
  }
  const stream = owner.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  let ended = false;
  let timedOut = false;
  let lastChunk = Date.now();
  const watch = () => {
    const idle = Date.now() - lastChunk;
    if (idle < idleMs) {
      timer = setTimeout(watch, idleMs - idle);
      return;
    }
    timedOut = true;
    reader.cancel().catch(() => {});
  };
  let timer = setTimeout(watch, idleMs);
  try {
    while (size <= limit) {
      // A read cut short by the watchdog ends or fails, as the runtime has it: either way it timed out.
      const { done, value } = await reader.read().catch((error) => {
        if (!timedOut) throw error;
        return { done: true };
      });
      if (timedOut) throw Object.assign(new Error("timed out"), { name: "TimeoutError" });
      if (done) {
        ended = true;
        break;
      }
      lastChunk = Date.now();
      size += value.byteLength;
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
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
 * The response for the client, built at once: `body` (bytes, a stream or null) with `status` and
 * the headers in `lines`, written as `headerLines` writes them.
 */
export function respond(body, status, lines) {
  const headers = new Headers();
  const parts = lines.split("\n");
  for (let at = 0; at + 1 < parts.length; at += 2) headers.set(parts[at], parts[at + 1]);
  return new Response(body, { status, headers });
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
    timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { name: "TimeoutError" })), idleMs);
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
 * `headers` (a Headers) as one string, every name and every value followed by a line feed: all of
 * them cross into wasm at once, where a lookup then costs no call into JavaScript. Neither a name
 * nor a value can hold a line feed.
 */
export function headerLines(headers) {
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
