// The wasm memory of one llmproxy isolate over many streams, read through workerd's inspector
// (the V8 inspector protocol: every WebAssembly.Memory of the isolate, found by its prototype).
// Wasm memory only ever grows, so anything a stream leaves behind shows as growth; an isolate has
// 128 MB in all. Streams go four at a time through the Chat route; each answer is checked.
import http from "node:http";
import { parseArgs } from "node:util";
import { inspect } from "./inspector.mjs";

const { values } = parseArgs({ options: { port: { type: "string" }, "inspector-port": { type: "string" } } });
const PORT = Number(values.port);
const INSPECTOR_PORT = Number(values["inspector-port"]);
const MILESTONES = [1000, 10000];
const PARALLEL = 4;
const REQUEST_TIMEOUT_MS = 10_000;
const INSPECTOR_TIMEOUT_MS = 10_000;
const body = JSON.stringify({ model: "gpt-bench", messages: [{ role: "user", content: "hi" }], stream: true });
const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });

function stream() {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port: PORT, path: "/v1/chat/completions", method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, timeout: REQUEST_TIMEOUT_MS },
    (response) => {
      const parts = [];
      response.on("data", (part) => parts.push(part));
      response.on("end", () => {
        const text = Buffer.concat(parts).toString();
        if (response.statusCode === 200 && text.endsWith("data: [DONE]\n\n")) resolve();
        else reject(new Error(`status ${response.statusCode}: ${text.slice(-300)}`));
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on("error", reject);
    request.end(body);
  });
}

/** The byte length of every WebAssembly.Memory in the isolate. */
async function wasmMemory() {
  const contexts = [];
  const { call, close } = await inspect(INSPECTOR_PORT, {
    timeoutMs: INSPECTOR_TIMEOUT_MS,
    onEvent: (event) => {
      if (event.method === "Runtime.executionContextCreated") contexts.push(event.params.context.id);
    },
  });
  try {
    await call("Runtime.enable");
    const prototype = await call("Runtime.evaluate", { expression: "WebAssembly.Memory.prototype", contextId: contexts[0] });
    const memories = await call("Runtime.queryObjects", { prototypeObjectId: prototype.result.objectId });
    const sizes = await call("Runtime.callFunctionOn", { objectId: memories.objects.objectId, returnByValue: true,
      functionDeclaration: "function () { return this.map((memory) => memory.buffer.byteLength); }" });
    return sizes.result.value.reduce((a, b) => a + b, 0);
  } finally {
    close();
  }
}

async function run(count) {
  let done = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (done < count) {
      done += 1;
      await stream();
    }
  }));
}

await run(50); // warm up: the first requests size the allocator
const rows = [["after", "wasm memory"], ["50 streams", await wasmMemory()]];
let streamed = 50;
for (const milestone of MILESTONES) {
  await run(milestone - streamed);
  streamed = milestone;
  rows.push([`${milestone} streams`, await wasmMemory()]);
}
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
console.log("\nwasm memory of one isolate (Chat stream route)");
for (const [label, bytes] of rows) console.log(`  ${label.padEnd(14)} ${typeof bytes === "number" ? mb(bytes) : bytes}`);
const growth = rows.at(-1)[1] - rows[2][1];
console.log(`  growth from 1000 to 10000 streams: ${growth} bytes (${(growth / 9000).toFixed(1)} per stream) — ${growth === 0 ? "flat" : "NOT flat"}`);
agent.destroy();
