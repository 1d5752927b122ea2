// The JavaScript half of the Workers shell: what waits on timers or runs once per chunk. Rust
// decides everything; this file only moves bytes, so wasm is entered once per chunk and every
// timer and every transcoder is released when its request ends, however it ends.

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

/** A body of a known length up to this is read whole by the runtime (see `readWithin`). */
const WHOLE_READ_MAX_BYTES = 1024 * 1024;

/**
 * A body's bytes, read until its end or until more than `limit` arrived (the rest is then left
 * unread, and the caller sees more than `limit` bytes). When no chunk comes for `idleMs` it
 * rejects with an error named TimeoutError. One timer watches the whole read: timers cost more
 * than reads do. A body that says its `length` (-1: it does not), within `limit` and small, is
 * read by the runtime in one call, which costs a fraction of a read loop; `idleMs` then bounds
 * the whole read (a megabyte in the default two minutes is 9 KB/s).
 */
export async function readWithin(stream, limit, idleMs, length) {
  if (!stream) return new Uint8Array(0);
  if (length >= 0 && length <= limit && length <= WHOLE_READ_MAX_BYTES) {
    let timer = 0;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { name: "TimeoutError" })), idleMs);
    });
    try {
      return new Uint8Array(await Promise.race([new Response(stream).arrayBuffer(), timeout]));
    } finally {
      clearTimeout(timer);
    }
  }
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

/** A response of `bytes` (a body read by `readWithin`) with `status`, its headers set later. */
export function responseOf(bytes, status) {
  return new Response(bytes, { status });
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

/** Reads a body to its end without keeping it, so a client still sending sees the answer. */
export async function drain(stream) {
  if (stream) await stream.pipeTo(new WritableStream()).catch(() => {});
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
