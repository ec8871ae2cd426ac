"""The dashboard in a real browser (headless Chromium via Playwright) against a local stack.

Every test starts from a fresh project, watches the console, page errors and CSP violations
(none allowed), and saves a screenshot to test-artifacts/. Waits are conditions with bounded
timeouts; the page's own refresh timer is driven with Playwright's clock, never waited for.
The stack runs on the real clock, so seeded history is placed relative to the real now.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser import (
    ARTIFACTS,
    DESKTOP,
    HOUR,
    MINUTE,
    PHONE,
    REQUIRE_FLAG,
    Seeder,
    chromium,
    missing_browser,
    seed_demo,
)
from tests.stack import Stack, http, running_stack

WAIT_MS = 15_000
REFRESH_MS = 15_000  # app.js REFRESH_MS
PAGE_WEIGHT_LIMIT = 150_000
SCRIPT_BODY = (
    b'<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    b"<b>not bold</b> & done"
)


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get(REQUIRE_FLAG) == "1":
        pytest.fail(f"{REQUIRE_FLAG}=1 and the browser tests cannot run: {reason}")
    pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")


@pytest.fixture(scope="module")
def stack(browser_available: None) -> Iterator[Stack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def browser(browser_available: None) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def seeder(stack: Stack, request: pytest.FixtureRequest) -> Seeder:
    seeder = Seeder(stack, datetime.now(UTC))
    seeder.project(request.node.name[:60])
    return seeder


@dataclass
class Watch:
    """What the page said that it should not have: console errors, exceptions, CSP reports."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def violations(self, page: Any) -> list[str]:
        return list(page.evaluate("window.__csp || []"))

    def problems(self, page: Any) -> list[str]:
        console = [m for m in self.console if not any(a in m for a in self.allowed)]
        return console + self.errors + [f"CSP: {v}" for v in self.violations(page)]


CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture
def watched(browser: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    watch = Watch()
    page.on("console", lambda m: watch.console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    yield page, watch
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    problems = watch.problems(page)
    context.close()
    assert problems == [], "console errors, page errors or CSP violations"


def collect(into: list[Any]) -> Any:
    """An event handler appending to ``into`` (Playwright cannot take a builtin method)."""
    return lambda item: into.append(item)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_in(page: Any, stack: Stack, key: str) -> None:
    page.goto(f"{stack.base}/#key={key}")
    expect(page.get_by_role("heading", name="Checks")).to_be_visible(timeout=WAIT_MS)


def row(page: Any, check: dict[str, Any]) -> Any:
    return page.locator(f'tr[data-check="{check.get("uuid") or check["unique_key"]}"]')


def api_get(stack: Stack, key: str, path: str) -> Any:
    return json.loads(http("GET", f"{stack.base}/api/v3/{path}", key=key)[1])


# --- sign-in ------------------------------------------------------------------------------


def test_sign_in_with_the_field_then_sign_out(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    seeder.create({"name": "backup", "timeout": 3600})
    page.goto(f"{stack.base}/")
    page.get_by_label("API key").fill(seeder.keys["api_key"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="backup")).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("sessionStorage.getItem('vigil.api_key')") == seeder.keys["api_key"]
    page.reload()  # the tab keeps its session
    expect(page.get_by_role("link", name="backup")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.get_by_role("link", name="backup")).to_have_count(0)


def test_sign_in_by_fragment_sends_the_key_only_in_the_header(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    seeder.create({"name": "backup", "timeout": 3600})
    key = seeder.keys["api_key"]
    sent: list[Any] = []
    page.on("request", collect(sent))
    sign_in(page, stack, key)
    expect(page.get_by_role("link", name="backup")).to_be_visible()
    assert "key=" not in page.url, "the fragment is dropped from the address bar"
    assert sent and all(r.url.startswith(stack.base + "/") for r in sent)
    for request in sent:
        assert key not in request.url and key not in (request.post_data or "")
        has_key = request.headers.get("x-api-key") == key
        assert has_key == ("/api/v3/" in request.url), request.url


def test_a_wrong_key_shows_the_api_error(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, watch = watched
    watch.allowed.append("status of 401")  # the browser logs the API's 401 itself
    page.goto(f"{stack.base}/")
    page.get_by_label("API key").fill("hcw_" + "x" * 28)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("wrong api key (HTTP 401)")
    page.get_by_label("API key").fill("short")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("missing api key (HTTP 401)")
    assert page.evaluate("sessionStorage.length") == 0
    # A #key= link opened in this same tab (only the fragment changes) still signs in.
    page.goto(f"{stack.base}/#key={seeder.keys['api_key']}")
    expect(page.get_by_role("heading", name="Checks")).to_be_visible(timeout=WAIT_MS)


# --- the list -----------------------------------------------------------------------------


def seed_every_status(s: Seeder) -> dict[str, dict[str, Any]]:
    checks = {
        "up": s.create({"name": "up-job", "tags": "prod", "timeout": 3600}),
        "late": s.create(
            {"name": "late-job", "slug": "late", "tags": "prod", "timeout": 3600, "grace": 3600}
        ),
        "down": s.create({"name": "down-job", "tags": "batch", "timeout": 60, "grace": 60}),
        "new": s.create({"name": "new-job", "timeout": 3600}),
        "paused": s.create({"slug": "paused-job", "timeout": 3600}),
        "started": s.create({"name": "started-job", "timeout": 3600, "max_duration": 3600}),
    }
    s.run(checks["up"], 2 * MINUTE, timedelta(seconds=30))
    s.run(checks["up"], MINUTE, timedelta(seconds=45))
    s.ping(checks["late"], "success", HOUR + 10 * MINUTE)  # 10 min into its hour of grace
    s.ping(checks["down"], "success", HOUR)
    s.ping(checks["paused"], "success", HOUR)
    s.pause(checks["paused"])
    s.ping(checks["started"], "success", 5 * MINUTE)
    s.ping(checks["started"], "start", MINUTE)
    return checks


def test_the_list_shows_each_checks_status_word(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    checks = seed_every_status(seeder)
    sign_in(page, stack, seeder.keys["api_key"])
    for word, check in checks.items():
        expect(row(page, check).locator(".status")).to_have_text(word)
    expect(row(page, checks["paused"]).locator("td.c-name a")).to_have_text("paused-job")
    # Worst first, and a count per status.
    words = page.locator("tr[data-check] .status").all_text_contents()
    assert words == ["down", "late", "started", "up", "new", "paused"]
    for word in checks:
        expect(page.locator(f'.count[data-status="{word}"] strong')).to_have_text("1")
    # The sparkline of the two runs, once their ping log is in.
    expect(row(page, checks["up"]).locator("svg.spark")).to_have_count(1, timeout=WAIT_MS)
    # Filter by tag, then by text.
    page.get_by_label("Tag").select_option("prod")
    expect(page.locator("tr[data-check]")).to_have_count(2)
    page.get_by_label("Tag").select_option("")
    page.get_by_label("Filter").fill("paused")
    expect(page.locator("tr[data-check]")).to_have_count(1)


def test_a_check_that_goes_down_shows_down_at_the_next_refresh(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    check = seeder.create({"name": "flaky", "timeout": 3600})
    seeder.ping(check, "success", MINUTE)
    # The page's clock stands still unless the test moves it: its refresh timer fires only then.
    page.clock.install(time=seeder.now)
    page.clock.pause_at(seeder.now + timedelta(seconds=1))
    sign_in(page, stack, seeder.keys["api_key"])
    expect(row(page, check).locator(".status")).to_have_text("up")
    page.evaluate("window.__sameDocument = true")
    http("POST", f"{stack.base}/ping/{check['uuid']}/fail", b"exit 1")
    assert api_get(stack, seeder.key, f"checks/{check['uuid']}")["status"] == "down"
    page.clock.run_for(REFRESH_MS - 1000)
    expect(row(page, check).locator(".status")).to_have_text("up")  # not refreshed yet
    page.clock.run_for(1000)
    expect(row(page, check).locator(".status")).to_have_text("down", timeout=WAIT_MS)
    expect(page.locator('.count[data-status="down"] strong')).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True, "refreshed in place, not reloaded"


# --- one check ----------------------------------------------------------------------------


def test_pause_and_resume_through_the_ui(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    check = seeder.create({"name": "pausable", "timeout": 3600})
    seeder.ping(check, "success", MINUTE)
    sign_in(page, stack, seeder.keys["api_key"])
    page.get_by_role("link", name="pausable").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading.locator(".status")).to_have_text("up", timeout=WAIT_MS)
    page.get_by_role("button", name="Pause").click()
    expect(heading.locator(".status")).to_have_text("paused", timeout=WAIT_MS)
    assert api_get(stack, seeder.key, f"checks/{check['uuid']}")["status"] == "paused"
    # The page rebuilt itself; the toggle pressed keeps the focus, now as Resume.
    expect(page.get_by_role("button", name="Resume")).to_be_focused()
    page.get_by_role("button", name="Resume").click()
    expect(heading.locator(".status")).to_have_text("new", timeout=WAIT_MS)
    assert api_get(stack, seeder.key, f"checks/{check['uuid']}")["status"] == "new"
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_a_read_only_key_shows_everything_and_no_write_control(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    checks = seed_every_status(seeder)
    sign_in(page, stack, seeder.keys["api_key_readonly"])
    expect(page.locator("tr[data-check]")).to_have_count(len(checks))
    expect(page.locator("#role")).to_have_text("Read-only key")
    assert page.get_by_role("button").all_text_contents() == ["Sign out"]
    expect(page.get_by_role("link", name="New check")).to_have_count(0)
    page.get_by_role("link", name="up-job").click()
    expect(page.get_by_role("heading", name="Uptime")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("read-write keys only").first).to_be_visible()
    assert page.get_by_role("button").all_text_contents() == ["Sign out"]
    for name in ("Pause", "Resume", "Edit", "Delete"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    page.goto(f"{stack.base}/#/new")  # the form is not there for this key
    expect(page.get_by_role("heading", name="Checks")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("form.check-form")).to_have_count(0)


def test_the_ping_log_shows_a_script_body_as_text(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    check = seeder.create({"name": "<i>html</i> name", "timeout": 3600, "tags": "<b>t</b>"})
    seeder.run(check, 2 * MINUTE, timedelta(seconds=42), failed=True, body=SCRIPT_BODY)
    sign_in(page, stack, seeder.keys["api_key"])
    page.get_by_role("link", name="<i>html</i> name").click()
    log = page.locator("table.pings")
    expect(log.locator("tbody tr")).to_have_count(2, timeout=WAIT_MS)
    newest = log.locator("tbody tr").first
    expect(newest.locator(".ping-type")).to_have_text("fail (exit 1)")
    expect(newest.locator("td[data-label=Duration]")).to_have_text("42 s")
    expect(newest.locator("td[data-label=Source]")).to_contain_text("https POST from 10.0.4.17")
    expect(newest.locator("code.rid")).to_have_count(1)
    newest.get_by_text("Show body").click()
    body = newest.locator("pre.body")
    expect(body).to_have_text(SCRIPT_BODY.decode(), timeout=WAIT_MS)
    assert body.locator("*").count() == 0, "no element was made from the body"
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_role("heading", level=1)).to_contain_text("<i>html</i> name")
    assert page.locator("h1 i").count() == 0


def test_the_check_page_shows_schedule_uptime_durations_and_badges(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    check = seeder.create(
        {"name": "nightly", "schedule": "30 2 * * *", "tz": "Europe/Riga", "grace": 1800}
    )
    for night in (3, 2, 1):
        seeder.run(check, night * 24 * HOUR, timedelta(minutes=20 + night))
    sign_in(page, stack, seeder.keys["api_key"])
    page.get_by_role("link", name="nightly").click()
    expect(page.get_by_text("at 02:30 every day (Europe/Riga)")).to_be_visible(timeout=WAIT_MS)
    expected = page.locator("table.expected tbody tr")
    expect(expected).to_have_count(5)
    first = expected.first.locator("time").first
    assert "02:30" in first.inner_text() or "2:30" in first.inner_text()
    expect(page.locator(".uptime")).to_have_count(3)
    expect(page.locator("svg.chart rect.bar")).to_have_count(3)
    expect(page.locator(".badge img")).to_have_count(2)
    # The <img> exists before its SVG arrives: wait (bounded) for the first badge to decode.
    page.wait_for_function(
        "() => { const img = document.querySelector('.badge img');"
        " return img !== null && img.complete && img.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )


def test_edit_shows_the_api_validation_at_the_field_then_create_and_delete(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, watch = watched
    watch.allowed.append("status of 400")  # the browser logs the API's 400 itself
    sign_in(page, stack, seeder.keys["api_key"])
    page.get_by_role("link", name="New check").click()
    page.get_by_label("Name", exact=True).fill("made-in-browser")
    page.get_by_label("Tags").fill("web ui")
    page.get_by_label("Grace", exact=True).fill("10")
    page.locator("#unit-grace").select_option(label="seconds")
    page.get_by_role("button", name="Create check").click()
    error = page.locator("#error-grace")
    expect(error).to_have_text("json validation error: grace is too small")
    expect(page.get_by_label("Grace", exact=True)).to_have_attribute("aria-invalid", "true")
    assert api_get(stack, seeder.key, "checks/")["checks"] == []
    page.locator("#unit-grace").select_option(label="minutes")
    page.get_by_role("button", name="Create check").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("made-in-browser", timeout=WAIT_MS)
    [made] = api_get(stack, seeder.key, "checks/")["checks"]
    assert (made["grace"], made["tags"]) == (600, "web ui")
    assert made["max_duration"] == 600, "left alone, the longest run defaults to the grace"
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete check").click()
    expect(page.get_by_role("heading", name="Checks")).to_be_visible(timeout=WAIT_MS)
    assert api_get(stack, seeder.key, "checks/")["checks"] == []


def test_fields_the_api_may_grow_are_shown(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    page, _ = watched
    check = seeder.create({"name": "grown", "timeout": 3600})
    grown = {
        **api_get(stack, seeder.key, f"checks/{check['uuid']}"),
        "run_health": {"p95_seconds": 12.5},
        "owner": "<team>",
    }
    page.route(
        f"**/api/v3/checks/{check['uuid']}",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(grown)
        ),
    )
    sign_in(page, stack, seeder.keys["api_key"])
    page.goto(f"{stack.base}/#/check/{check['uuid']}")
    more = page.locator("section", has=page.get_by_role("heading", name="More fields"))
    expect(more).to_contain_text("run_health", timeout=WAIT_MS)
    expect(more).to_contain_text('"p95_seconds": 12.5')
    expect(more).to_contain_text("<team>")


# --- safety, weight, speed ----------------------------------------------------------------


def test_the_csp_watch_catches_inline_script(stack: Stack, watched: tuple[Any, Watch]) -> None:
    """The no-violation assertion of every other test would notice one."""
    page, watch = watched
    page.goto(f"{stack.base}/")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = 1'; document.head.append(s); }""")
    page.wait_for_function("window.__csp.length > 0", timeout=WAIT_MS)
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in watch.violations(page))
    page.evaluate("window.__csp = []")  # seen; the teardown check is for unexpected ones
    watch.console.clear()


def test_page_weight_and_time_to_first_render(stack: Stack, seeder: Seeder, browser: Any) -> None:
    """A cold load of the seeded demo list: every byte the browser received, and when it drew."""
    checks = seed_demo(seeder)
    results = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        loaded: list[Any] = []
        page.on("requestfinished", collect(loaded))
        page.goto(f"{stack.base}/#key={seeder.keys['api_key']}")
        # Loaded: sparklines drawn for the rows on screen (every check but the new one has
        # runs; on a phone the rows below the fold wait until scrolled to), network quiet.
        sparklines = page.locator("tr[data-check] svg.spark")
        expect(sparklines.first).to_be_visible(timeout=WAIT_MS)
        page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        if viewport is DESKTOP:
            expect(sparklines).to_have_count(len(checks) - 1)
        sizes = [r.sizes() for r in loaded]
        transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
        timing = page.evaluate("""() => ({
            fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
            list: performance.getEntriesByName('vigil:first-render')[0]?.startTime })""")
        results[name] = {"requests": len(loaded), "bytes": transferred, **timing}
        context.close()
        assert transferred < PAGE_WEIGHT_LIMIT, results
    # A cold load straight onto the busiest check's page (60 pings, a month of flips, badges),
    # as a bookmark opened in a signed-in tab would.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.add_init_script(f"sessionStorage.setItem('vigil.api_key', '{seeder.keys['api_key']}')")
    loaded = []
    page.on("requestfinished", collect(loaded))
    page.goto(f"{stack.base}/#/check/{checks['backup']['uuid']}")
    expect(page.locator("table.pings")).to_be_visible(timeout=WAIT_MS)
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    transferred = sum(
        r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in loaded
    )
    results["check page"] = {"requests": len(loaded), "bytes": transferred}
    context.close()
    assert transferred < PAGE_WEIGHT_LIMIT, results
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page-weight.json").write_text(json.dumps(results, indent=2))
    print(f"\ndashboard cold load: {json.dumps(results)}")


def test_a_second_visit_asks_the_server_for_the_page_only(
    stack: Stack, seeder: Seeder, watched: tuple[Any, Watch]
) -> None:
    """Unchanged scripts and styles come from the browser's cache without even a 304: their
    URLs name their content. The page itself goes to the server (revalidated), so a deploy
    shows on the next visit."""
    page, _ = watched
    sign_in(page, stack, seeder.keys["api_key"])
    page.goto("about:blank")
    page.goto(f"{stack.base}/")  # the same tab, still signed in: the list again
    expect(page.get_by_role("heading", name="Checks")).to_be_visible(timeout=WAIT_MS)
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    # Resource Timing: transferSize is 0 for a reply from the cache, headers and body if any
    # byte came over the network (a 304's headers included).
    files = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/ui/'))
        .map((e) => [e.name.split('/').pop(), e.transferSize])""")
    navigation = page.evaluate("performance.getEntriesByType('navigation')[0].transferSize")
    assert {"app.js", "api.js", "list.js", "dom.js", "style.css"} <= {n for n, _ in files}
    assert [(name, size) for name, size in files if size != 0] == []
    assert navigation > 0


CONTRAST = """(selectors) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  };
  const worst = {};
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      worst[selector] = Math.min(worst[selector] ?? 99, ratio);
    }
  }
  return worst;
}"""
TEXT_SELECTORS = [
    ".status.up",
    ".status.late",
    ".status.down",
    ".status.new",
    ".status.paused",
    ".status.started",
    ".muted",
    "th",
    ".count",
    ".button.primary",
    "td.name a",
    ".tag",
    ".slug",
    ".field label",
    "input",
    "select",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_labels_and_keyboard(
    stack: Stack, seeder: Seeder, browser: Any, scheme: str
) -> None:
    checks = seed_every_status(seeder)
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    page = context.new_page()
    sign_in(page, stack, seeder.keys["api_key"])
    expect(page.locator("tr[data-check]")).to_have_count(len(checks))
    worst = page.evaluate(CONTRAST, TEXT_SELECTORS)
    assert set(worst) == set(TEXT_SELECTORS), "every kind of text is on the page"
    low = {selector: round(ratio, 2) for selector, ratio in worst.items() if ratio < 4.5}
    assert low == {}, f"below WCAG AA (4.5:1) in {scheme} mode"
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !el.labels.length && !el.getAttribute('aria-label')).map((el) => el.id)""")
    assert unlabelled == []
    # From the top of the page, Tab reaches a check's link; Enter opens it.
    target = page.get_by_role("link", name="late-job")
    for _ in range(30):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the check's link")
    # The list rebuilds its rows on every refresh (and as sparklines load): the focus stays put.
    page.evaluate("document.activeElement.closest('tr').dataset.before = 'refresh'")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("tr[data-before]")).to_have_count(0, timeout=WAIT_MS)
    expect(target).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("late-job", timeout=WAIT_MS)
    expect(page.locator("table.pings")).to_be_visible(timeout=WAIT_MS)
    check_page = [".facts dt", "h2", ".uptime-label", ".ping-type.success", ".back", "time"]
    low = {s: round(r, 2) for s, r in page.evaluate(CONTRAST, check_page).items() if r < 4.5}
    assert low == {}, f"below WCAG AA (4.5:1) on the check page in {scheme} mode"
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused in ("← All checks", "Pause")
    # The check page rebuilds itself on every refresh too: the focus stays on the same control.
    page.evaluate("document.getElementById('check-title').dataset.before = 'refresh'")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#check-title[data-before]")).to_have_count(0, timeout=WAIT_MS)
    assert page.evaluate("document.activeElement.textContent") == focused
    # It restores focus by id, so every control it renders needs one.
    without_id = page.evaluate("""() => [...document.querySelectorAll(
        '#view a[href], #view button, #view summary, #view input, #view select, #view [tabindex]')]
        .filter((el) => !el.id).map((el) => el.outerHTML.slice(0, 80))""")
    assert without_id == []
    context.close()


# The dashboard reads cron itself (chalicelib/ui/cron.js) to list expected times; it must agree
# with the server's schedule, DST transitions included (traps.md §6, hc-protocol.md §4).
CRON_CASES = [
    ("30 2 * * *", "Europe/Riga", datetime(2026, 3, 27, 12, tzinfo=UTC)),
    ("30 3 * * *", "Europe/Riga", datetime(2026, 10, 24, 0, tzinfo=UTC)),
    ("15 * * * *", "Europe/Riga", datetime(2026, 10, 24, 23, tzinfo=UTC)),
    ("*/30 * * * *", "Europe/Riga", datetime(2026, 3, 29, 0, 10, tzinfo=UTC)),
    ("30 1 * * *", "America/New_York", datetime(2026, 10, 31, tzinfo=UTC)),
    ("30 2 * * *", "America/New_York", datetime(2026, 3, 7, 12, tzinfo=UTC)),
    ("0 */2 * * *", "Europe/Riga", datetime(2026, 10, 24, 20, tzinfo=UTC)),
    ("*/15 9-17 * * 1-5", "Asia/Kolkata", datetime(2026, 11, 27, 10, tzinfo=UTC)),
    ("0 12 1 * 5L", "Australia/Sydney", datetime(2026, 11, 27, tzinfo=UTC)),
    ("0 9 * * MON#1", "UTC", datetime(2026, 11, 27, tzinfo=UTC)),
    ("0 0 L * *", "UTC", datetime(2026, 1, 30, tzinfo=UTC)),
    ("5 4 * JAN,JUL SUN", "Europe/London", datetime(2026, 11, 27, tzinfo=UTC)),
    ("0 0 29 2 *", "UTC", datetime(2026, 11, 27, tzinfo=UTC)),
    ("0-59/20 3 * * *", "Europe/Riga", datetime(2026, 10, 24, 22, tzinfo=UTC)),
]


def test_the_pages_cron_reader_agrees_with_the_server(stack: Stack, browser: Any) -> None:
    from chalicelib.schedule import next_fire

    page = browser.new_page()
    page.goto(f"{stack.base}/ui/icon.svg")  # same origin as the modules, nothing else running
    for expr, tz, after in CRON_CASES:
        expected, moment = [], after
        for _ in range(5):
            moment = next_fire(expr, tz, moment)
            expected.append(moment.isoformat().replace("+00:00", "Z"))
        got = page.evaluate(
            """async ([expr, tz, after]) => {
                const cron = await import('/ui/cron.js');
                return cron.nextFires(expr, tz, new Date(after), 5)
                  .map((d) => d.toISOString().replace('.000Z', 'Z'));
            }""",
            [expr, tz, after.isoformat()],
        )
        assert got == expected, (expr, tz, after)
    page.close()
