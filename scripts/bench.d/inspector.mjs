// A session with a workerd isolate through its inspector (the V8 inspector protocol over a
// WebSocket), as profile.mjs and memory.mjs use it.

/**
 * Connects to the isolate `main` behind the inspector on 127.0.0.1:`port`. `call(method, params)`
 * resolves to the method's result, and rejects with its error or when no answer comes within
 * `timeoutMs`; `onEvent` sees every event the inspector sends; `close()` ends the session.
 */
export async function inspect(port, { timeoutMs, onEvent = () => {} }) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/main`);
  const pending = new Map();
  let next = 0;
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.method) onEvent(data);
    pending.get(data.id)?.(data);
  };
  const call = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    const timer = setTimeout(() => reject(new Error(`${method}: no answer from the inspector`)), timeoutMs);
    pending.set(id, (data) => {
      clearTimeout(timer);
      pending.delete(id);
      data.error ? reject(new Error(`${method}: ${data.error.message}`)) : resolve(data.result);
    });
    socket.send(JSON.stringify({ id, method, params }));
  });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("cannot reach the inspector"));
  });
  return { call, close: () => socket.close() };
}
