// The backends: their breaker state in the isolate that answered, their last recorded error, and a
// button that sends each a one-token request.

import { api, el, format } from "./api.js";

const $ = (id) => document.getElementById(id);

export async function showBackends() {
  $("backends-refresh").onclick = showBackends;
  const { backends } = await api("GET", "/admin/backends");
  $("backend-list").replaceChildren(...backends.map(card));
}

function card(backend) {
  const state = backend.isolate?.breaker ?? "closed";
  const model = el("input", { value: backend.test_model ?? "", placeholder: "model to test", "aria-label": "model" });
  const result = el("p", { class: "test-result", role: "status" });
  const button = el("button", {
    type: "button",
    text: "Test this backend",
    onclick: async () => {
      button.disabled = true;
      result.textContent = "testing...";
      try {
        const tested = await api("POST", "/admin/backends/test", { backend: backend.name, model: model.value });
        result.className = `test-result ${tested.ok ? "ok" : "failed"}`;
        result.textContent = `${tested.ok ? "OK" : "failed"}: HTTP ${tested.status} in ${tested.latency_ms} ms` +
          (tested.said ? ` - ${tested.said}` : "");
      } catch (error) {
        result.className = "test-result failed";
        result.textContent = error.message;
      } finally {
        button.disabled = false;
      }
    },
  });
  const lastError = backend.last_error
    ? `${backend.last_error.error} (HTTP ${backend.last_error.status}) at ${format.time(backend.last_error.at_ms)}`
    : "none recorded";
  return el(
    "div",
    { class: "card backend", "data-backend": backend.name },
    el("strong", { text: backend.name }),
    el("span", { class: `state ${state}`, text: `breaker ${state}` }),
    el("small", { text: `${backend.kind} - ${backend.base_url || "built in"}` }),
    el("small", { text: `models: ${backend.models.join(", ")}` }),
    el("small", { text: `last error: ${lastError}` }),
    el("div", { class: "actions" }, model, button),
    result,
  );
}
