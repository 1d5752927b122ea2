// The fake upstream of the benchmark, OpenAI-compatible and Anthropic. It must cost next to nothing and answer
// the same way every time, so that what the benchmark measures is the proxy in front of it: every
// answer is built once at startup, and a request only costs reading and parsing its body.
//
// POST /v1/chat/completions answers a streamed Chat Completions answer shaped like OpenAI's (a role
// chunk, content deltas, a finish chunk, a usage chunk with `"choices":[]`, then `data: [DONE]`), or
// a chat.completion JSON object when the request does not ask for `"stream": true`.
// POST /anthropic/v1/messages answers the same text as Anthropic Messages: a streamed answer
// (message_start, content_block_start, ping, text deltas, content_block_stop, message_delta,
// message_stop) or a message JSON object.
// A model whose name ends in `-realistic` is streamed the way a model streams: --stream-events text
// deltas (default 300), every event in a write of its own, the next one a gap of --event-gap-ms later
// (`MIN-MAX`, whole ms, default 1-3; the same sequence of gaps for every stream, so every stream
// costs the same). Other streams are short: their first event, then the rest one event loop turn later.
// It listens on 127.0.0.1 at an ephemeral port and prints `listening <port>` once it is ready.
import http from "node:http";
import { parseArgs } from "node:util";

const { values: options } = parseArgs({ options: {
  "stream-events": { type: "string", default: "300" }, "event-gap-ms": { type: "string", default: "1-3" },
} });
const REALISTIC_EVENTS = Number(options["stream-events"]);
const [GAP_MIN_MS, GAP_MAX_MS] = options["event-gap-ms"].split("-").map(Number);
if (!(Number.isInteger(REALISTIC_EVENTS) && REALISTIC_EVENTS >= 1 && REALISTIC_EVENTS <= 100_000)) {
  throw new Error(`--stream-events must be a whole number from 1 to 100000, got ${options["stream-events"]}`);
}
// Node's timers count whole milliseconds and never fire sooner than 1 ms.
if (!(Number.isInteger(GAP_MIN_MS) && Number.isInteger(GAP_MAX_MS) && GAP_MIN_MS >= 1 && GAP_MIN_MS <= GAP_MAX_MS && GAP_MAX_MS <= 1000)) {
  throw new Error(`--event-gap-ms must be MIN-MAX in whole ms, 1 <= MIN <= MAX <= 1000, got ${options["event-gap-ms"]}`);
}

const ID = "chatcmpl-bench";
const MESSAGE_ID = "msg_bench";
const MODEL = "gpt-bench";
const ANTHROPIC_MODEL = "claude-bench";
const CREATED = 1767225600;
const WORDS = ("The quick brown fox jumps over the lazy dog while the proxy streams every token " +
  "back to the client").split(" ");

/** The text deltas of an answer of `count` words: the words, over and over. */
const deltas = (count) => Array.from({ length: count }, (_, i) => (i === 0 ? "" : " ") + WORDS[i % WORDS.length]);
const usage = (words) => ({ prompt_tokens: 12, completion_tokens: words, total_tokens: 12 + words });

const chunk = (choices, extra = {}) => "data: " + JSON.stringify({
  id: ID, object: "chat.completion.chunk", created: CREATED, model: MODEL, system_fingerprint: null, choices, ...extra,
}) + "\n\n";
const choice = (delta, finishReason = null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });
/** A whole Chat Completions stream of `words` text deltas, one event per element. */
const chatEvents = (words) => [
  chunk([choice({ role: "assistant", content: "", refusal: null })]),
  ...deltas(words).map((text) => chunk([choice({ content: text })])),
  chunk([choice({}, "stop")]),
  chunk([], { usage: usage(words) }),
  "data: [DONE]\n\n",
];

const messagesEvent = (data) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
/** A whole Anthropic Messages stream of `words` text deltas, one event per element. */
const messagesEvents = (words) => [
  messagesEvent({ type: "message_start", message: {
    id: MESSAGE_ID, type: "message", role: "assistant", model: ANTHROPIC_MODEL, content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1, service_tier: "standard" },
  } }),
  messagesEvent({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
  messagesEvent({ type: "ping" }),
  ...deltas(words).map((text) => messagesEvent({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } })),
  messagesEvent({ type: "content_block_stop", index: 0 }),
  messagesEvent({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: words } }),
  messagesEvent({ type: "message_stop" }),
];

// A short stream's first event goes out alone and the rest one event loop turn later, so that the
// proxy sees a stream arriving in pieces and time to first byte differs from the total time.
const shortStream = (events) => ({ first: events[0], rest: events.slice(1) });
const SHORT_STREAMS = { chat: shortStream(chatEvents(WORDS.length)), messages: shortStream(messagesEvents(WORDS.length)) };
const REALISTIC_STREAMS = { chat: chatEvents(REALISTIC_EVENTS), messages: messagesEvents(REALISTIC_EVENTS) };

/** mulberry32: a fixed seed gives the same gaps on every run. */
function seededRandom(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seededRandom(20260101);
/** The wait before each event of a realistic stream but the first; the longer stream's count serves both. */
const GAPS_MS = Array.from({ length: REALISTIC_STREAMS.messages.length - 1 }, () => GAP_MIN_MS + Math.floor(random() * (GAP_MAX_MS - GAP_MIN_MS + 1)));

const COMPLETION = JSON.stringify({
  id: ID, object: "chat.completion", created: CREATED, model: MODEL, system_fingerprint: null,
  choices: [{ index: 0, message: { role: "assistant", content: WORDS.join(" "), refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: usage(WORDS.length),
});
const MESSAGE = JSON.stringify({
  id: MESSAGE_ID, type: "message", role: "assistant", model: ANTHROPIC_MODEL, content: [{ type: "text", text: WORDS.join(" ") }],
  stop_reason: "end_turn", stop_sequence: null,
  usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: WORDS.length, service_tier: "standard" },
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
  const dialect = { "/v1/chat/completions": "chat", "/anthropic/v1/messages": "messages" }[path];
  if (request.method !== "POST" || !dialect) {
    response.writeHead(404, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: `no endpoint at ${request.method} ${request.url}`, type: "invalid_request_error" } }));
    return;
  }
  let asked;
  try {
    asked = JSON.parse(body);
  } catch {
    response.writeHead(400, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: "the body is not JSON", type: "invalid_request_error" } }));
    return;
  }
  if (asked.stream !== true) {
    response.writeHead(200, { "content-type": "application/json", "x-request-id": "req-bench" });
    response.end(dialect === "chat" ? COMPLETION : MESSAGE);
    return;
  }
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-request-id": "req-bench" });
  if (String(asked.model).endsWith("-realistic")) return streamRealistic(response, REALISTIC_STREAMS[dialect]);
  const { first, rest } = SHORT_STREAMS[dialect];
  response.write(first);
  setImmediate(() => {
    for (const event of rest) response.write(event);
    response.end();
  });
}

/** Writes `events` one at a time, GAPS_MS apart; stops when the client is gone. */
function streamRealistic(response, events) {
  let next = 0;
  let timer;
  response.on("close", () => clearTimeout(timer));
  const write = () => {
    response.write(events[next]);
    next += 1;
    if (next === events.length) response.end();
    else timer = setTimeout(write, GAPS_MS[next - 1]);
  };
  write();
}

// noDelay: each write of a realistic stream leaves at once, in a TCP segment of its own.
const server = http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (request, response) => {
  const parts = [];
  request.on("data", (part) => parts.push(part));
  request.on("end", () => answer(request, response, Buffer.concat(parts).toString("utf8")));
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
