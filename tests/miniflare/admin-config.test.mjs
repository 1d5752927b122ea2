// The config through the admin API, with the real D1 database and KV namespace: revisions that
// only the latest can be the base of, every problem of an invalid document by its path, header
// values never shown, rollback, the history kept, and the request path following each save.
// Then the backends: their status and the one-token test.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, beforeEach, test } from "node:test";
import { json, readJson, startWorker } from "./harness.mjs";
import { AUTH, CLIENT_KEY, USER_HI, chatCompletion, routingConfig, routingVars } from "./fixtures.mjs";
import { ADMIN, ADMIN_KEY, admin } from "./gateway.mjs";

const SECRET_HEADER = "x-team-token-value-s3cret";
const SCHEMA = readFileSync(new URL("../../src/config/config.schema.json", import.meta.url), "utf8");

/** The starting config: one backend header holds a value to keep out of sight. */
function deployed() {
  const config = routingConfig();
  config.backends[0].headers = { "x-team-token": SECRET_HEADER };
  return config;
}

const worker = await startWorker({
  vars: routingVars({ LLMPROXY_ADMIN_KEY: ADMIN_KEY }),
  config: deployed(),
  gateway: true,
  upstream: () => json(chatCompletion("OK")),
});
after(() => worker.dispose());

beforeEach(async () => {
  const db = await worker.mf.getD1Database("DB");
  await db.prepare("DELETE FROM config_revisions").run();
  await db.prepare("DELETE FROM usage").run();
  await worker.putConfig(deployed());
  worker.upstream = () => json(chatCompletion("OK"));
});

async function kvConfig() {
  const kv = await worker.mf.getKVNamespace("CONFIG");
  return JSON.parse(await kv.get("config"));
}

async function revisionCount() {
  const db = await worker.mf.getD1Database("DB");
  return (await db.prepare("SELECT COUNT(*) AS n FROM config_revisions").first()).n;
}

const chat = (model) => worker.post("/v1/chat/completions", { model, messages: USER_HI }, AUTH);

test("the config API is closed without the admin key, and refuses any other key", async () => {
  const closed = await startWorker({ vars: routingVars(), config: routingConfig(), gateway: true });
  try {
    for (const [method, path] of [["GET", "/admin/config"], ["PUT", "/admin/config"], ["GET", "/admin/schema"]]) {
      const response = await closed.fetch(path, { method, headers: ADMIN, body: method === "PUT" ? "{}" : undefined });
      assert.equal(response.status, 403, path);
      await response.arrayBuffer();
    }
  } finally {
    await closed.dispose();
  }
  for (const headers of [{}, { authorization: `Bearer ${CLIENT_KEY}` }, { authorization: `Bearer ${ADMIN_KEY}-not` }]) {
    const response = await worker.fetch("/admin/config", { headers });
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.ok(!JSON.stringify(await response.json()).includes(SECRET_HEADER));
  }
});

test("before any save the config is KV's, as revision 0, with header values redacted", async () => {
  const { status, body } = await admin(worker, "GET", "/admin/config");
  assert.equal(status, 200);
  assert.equal(body.revision, 0);
  assert.equal(body.source, "kv");
  assert.equal(body.config.backends[0].headers["x-team-token"], "<redacted>");
  assert.deepEqual(body.config.aliases, deployed().aliases);
  assert.ok(!JSON.stringify(body).includes(SECRET_HEADER));
});

test("a save based on the latest revision is stored, published to KV and used by the next request", async () => {
  let response = await chat("brand-new");
  assert.equal(response.status, 404);
  await response.arrayBuffer();

  const { body: current } = await admin(worker, "GET", "/admin/config");
  const edited = current.config;
  edited.aliases["brand-new"] = "gpt-4o";
  const saved = await admin(worker, "PUT", "/admin/config", { if_revision: 0, config: edited, note: "add brand-new" });
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  assert.equal(saved.body.revision, 1);
  assert.equal(saved.body.note, "add brand-new");
  assert.ok(!JSON.stringify(saved.body).includes(SECRET_HEADER), "the answer shows no header value");

  // KV holds the document with the real header value: the placeholder stood for it.
  const stored = await kvConfig();
  assert.equal(stored.aliases["brand-new"], "gpt-4o");
  assert.equal(stored.backends[0].headers["x-team-token"], SECRET_HEADER);

  response = await chat("brand-new");
  assert.equal(response.status, 200);
  assert.equal((await readJson(response)).choices[0].message.content, "OK");
  assert.equal(worker.lastRequest().headers["x-team-token"], SECRET_HEADER, "the kept value is sent upstream");

  const { body: again } = await admin(worker, "GET", "/admin/config");
  assert.equal(again.revision, 1);
  assert.equal(again.source, "revisions");
});

