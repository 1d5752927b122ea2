// What the team-gateway tests share: the admin key, admin API calls, issued keys, and the usage
// records the worker writes after its responses.

import assert from "node:assert/strict";
import { TIMEOUT_MS, sleep } from "./harness.mjs";

export const ADMIN_KEY = "admin-key-for-tests";
export const ADMIN = { authorization: `Bearer ${ADMIN_KEY}` };

/** Calls the admin API; the answer's status and JSON body. */
export async function admin(worker, method, path, body) {
  const init = { method, headers: { ...ADMIN, "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await worker.fetch(path, init);
  return { status: response.status, body: await response.json() };
}

/** Issues a key with `policy`; its id and the key itself. */
export async function issue(worker, policy) {
  const { status, body } = await admin(worker, "POST", "/admin/keys", policy);
  assert.equal(status, 201, JSON.stringify(body));
  return { id: body.id, key: body.key, auth: { authorization: `Bearer ${body.key}` } };
}

/** The usage rows of the DB database, oldest first, once there are at least `count` of them
 * (records are written after the response, so they may take a moment). */
export async function records(worker, count, where = "1 = 1") {
  const db = await worker.mf.getD1Database("DB");
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const { results } = await db.prepare(`SELECT * FROM usage WHERE ${where} ORDER BY at_ms, rowid`).all();
    if (results.length >= count) return results;
    if (Date.now() > deadline) assert.fail(`${results.length} usage records, not ${count}: ${JSON.stringify(results)}`);
    await sleep(20);
  }
}

/** A key's counters, as its object reports them, once `ready(usage)` holds (settlements come after
 * the response). */
export async function keyUsage(worker, id, ready = () => true) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const { status, body } = await admin(worker, "GET", `/admin/keys/${id}`);
    assert.equal(status, 200, JSON.stringify(body));
    if (ready(body.usage)) return body.usage;
    if (Date.now() > deadline) assert.fail(`the key's usage did not settle: ${JSON.stringify(body.usage)}`);
    await sleep(20);
  }
}
