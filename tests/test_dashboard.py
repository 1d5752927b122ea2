"""The dashboard at /admin/, served by the worker under `wrangler dev`, in a real headless browser
(Debian's chromium, driven by Playwright): signing in, charts drawn from usage records the test
made, a key created and revoked, the config edited, checked, saved and refused on a conflict, a
backend tested, and a phone-sized screen. Screenshots go to $LLMPROXY_SCREENSHOTS, else to a new
temporary folder whose path is printed."""

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from upstream import FakeUpstream, Reply, wire
from worker import Worker

from playwright import sync_api as playwright_api

ADMIN_KEY = "admin-key-for-dashboard-tests"
CLIENT_KEY = "static-client-key-dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a closed network: no sandbox, and nothing Chromium would fetch for itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("LLMPROXY_SCREENSHOTS") or tempfile.mkdtemp(prefix="llmproxy-dashboard-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream):
    config = {
        "backends": [
            {"name": "openai", "kind": "openai", "base_url": f"http://127.0.0.1:{upstream.port}/openai/v1",
             "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"], "headers": {"x-org-token": "org-s3cret-value"}},
        ],
        "aliases": {"fast": "gpt-4o-mini"},
        "prices": {"gpt-*": {"input": 2.5, "output": 10}},
    }
    w = Worker(vars={
        "LLMPROXY_API_KEY": CLIENT_KEY,
        "LLMPROXY_ADMIN_KEY": ADMIN_KEY,
        "OPENAI_API_KEY": "sk-upstream-openai",
        "LLMPROXY_CONFIG_TTL_SECONDS": "0",
    }, config=config, gateway=True).start()
    yield w
    w.stop()


