// Issued keys under Miniflare with their real Durable Objects and D1 database: the admin API that
// makes and revokes them, what a key may ask for, and that only its hash is ever stored.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { json, startWorker } from "./harness.mjs";
import { AUTH, CLIENT_KEY, USER_HI, anthropicMessage, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";
import { ADMIN, ADMIN_KEY, admin, issue, keyUsage } from "./gateway.mjs";

const persisted = mkdtempSync(join(tmpdir(), "llmproxy-keys-"));
const worker = await startWorker({
  vars: routingVars({ LLMPROXY_ADMIN_KEY: ADMIN_KEY }),
  config: routingConfig(),
  gateway: true,
  miniflare: { durableObjectsPersist: join(persisted, "do"), d1Persist: join(persisted, "d1") },
  upstream: (request) =>
    request.url.includes("/anthropic/") ? json(anthropicMessage("hello")) : json(chatCompletion("hello")),
});
after(async () => {
  await worker.dispose();
  rmSync(persisted, { recursive: true, force: true });
});

const CHAT = { model: "gpt-4o", messages: USER_HI };

test("the admin API is closed without its key, and refuses any other", async () => {
  const closed = await startWorker({ vars: routingVars(), config: routingConfig(), gateway: true });
  try {
    const response = await closed.fetch("/admin/keys", { headers: ADMIN });
    assert.equal(response.status, 403);
    assert.match((await response.json()).error.message, /closed: set the secret LLMPROXY_ADMIN_KEY/);
  } finally {
    await closed.dispose();
  }
  for (const headers of [{}, { authorization: `Bearer ${CLIENT_KEY}` }, { authorization: `Bearer ${ADMIN_KEY}x` }]) {
    const response = await worker.fetch("/admin/keys", { headers });
    assert.equal(response.status, 401, JSON.stringify(headers));
  }
  const byQuery = await worker.fetch(`/admin/keys?key=${ADMIN_KEY}`);
  assert.equal(byQuery.status, 401, "never a key in a query string");
  // The client keys do not open it, and the admin key is no client key.
  assert.equal((await worker.post("/v1/chat/completions", CHAT, ADMIN)).status, 401);
});

test("a key is shown once, listed and read without it, and works at once", async () => {
  const { status, body } = await admin(worker, "POST", "/admin/keys", { name: "ci", models: ["gpt-*"], rpm: 100 });
  assert.equal(status, 201);
  assert.match(body.key, /^sk-llmp-[a-z2-9]{12}-[a-z2-9]{40}$/);
  assert.equal(body.policy.name, "ci");
  const listed = await admin(worker, "GET", "/admin/keys");
  const entry = listed.body.keys.find((key) => key.id === body.id);
  assert.deepEqual(entry.policy, body.policy);
  assert.ok(!JSON.stringify(listed.body).includes(body.key.slice(8)), "the list never shows a key");
  const response = await worker.post("/v1/chat/completions", CHAT, { authorization: `Bearer ${body.key}` });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-ratelimit-limit-requests"), "100");
  assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "99");
  const read = await admin(worker, "GET", `/admin/keys/${body.id}`);
  assert.equal(read.status, 200);
  assert.equal(read.body.usage.requests_last_minute, 1);
  assert.ok(!JSON.stringify(read.body).includes(body.key.slice(8)));
  // The static keys keep working, unrestricted.
  assert.equal((await worker.post("/v1/chat/completions", { ...CHAT, model: "claude-x", max_tokens: 5 }, AUTH)).status, 200);
});

test("a key's policy is checked field by field, and a key that is not one is a 404", async () => {
  for (const policy of [{}, { name: "x", rpm: 0 }, { name: "x", budget_period: "year" }, { name: "x", hash: "y" }]) {
    const { status, body } = await admin(worker, "POST", "/admin/keys", policy);
    assert.equal(status, 400, JSON.stringify(policy));
    assert.ok(body.error.message.length > 0);
  }
  for (const path of ["/admin/keys/nonexistent1", "/admin/keys/..%2F..%2Fx", "/admin/keys/aaaaaaaaaaaa"]) {
    assert.equal((await admin(worker, "GET", path)).status, 404, path);
  }
  assert.equal((await admin(worker, "PUT", "/admin/keys")).status, 405);
});

