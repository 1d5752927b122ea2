// The time a Vertex token costs the worker: requests through two zero-config Vertex instances of
// llmproxy, interleaved, one whose tokens are stale at once (each request signs a JWT with
// WebCrypto and exchanges it at the local token endpoint) and one that keeps its token. The
// difference of the medians is the cost of minting; the token endpoint's own round trip is shown
// beside it. Usage: node mint.mjs --fresh-port P --cached-port P --upstream-port P [--rounds N]
import http from "node:http";

const args = Object.fromEntries(process.argv.slice(2).join(" ").split("--").filter(Boolean).map((a) => a.trim().split(" ")));
const rounds = Number(args.rounds ?? 200);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });

function post(port, path, payload, type) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request({ host: "127.0.0.1", port, path, method: "POST", agent, timeout: 10_000,
      headers: { "content-type": type, "content-length": Buffer.byteLength(payload) } }, (response) => {
      const parts = [];
      response.on("data", (part) => parts.push(part));
      response.on("end", () => {
        const text = Buffer.concat(parts).toString();
        if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}: ${text}`));
        else resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, text });
      });
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
    request.end(payload);
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const path = "/v1beta/models/gemini-bench:generateContent";
const times = { fresh: [], cached: [], token: [] };
for (let i = 0; i < rounds + 20; i++) {
  const fresh = await post(Number(args["fresh-port"]), path, body, "application/json");
  const cached = await post(Number(args["cached-port"]), path, body, "application/json");
  const token = await post(Number(args["upstream-port"]), "/token-cached", "grant_type=x&assertion=y", "application/x-www-form-urlencoded");
  for (const answer of [fresh, cached]) {
    if (!answer.text.includes('"finishReason":"STOP"')) throw new Error(`unexpected answer: ${answer.text}`);
  }
  if (i >= 20) {
    times.fresh.push(fresh.ms);
    times.cached.push(cached.ms);
    times.token.push(token.ms);
  }
}
agent.destroy();
const [fresh, cached, token] = [median(times.fresh), median(times.cached), median(times.token)];
console.log(`Vertex token, ${rounds} rounds after 20 warm-up (median ms): request minting a token ${fresh.toFixed(3)}, ` +
  `request with a kept token ${cached.toFixed(3)}`);
console.log(`  mint and sign one token: ${(fresh - cached).toFixed(3)} ms ` +
  `(of which the local token endpoint's round trip is about ${token.toFixed(3)} ms)`);
