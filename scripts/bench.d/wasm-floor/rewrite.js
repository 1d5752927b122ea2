// The wasm of the JavaScript + wasm floor (src/lib.rs, built to build/wasm_floor.wasm), called
// synchronously: what the floors whose shell is JavaScript (index.js, ../glue-floor.js) have Rust do.
import module from "./build/wasm_floor.wasm";

const wasm = new WebAssembly.Instance(module, {}).exports;

/** `bytes` parsed and written out again by wasm, and whether they ask for a stream. */
export function rewritten(bytes) {
  const at = wasm.input(bytes.byteLength);
  new Uint8Array(wasm.memory.buffer, at, bytes.byteLength).set(bytes);
  const result = wasm.rewrite();
  if (result < 0) throw new Error("the body is not JSON");
  return { body: new Uint8Array(wasm.memory.buffer, wasm.output(), result >>> 1).slice(), stream: (result & 1) === 1 };
}
