// The fake OpenAI-compatible upstream of the benchmark. It must cost next to nothing and answer
// the same way every time, so that what the benchmark measures is the proxy in front of it: every
// answer is built once at startup, and a request only costs reading and parsing its body.
//
// POST /v1/chat/completions answers a streamed Chat Completions answer shaped like OpenAI's (a role
// chunk, content deltas, a finish chunk, a usage chunk with `"choices":[]`, then `data: [DONE]`), or
// a chat.completion JSON object when the request does not ask for `"stream": true`.
// It listens on 127.0.0.1 at an ephemeral port and prints `listening <port>` once it is ready.
import http from "node:http";

const ID = "chatcmpl-bench";
const MODEL = "gpt-bench";
const CREATED = 1767225600;
const WORDS = ("The quick brown fox jumps over the lazy dog while the proxy streams every token " +
  "back to the client").split(" ");
const USAGE = { prompt_tokens: 12, completion_tokens: WORDS.length, total_tokens: 12 + WORDS.length };

const chunk = (choices, extra = {}) => "data: " + JSON.stringify({
  id: ID, object: "chat.completion.chunk", created: CREATED, model: MODEL, system_fingerprint: null, choices, ...extra,
}) + "\n\n";
const choice = (delta, finishReason = null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });

// The role chunk goes out alone and the rest one event loop turn later, so that the proxy sees a
// stream arriving in pieces and time to first byte differs from the total time, as with a real model.
const FIRST_EVENT = chunk([choice({ role: "assistant", content: "", refusal: null })]);
const LATER_EVENTS = [
  ...WORDS.map((word, i) => chunk([choice({ content: (i === 0 ? "" : " ") + word })])),
  chunk([choice({}, "stop")]),
  chunk([], { usage: USAGE }),
  "data: [DONE]\n\n",
];
const COMPLETION = JSON.stringify({
  id: ID, object: "chat.completion", created: CREATED, model: MODEL, system_fingerprint: null,
  choices: [{ index: 0, message: { role: "assistant", content: WORDS.join(" "), refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: USAGE,
});

// For the Vertex token benchmark: a token endpoint whose tokens are stale at once (every request
// through the proxy mints a new one) or live an hour (the proxy keeps it), and a Vertex Gemini
// model that answers in one JSON object.
const TOKEN_LIFETIMES = { "/token-fresh": 0, "/token-cached": 3600 };
const GEMINI_ANSWER = JSON.stringify({
  candidates: [{ content: { role: "model", parts: [{ text: WORDS.join(" ") }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 12, candidatesTokenCount: WORDS.length, totalTokenCount: 12 + WORDS.length },
  modelVersion: MODEL, responseId: "bench",
});

// For the fallback load test: `/flaky/v1/chat/completions` fails one request in ten before any
// content, by turns with a 503 or with an error chunk at the start of a 200 stream.
let flakyRequests = 0;
const FLAKY_ERROR = chunk([], { error: { message: "overloaded", type: "server_error" } }).replace(',"choices":[]', "");

function answer(request, response, body) {
  let path = request.url.split("?")[0];
  if (request.method === "POST" && path === "/flaky/v1/chat/completions") {
    flakyRequests += 1;
    if (flakyRequests % 20 === 0) {
      response.writeHead(503, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "unavailable", type: "server_error" } }));
      return;
    }
    if (flakyRequests % 20 === 10) {
      response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
      response.end(FLAKY_ERROR);
      return;
    }
    path = "/v1/chat/completions";
  }
  if (request.method === "POST" && path in TOKEN_LIFETIMES) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ access_token: "ya29.bench", expires_in: TOKEN_LIFETIMES[path], token_type: "Bearer" }));
    return;
  }
  if (request.method === "POST" && path.startsWith("/vertex/") && path.endsWith(":generateContent")) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(GEMINI_ANSWER);
    return;
  }
  if (request.method !== "POST" || path !== "/v1/chat/completions") {
    response.writeHead(404, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: `no endpoint at ${request.method} ${request.url}`, type: "invalid_request_error" } }));
    return;
  }
  let stream;
  try {
    stream = JSON.parse(body).stream === true;
  } catch {
    response.writeHead(400, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: "the body is not JSON", type: "invalid_request_error" } }));
    return;
  }
  if (!stream) {
    response.writeHead(200, { "content-type": "application/json", "x-request-id": "req-bench" });
    response.end(COMPLETION);
    return;
  }
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-request-id": "req-bench" });
  response.write(FIRST_EVENT);
  setImmediate(() => {
    for (const event of LATER_EVENTS) response.write(event);
    response.end();
  });
}

const server = http.createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  const parts = [];
  request.on("data", (part) => parts.push(part));
  request.on("end", () => answer(request, response, Buffer.concat(parts).toString("utf8")));
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