def call(gateway, method, path, body=None, key=ADMIN_KEY):
    request = urllib.request.Request(gateway.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def chat(gateway, model, key=CLIENT_KEY):
    return call(gateway, "POST", "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                key=key)


@pytest.fixture(scope="module")
def recorded(gateway, upstream):
    """Usage records of successes on two models and one failure, written before the page opens."""
    upstream.script("gpt-4o", Reply(body=[wire("openai-chat-text.vercel.json")]))
    upstream.script("gpt-4o-mini", Reply(body=[wire("openai-chat-text.vercel.json")]))
    upstream.script("gpt-broken", Reply.json({"error": {"message": "upstream exploded", "type": "server_error"}}, 500))
    for model in ["gpt-4o", "gpt-4o", "gpt-4o", "fast", "gpt-broken"]:
        chat(gateway, model)
    deadline = time.monotonic() + 10
    while True:
        _, usage = call(gateway, "GET", "/admin/usage")
        if usage["totals"]["requests"] >= 5:
            return usage["totals"]
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gateway):
    """A page of a fresh browser context (no session), recording every URL it asks for."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.asked = []
    page.on("request", lambda request: page.asked.append(request.url))
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    assert page.errors == [], page.errors
    assert all(url.startswith(gateway.url + "/") for url in page.asked), "the page asked elsewhere: " + str(page.asked)
    context.close()


def sign_in(page, gateway, key=ADMIN_KEY):
    page.goto(gateway.url + "/admin/")
    page.fill("#admin-key", key)
    page.click("#sign-in-form button")


def painted_pixels(page, selector) -> int:
    """How many pixels of the chart's canvas are drawn on."""
    return page.eval_on_selector(selector + " canvas", """canvas => {
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return painted;
    }""")


def test_the_page_is_static_and_strict_and_signing_in_needs_the_admin_key(page, gateway):
    response = page.goto(gateway.url + "/admin/")
    assert response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp, response.headers
    assert page.is_visible("#sign-in") and not page.is_visible("#tabs")
    sign_in(page, gateway, key="not-the-admin-key")
    page.wait_for_selector("#sign-in-error:has-text('not the admin key')")
    assert not page.is_visible("#tabs")
    assert page.evaluate("sessionStorage.length") == 0, "a refused key is not kept"
    sign_in(page, gateway)
    page.wait_for_selector("#tabs a.current:has-text('Usage')")
    assert page.evaluate("sessionStorage.getItem('llmproxy-admin-key')") == ADMIN_KEY
    assert page.evaluate("localStorage.length") == 0, "the key is kept in the session only"
    page.click("#sign-out")
    assert page.is_visible("#sign-in")
    assert page.evaluate("sessionStorage.length") == 0


def test_usage_shows_totals_charts_and_tables_from_the_records(page, gateway, recorded, screenshots):
    sign_in(page, gateway)
    page.wait_for_selector("[data-total=Requests] strong:has-text('5')")
    assert page.inner_text("[data-total='Error rate'] strong") == "20.0%"
    tokens = recorded["input_tokens"] + recorded["output_tokens"]
    assert page.inner_text("[data-total=Tokens] strong") == f"{tokens:,}"
    assert page.inner_text("[data-total=Cost] strong").startswith("$")
    for chart in ["#chart-requests", "#chart-tokens", "#chart-cost", "#chart-latency"]:
        page.wait_for_selector(chart + " canvas")
        assert int(page.get_attribute(chart, "data-points")) >= 1
        assert painted_pixels(page, chart) > 50, f"{chart} drew nothing"
    models = page.inner_text("#by-model")
    assert "gpt-4o" in models and "gpt-4o-mini" in models and "gpt-broken" in models
    assert "gpt-broken" in page.inner_text("#failing") and "upstream" not in page.inner_text("#failing")
    assert "static" in page.inner_text("#by-key")
    assert "openai" in page.inner_text("#by-backend")
    page.screenshot(path=str(screenshots / "usage.png"), full_page=True)


def test_a_backend_is_tested_from_its_card(page, gateway, upstream, screenshots):
    upstream.script("gpt-4o", Reply(body=[wire("openai-chat-text.vercel.json")]))
    sign_in(page, gateway)
    page.click("#tabs a[data-tab=backends]")
    card = page.wait_for_selector("[data-backend=openai]")
    assert "breaker closed" in card.inner_text()
    assert "org-s3cret-value" not in page.content()
    card.query_selector("input").fill("gpt-4o")
    card.query_selector("button").click()
    page.wait_for_selector("[data-backend=openai] .test-result.ok")
    assert "HTTP 200" in page.inner_text("[data-backend=openai] .test-result")
    assert upstream.seen[-1].body["max_tokens"] == 1
    card.query_selector("input").fill("gpt-broken")
    card.query_selector("button").click()
    page.wait_for_selector("[data-backend=openai] .test-result.failed")
    assert "HTTP 500" in page.inner_text("[data-backend=openai] .test-result")
    page.screenshot(path=str(screenshots / "backends.png"), full_page=True)


def test_a_key_is_created_shown_once_used_and_revoked(page, gateway, upstream, screenshots):
    upstream.script("gpt-4o", Reply(body=[wire("openai-chat-text.vercel.json")]))
    sign_in(page, gateway)
    page.click("#tabs a[data-tab=keys]")
    page.fill("#key-form [name=name]", "browser-made")
    page.fill("#key-form [name=models]", "gpt-*")
    page.fill("#key-form [name=rpm]", "5")
    page.click("#key-form button")
    page.wait_for_selector("#new-key:not([hidden])")
    key = page.inner_text("#new-key-value").strip()
    assert key.startswith("sk-llmp-")
    row = page.wait_for_selector("#key-list tr:has-text('browser-made')")
    assert "5 rpm" in row.inner_text() and "active" in row.inner_text()
    page.screenshot(path=str(screenshots / "keys-created.png"), full_page=True)
    assert chat(gateway, "gpt-4o", key=key)[0] == 200

    # New limits, saved from the row.
    row.query_selector("input[name=rpm]").fill("7")
    row.query_selector("button:has-text('Save limits')").click()
    page.wait_for_selector("#key-list tr:has-text('browser-made'):has-text('7 rpm')")

    page.reload()
    page.click("#tabs a[data-tab=keys]")
    assert "sk-llmp-" not in page.inner_text("#keys"), "the key is shown only once"
    page.click("#key-list tr:has-text('browser-made') button.danger")
    page.wait_for_selector("#key-list tr:has-text('browser-made'):has-text('revoked')")
    status, body = chat(gateway, "gpt-4o", key=key)
    assert status == 401, body


def edit_config(page, change):
    """Applies `change` to the document in the editor, as typing would."""
    document = json.loads(page.input_value("#config-text"))
    change(document)
    page.fill("#config-text", json.dumps(document, indent=2))


def test_the_config_is_checked_reviewed_saved_and_a_conflict_is_refused(page, gateway, screenshots):
    sign_in(page, gateway)
    page.click("#tabs a[data-tab=config]")
    page.wait_for_selector("#config-revision:has-text('revision')")
    revision = call(gateway, "GET", "/admin/config")[1]["revision"]
    text = page.input_value("#config-text")
    assert "<redacted>" in text and "org-s3cret-value" not in text

    # A mistake is shown at its path as it is typed, and cannot be saved.
    edit_config(page, lambda d: d["backends"][0].update(kind="openaii"))
    page.wait_for_selector("#config-problems li:has-text('backends[0].kind')")
    page.click("#config-review")
    assert page.is_disabled("#config-save")

    edit_config(page, lambda d: (d["backends"][0].update(kind="openai"), d["aliases"].update(smart="gpt-4o")))
    page.wait_for_selector("#config-problems li", state="detached")
    page.click("#config-review")
    page.wait_for_selector("#config-diff .added:has-text('smart')")
    page.screenshot(path=str(screenshots / "config-diff.png"), full_page=True)
    page.fill("#config-note", "add smart")
    page.click("#config-save")
    page.wait_for_selector(f"#config-status:has-text('Saved as revision {revision + 1}')")
    status, current = call(gateway, "GET", "/admin/config")
    assert current["config"]["aliases"]["smart"] == "gpt-4o" and current["revision"] == revision + 1
    assert "add smart" in page.inner_text("#revisions")
    assert chat(gateway, "smart")[0] != 404, "the saved alias is routed"

    # Someone else saves meanwhile: this page's save is refused, and its edit is kept.
    edit_config(page, lambda d: d["aliases"].update(mine="gpt-4o"))
    theirs = current["config"]
    theirs["aliases"]["theirs"] = "gpt-4o"
    assert call(gateway, "PUT", "/admin/config", {"if_revision": revision + 1, "config": theirs})[0] == 200
    page.click("#config-review")
    page.wait_for_selector("#config-diff .added:has-text('mine')")
    page.click("#config-save")
    page.wait_for_selector("#config-status.error:has-text('Conflict')")
    assert "mine" in page.input_value("#config-text")
    page.screenshot(path=str(screenshots / "config-conflict.png"), full_page=True)
    after = call(gateway, "GET", "/admin/config")[1]
    assert "mine" not in after["config"]["aliases"] and after["revision"] == revision + 2

    # Rolled back from the history to the revision with `smart` alone.
    page.click("#config-reload")
    page.click(f"#revisions tr:has-text('add smart') button:has-text('Roll back')")
    page.wait_for_selector("#config-status.ok:has-text('Rolled back')")
    rolled = call(gateway, "GET", "/admin/config")[1]
    assert rolled["revision"] == revision + 3 and "theirs" not in rolled["config"]["aliases"]


def test_a_phone_sized_screen_needs_no_sideways_scrolling(browser, gateway, recorded, screenshots):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        sign_in(page, gateway)
        page.wait_for_selector("#chart-requests canvas")
        for tab in ["usage", "backends", "keys", "config"]:
            page.click(f"#tabs a[data-tab={tab}]")
            page.wait_for_selector(f"#{tab}:not([hidden])")
            page.wait_for_timeout(200)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{tab}: the page is {width} px wide on a 390 px screen"
            page.screenshot(path=str(screenshots / f"phone-{tab}.png"), full_page=True)
    finally:
        context.close()