test("a save based on an older revision is a 412 and writes nothing", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  const first = structuredClone(current.config);
  first.aliases.first = "gpt-4o";
  assert.equal((await admin(worker, "PUT", "/admin/config", { if_revision: 0, config: first })).status, 200);

  const second = structuredClone(current.config);
  second.aliases.second = "gpt-4o";
  const stale = await admin(worker, "PUT", "/admin/config", { if_revision: 0, config: second });
  assert.equal(stale.status, 412);
  assert.equal(stale.body.error.code, "revision_conflict");
  assert.equal(stale.body.revision, 1);
  assert.match(stale.body.error.message, /changed since revision 0: it is at revision 1/);
  assert.equal(await revisionCount(), 1);
  const stored = await kvConfig();
  assert.equal(stored.aliases.first, "gpt-4o");
  assert.equal(stored.aliases.second, undefined, "the stale edit did not reach KV");

  const unbased = await admin(worker, "PUT", "/admin/config", { config: second });
  assert.equal(unbased.status, 428, "a save must say what it was based on");
});

test("of writers racing on the same revision exactly one wins, and KV holds its document", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  const writers = Array.from({ length: 6 }, (_, i) => {
    const config = structuredClone(current.config);
    config.aliases.winner = `gpt-writer-${i}`;
    return admin(worker, "PUT", "/admin/config", { if_revision: 0, config });
  });
  const results = await Promise.all(writers);
  const won = results.filter((r) => r.status === 200);
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
  assert.deepEqual(results.filter((r) => r.status !== 200).map((r) => r.status), [412, 412, 412, 412, 412]);
  assert.equal(await revisionCount(), 1);
  const stored = await kvConfig();
  const { body: latest } = await admin(worker, "GET", "/admin/config");
  assert.equal(stored.aliases.winner, latest.config.aliases.winner);
  assert.equal(won[0].body.config.aliases.winner, stored.aliases.winner);
});

test("an invalid document is a 400 listing every problem by its path, and nothing is written", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  const broken = structuredClone(current.config);
  broken.backends[1].kind = "antropic";
  broken.backends[2].modles = ["x"];
  broken.aliases.empty = "";
  broken.retry = { attempts: 0 };
  broken.routes = { smart: { targets: [{ backend: "nowhere" }] } };
  const { status, body } = await admin(worker, "PUT", "/admin/config", { if_revision: 0, config: broken });
  assert.equal(status, 400);
  assert.equal(body.error.code, "invalid_config");
  assert.deepEqual(body.problems.map((p) => p.path), [
    "backends[1].kind", "backends[2].modles", "aliases.empty", "retry.attempts", "routes.smart.targets[0].backend",
  ]);
  assert.match(body.problems[0].message, /unknown kind `antropic`/);
  assert.equal(await revisionCount(), 0);
  assert.deepEqual(await kvConfig(), deployed(), "KV still holds the working config");

  // The same check without saving, as the dashboard's editor runs it.
  const checked = await admin(worker, "POST", "/admin/config/validate", { config: broken });
  assert.equal(checked.status, 200);
  assert.equal(checked.body.valid, false);
  assert.equal(checked.body.problems.length, 5);
  const fine = await admin(worker, "POST", "/admin/config/validate", { config: current.config });
  assert.deepEqual(fine.body, { valid: true, problems: [] });
});

test("a redacted value with nothing behind it is refused, not saved as the placeholder", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  const renamed = current.config;
  renamed.backends[0].name = "openai-renamed";
  const { status, body } = await admin(worker, "PUT", "/admin/config", { if_revision: 0, config: renamed });
  assert.equal(status, 400);
  assert.deepEqual(body.problems.map((p) => p.path), ["backends[0].headers.x-team-token"]);
});

