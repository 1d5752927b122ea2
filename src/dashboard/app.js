// The dashboard: sign in with the admin key, then one tab at a time.

import { api, session } from "./api.js";
import { showUsage } from "./usage.js";
import { showBackends } from "./backends.js";
import { showKeys } from "./keys.js";
import { showConfig } from "./config.js";

const TABS = { usage: showUsage, backends: showBackends, keys: showKeys, config: showConfig };
const $ = (id) => document.getElementById(id);

function signedIn(yes) {
  $("sign-in").hidden = yes;
  $("tabs").hidden = !yes;
  $("sign-out").hidden = !yes;
  if (!yes) for (const tab of document.querySelectorAll(".tab")) tab.hidden = true;
}

async function open() {
  if (!session.key) return signedIn(false);
  signedIn(true);
  const name = TABS[location.hash.slice(1)] ? location.hash.slice(1) : "usage";
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== name;
  for (const link of document.querySelectorAll("#tabs a")) link.classList.toggle("current", link.dataset.tab === name);
  await TABS[name]();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  session.key = $("admin-key").value.trim();
  $("admin-key").value = "";
  try {
    // Any admin call tells whether the key is the admin's.
    await api("GET", "/admin/backends");
    $("sign-in-error").textContent = "";
    await open();
  } catch (error) {
    session.key = null;
    signedIn(false);
    $("sign-in-error").textContent = error.status === 401 ? "That is not the admin key." : error.message;
  }
});

$("sign-out").addEventListener("click", () => {
  session.key = null;
  signedIn(false);
});
window.addEventListener("signed-out", () => signedIn(false));
window.addEventListener("hashchange", open);
window.addEventListener("load", open);