test("a key asks only for its models, in every client's dialect, and lists only those", async () => {
  const key = await issue(worker, { name: "openai-only", models: ["gpt-4o*"] });
  const elsewhere = () => worker.requests.filter((r) => r.url.includes("/anthropic/") || r.url.includes("gemini")).length;
  const sentBefore = elsewhere();
  assert.equal((await worker.post("/v1/chat/completions", CHAT, key.auth)).status, 200);
  assert.equal((await worker.post("/v1/chat/completions", { ...CHAT, model: "fast" }, key.auth)).status, 403,
    "an alias of a model it may not use");
  const chat = await worker.post("/v1/chat/completions", { ...CHAT, model: "claude-x" }, key.auth);
  assert.equal(chat.status, 403);
  const chatError = (await chat.json()).error;
  assert.equal(chatError.code, "model_not_allowed");
  assert.match(chatError.message, /`claude-x`/);
  const messages = await worker.post("/v1/messages", { model: "claude-x", max_tokens: 5, messages: USER_HI },
    { "x-api-key": key.key, "anthropic-version": "2023-06-01" });
  assert.equal(messages.status, 403);
  assert.equal((await messages.json()).error.type, "permission_error");
  const gemini = await worker.post("/v1beta/models/gemini-2.5-pro:generateContent",
    { contents: [{ role: "user", parts: [{ text: "hi" }] }] }, { "x-goog-api-key": key.key });
  assert.equal(gemini.status, 403);
  assert.equal((await gemini.json()).error.status, "PERMISSION_DENIED");
  assert.equal(elsewhere(), sentBefore, "nothing was sent upstream for them");
  const listed = async (headers) => (await (await worker.fetch("/v1/models", { headers })).json()).data.map((m) => m.id);
  assert.deepEqual(await listed(key.auth), [], "only what the key may ask for");
  assert.deepEqual(await listed(AUTH), ["fast"]);
  const aliasKey = await issue(worker, { name: "alias-only", models: ["fast"] });
  assert.deepEqual(await listed(aliasKey.auth), ["fast"]);
  assert.equal((await worker.post("/v1/chat/completions", { ...CHAT, model: "fast" }, aliasKey.auth)).status, 200);
});

test("a revoked key stops at once: requests under way finish, later ones are refused", async () => {
  const key = await issue(worker, { name: "revoked" });
  let release;
  const held = new Promise((resolve) => (release = resolve));
  let arrived = 0;
  worker.upstream = async () => {
    arrived += 1;
    await held;
    return json(chatCompletion("late"));
  };
  try {
    const underWay = [1, 2, 3].map(() => worker.post("/v1/chat/completions", CHAT, key.auth));
    while (arrived < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    const revoked = await admin(worker, "DELETE", `/admin/keys/${key.id}`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.revoked, true);
    assert.ok(revoked.body.revoked_at > 0);
    const later = await Promise.all([1, 2, 3].map(() => worker.post("/v1/chat/completions", CHAT, key.auth)));
    assert.deepEqual(later.map((r) => r.status), [401, 401, 401]);
    release();
    assert.deepEqual((await Promise.all(underWay)).map((r) => r.status), [200, 200, 200]);
  } finally {
    release();
    worker.upstream = () => json(chatCompletion("hello"));
  }
  const patched = await admin(worker, "PATCH", `/admin/keys/${key.id}`, { disabled: false });
  assert.equal(patched.status, 409, "no way back from a revocation");
  const listed = await admin(worker, "GET", "/admin/keys");
  assert.ok(listed.body.keys.find((k) => k.id === key.id).revoked_at > 0);
});

test("a disabled key is refused until it is enabled again; an expired one for good", async () => {
  const key = await issue(worker, { name: "toggled" });
  assert.equal((await admin(worker, "PATCH", `/admin/keys/${key.id}`, { disabled: true })).status, 200);
  const refused = await worker.post("/v1/chat/completions", CHAT, key.auth);
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).error.message, /disabled or expired/);
  assert.equal((await admin(worker, "PATCH", `/admin/keys/${key.id}`, { disabled: false })).status, 200);
  assert.equal((await worker.post("/v1/chat/completions", CHAT, key.auth)).status, 200);
  const expired = await issue(worker, { name: "expired", expires_at: Date.now() - 1 });
  assert.equal((await worker.post("/v1/chat/completions", CHAT, expired.auth)).status, 401);
});

test("a made-up key of the issued shape is refused, and so is a real id with another secret", async () => {
  const key = await issue(worker, { name: "real" });
  const forged = key.key.slice(0, -1) + (key.key.endsWith("a") ? "b" : "a");
  for (const presented of [forged, "sk-llmp-aaaaaaaaaaaa-" + "a".repeat(40)]) {
    const response = await worker.post("/v1/chat/completions", CHAT, { authorization: `Bearer ${presented}` });
    assert.equal(response.status, 401, presented);
    assert.ok(!JSON.stringify(await response.json()).includes(presented));
  }
});

test("only a key's hash is stored: no byte of storage holds the key", async () => {
  const key = await issue(worker, { name: "stored" });
  assert.equal((await worker.post("/v1/chat/completions", CHAT, key.auth)).status, 200);
  await keyUsage(worker, key.id, (usage) => usage.unsettled === 0);
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256").update(key.key).digest("hex");
  const secret = key.key.slice(-40);
  let sawHash = false;
  const files = (dir) => readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
  const stored = files(persisted);
  assert.ok(stored.some((path) => path.endsWith(".sqlite")), `storage was persisted: ${stored}`);
  for (const path of stored) {
    const bytes = readFileSync(path);
    assert.ok(!bytes.includes(secret), `${path} holds the key`);
    sawHash ||= bytes.includes(hash);
  }
  assert.ok(sawHash, "the hash is what is kept");
});