test("history lists revisions newest first, each readable, and a rollback is a new revision", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  for (const [i, alias] of ["one", "two"].entries()) {
    const config = structuredClone(current.config);
    config.aliases[alias] = "gpt-4o";
    const saved = await admin(worker, "PUT", "/admin/config", { if_revision: i, config, note: `add ${alias}` });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
  }
  const { body: history } = await admin(worker, "GET", "/admin/config/revisions");
  assert.deepEqual(history.revisions.map((r) => [r.revision, r.note]), [[2, "add two"], [1, "add one"]]);
  assert.ok(history.revisions.every((r) => r.bytes > 0 && r.created_at > 0));

  const { body: one } = await admin(worker, "GET", "/admin/config/revisions/1");
  assert.equal(one.config.aliases.one, "gpt-4o");
  assert.equal(one.config.backends[0].headers["x-team-token"], "<redacted>");
  assert.equal((await admin(worker, "GET", "/admin/config/revisions/99")).status, 404);
  assert.equal((await admin(worker, "GET", "/admin/config/revisions/x")).status, 404);

  const stale = await admin(worker, "POST", "/admin/config/rollback", { to: 1, if_revision: 1 });
  assert.equal(stale.status, 412, "a rollback is based on the latest revision too");
  const rolled = await admin(worker, "POST", "/admin/config/rollback", { to: 1, if_revision: 2 });
  assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
  assert.equal(rolled.body.revision, 3);
  assert.equal(rolled.body.note, "rollback to revision 1");
  const stored = await kvConfig();
  assert.equal(stored.aliases.one, "gpt-4o");
  assert.equal(stored.aliases.two, undefined);
  assert.equal(stored.backends[0].headers["x-team-token"], SECRET_HEADER);
  assert.equal((await admin(worker, "POST", "/admin/config/rollback", { to: 42, if_revision: 3 })).status, 404);
});

test("only the last 50 revisions are kept", async () => {
  const { body: current } = await admin(worker, "GET", "/admin/config");
  for (let revision = 0; revision < 53; revision++) {
    const config = structuredClone(current.config);
    config.aliases.counter = `gpt-${revision}`;
    const saved = await admin(worker, "PUT", "/admin/config", { if_revision: revision, config });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
  }
  const { body: history } = await admin(worker, "GET", "/admin/config/revisions");
  assert.equal(history.revisions.length, 50);
  assert.equal(history.revisions[0].revision, 53);
  assert.equal(history.revisions.at(-1).revision, 4);
  assert.equal((await kvConfig()).aliases.counter, "gpt-52");
});

test("the JSON Schema served is the committed one, and knows the config's fields", async () => {
  const response = await worker.fetch("/admin/schema", { headers: ADMIN });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /application\/schema\+json/);
  const text = await response.text();
  assert.equal(text, SCHEMA);
  const schema = JSON.parse(text);
  assert.deepEqual(schema.$defs.BackendKind.oneOf.map((kind) => kind.const), ["openai", "openresponses", "anthropic", "gemini", "vertex", "bedrock", "mock"]);
  assert.ok(schema.properties.backends && schema.properties.routes && schema.properties.$schema);
});

test("backends show their status, and a test sends one token's request to the backend asked", async () => {
  const { status, body } = await admin(worker, "GET", "/admin/backends");
  assert.equal(status, 200);
  assert.deepEqual(body.backends.map((b) => b.name), ["openai", "anthropic", "gemini", "mock"]);
  assert.equal(body.backends[0].isolate.breaker, "closed");
  assert.ok(!JSON.stringify(body).includes(SECRET_HEADER));

  const tested = await admin(worker, "POST", "/admin/backends/test", { backend: "openai", model: "gpt-4o" });
  assert.equal(tested.status, 200, JSON.stringify(tested.body));
  assert.deepEqual([tested.body.ok, tested.body.status, tested.body.said], [true, 200, "OK"]);
  const sent = worker.lastRequest();
  assert.ok(sent.url.endsWith("/openai/v1/chat/completions"), sent.url);
  assert.equal(JSON.parse(sent.body).max_tokens, 1, "one token");

  // A failing backend is reported as such, whatever its model patterns say.
  worker.upstream = () => json({ error: { message: "overloaded right now", type: "server_error" } }, { status: 503 });
  const failing = await admin(worker, "POST", "/admin/backends/test", { backend: "anthropic", model: "any-model-name" });
  assert.equal(failing.status, 200);
  assert.deepEqual([failing.body.ok, failing.body.status], [false, 503], JSON.stringify(failing.body));
  assert.match(failing.body.said, /overloaded right now/);

  assert.equal((await admin(worker, "POST", "/admin/backends/test", { backend: "nowhere", model: "x" })).status, 404);
  const patterns = await admin(worker, "POST", "/admin/backends/test", { backend: "gemini" });
  assert.equal(patterns.status, 400, "a backend of patterns only needs a model named");
});
