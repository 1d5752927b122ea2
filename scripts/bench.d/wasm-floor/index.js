// The JavaScript + wasm floor Worker of scripts/bench: JavaScript does the I/O and calls Rust
// (src/lib.rs, compiled to wasm) synchronously to parse and write out each body. It reads the
// client's body, has wasm parse it and write it out, sends that on to the upstream at the same
// path, and then hands a stream back untouched, or has wasm parse and write out the whole answer:
// the steps of the Rust floor (../rust-floor), in a JavaScript shell. The least a Rust proxy whose
// shell is JavaScript can cost.
import { rewritten } from "./rewrite.js";

export default {
  async fetch(request, env) {
    const { body, stream } = rewritten(new Uint8Array(await request.arrayBuffer()));
    const { pathname } = new URL(request.url);
    const answer = await fetch(`http://${env.UPSTREAM_HOST}${pathname}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    if (stream) return answer;
    return new Response(rewritten(new Uint8Array(await answer.arrayBuffer())).body, {
      headers: { "content-type": "application/json" },
    });
  },
};
