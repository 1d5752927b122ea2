// Issued keys: create (the key is shown once), edit limits, revoke.

import { api, el, fillTable, format } from "./api.js";

const $ = (id) => document.getElementById(id);
const LIMITS = ["rpm", "tpm", "budget_usd"];

/** The policy fields a form holds, without the empty ones. */
function policyOf(form) {
  const data = new FormData(form);
  const policy = {};
  const name = data.get("name")?.trim();
  if (name) policy.name = name;
  const models = (data.get("models") ?? "").split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) policy.models = models;
  for (const field of LIMITS) {
    const value = data.get(field);
    if (value !== null && value !== "") policy[field] = Number(value);
  }
  const period = data.get("budget_period");
  if (period) policy.budget_period = period;
  return policy;
}

export async function showKeys() {
  const form = $("key-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    $("key-error").textContent = "";
    try {
      const created = await api("POST", "/admin/keys", policyOf(form));
      $("new-key-value").textContent = created.key;
      $("new-key").hidden = false;
      form.reset();
      await listKeys();
    } catch (error) {
      $("key-error").textContent = error.message;
    }
  };
  $("new-key").hidden = true;
  await listKeys();
}

async function listKeys() {
  const { keys } = await api("GET", "/admin/keys");
  const limits = (policy) =>
    [
      policy?.rpm !== undefined && policy?.rpm !== null ? `${policy.rpm} rpm` : null,
      policy?.tpm ? `${format.number(policy.tpm)} tpm` : null,
      policy?.budget_usd ? `${format.usd(policy.budget_usd)} a ${policy.budget_period ?? "month"}` : null,
    ].filter(Boolean).join(", ") || "none";
  fillTable($("key-list"), [
    ["Name", (key) => key.name],
    ["Id", (key) => key.id],
    ["Models", (key) => (key.policy?.models ?? ["every model"]).join(", ")],
    ["Limits", (key) => limits(key.policy)],
    ["Created", (key) => format.time(key.created_at)],
    ["State", (key) => (key.revoked_at ? `revoked ${format.time(key.revoked_at)}` : "active")],
    ["", (key) => (key.revoked_at ? "" : actions(key))],
  ], keys, "no keys issued yet");
}

function actions(key) {
  const inputs = Object.fromEntries(LIMITS.map((field) => [
    field,
    el("input", { type: "number", min: "0", step: "any", name: field, placeholder: field, value: key.policy?.[field] ?? "",
      "aria-label": `${key.name} ${field}` }),
  ]));
  const save = el("button", {
    type: "button",
    text: "Save limits",
    onclick: async () => {
      const patch = {};
      for (const [field, input] of Object.entries(inputs)) patch[field] = input.value === "" ? null : Number(input.value);
      try {
        await api("PATCH", `/admin/keys/${key.id}`, patch);
        await listKeys();
      } catch (error) {
        $("key-error").textContent = error.message;
      }
    },
  });
  const revoke = el("button", {
    type: "button",
    class: "danger",
    text: "Revoke",
    onclick: async () => {
      if (!confirm(`Revoke the key "${key.name}"? Requests with it fail at once.`)) return;
      try {
        await api("DELETE", `/admin/keys/${key.id}`);
        await listKeys();
      } catch (error) {
        $("key-error").textContent = error.message;
      }
    },
  });
  return el("div", { class: "row-actions", "data-key": key.id }, ...Object.values(inputs), save, revoke);
}
