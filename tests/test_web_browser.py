"""The staff pages in a real browser: Debian's headless chromium, driven by Playwright
(pointed at that executable: Playwright never downloads a browser here), against
`watcher web`'s server over a state made by a real `watcher once` (tests/webrig.py).

Log in, see the alerts, filter, open one, search a Khmer term; no script from feed
text runs (no dialog opens, the page title stays ours), and Khmer text is drawn with a
Khmer font, not as boxes ("tofu"): chromium says which platform font drew a node
(DevTools `CSS.getPlatformFontsForNode`).

Without chromium (or Playwright) these tests skip with the reason; `.ci/run` installs
`chromium` and `fonts-khmeros`. `WEB_SCREENSHOTS=docs` also saves docs/web-*.png.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from watcher.web.server import WebThread

from webrig import PASSWORD, USER, WebRig, free_port, make_state

KHMER_TERM = "ចាប់ខ្លួន"  # "arrest"
CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
try:
    from playwright.sync_api import Browser, Page, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - playwright is in the dev extra
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(
        sync_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on this machine (Debian: apt-get install chromium fonts-khmeros)",
    ),
]
SHOTS = os.environ.get("WEB_SCREENSHOTS")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebRig, str]]:
    port = free_port()
    rig = make_state(tmp_path_factory.mktemp("browser"), listen=f"127.0.0.1:{port}")
    web = WebThread(lambda: rig.config, f"127.0.0.1:{port}")
    web.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/login", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield rig, base
    finally:
        web.stop()


@pytest.fixture(scope="module")
def browser(served: tuple[WebRig, str]) -> Iterator[Browser]:
    # After `served`: its `watcher once` runs an event loop, which Playwright's sync API
    # (itself a loop in this thread) would refuse.
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root in a container, where chromium's sandbox cannot
        # start; --disable-dev-shm-usage: a container's /dev/shm is often 64 MB.
        try:
            launched = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
        except PlaywrightError as exc:  # e.g. a chromium too new for this Playwright
            pytest.skip(f"chromium at {CHROMIUM} does not start under Playwright: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, served: tuple[WebRig, str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        yield opened
    finally:
        context.close()
    assert dialogs == [], f"script from feed text ran: {dialogs}"


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"web-{name}.png"), full_page=True)


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url
    _shot(page, "login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _fonts_of(page: Page, selector: str) -> list[dict[str, Any]]:
    """The platform fonts chromium drew a node's text with (family, glyph count)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    fonts: list[dict[str, Any]] = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return fonts


def test_log_in_see_filter_and_open_an_alert(page: Page, served: tuple[WebRig, str]) -> None:
    _rig, base = served
    _login(page, base)
    rows = page.locator("table.alerts tbody tr")
    assert rows.count() == 5
    assert page.title() == "Alerts · watcher"  # a hostile title's script did not retitle it
    _shot(page, "alerts")
    page.select_option("select[name=severity]", "urgent")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**severity=urgent**")
    assert rows.count() == 2
    page.goto(f"{base}/")
    page.click("text=pwned")  # the hostile title, shown as text
    page.wait_for_url("**/alerts/*")
    assert "<script>document.title='pwned'</script>" in page.inner_text("h1")
    assert page.title() != "pwned" and page.title().endswith("· watcher")
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("text=Kept text").count() == 1
    page.goto(f"{base}/alerts/1")
    _shot(page, "alert")


def test_search_a_khmer_term_and_khmer_glyphs_render(
    page: Page, served: tuple[WebRig, str]
) -> None:
    _rig, base = served
    _login(page, base)
    page.goto(f"{base}/search")
    page.fill("input[name=q]", KHMER_TERM)
    page.click(".search button[type=submit]")
    page.wait_for_url("**/search?q=**")
    title = page.locator("table.hits td.title").first
    assert "ចាប់ខ្លួន" in title.inner_text()
    _shot(page, "search")
    fonts = _fonts_of(page, "table.hits td.title")
    khmer = [f for f in fonts if "khmer" in f["familyName"].lower()]
    assert khmer, f"Khmer drawn without a Khmer font (tofu): {fonts}"
    # And the Khmer glyphs take real, differing widths, as boxes would not.
    widths = page.evaluate(
        """() => ['ក', 'ញ្ញ', 'ស៊ីថា'].map(t => {
            const s = document.createElement('span'); s.textContent = t;
            document.body.appendChild(s); const w = s.getBoundingClientRect().width;
            s.remove(); return w; })"""
    )
    assert len(set(widths)) == 3, widths


def test_sources_and_outbox_pages(page: Page, served: tuple[WebRig, str]) -> None:
    _rig, base = served
    _login(page, base)
    page.goto(f"{base}/sources")
    assert page.locator("table.sources tbody tr").count() == 4
    _shot(page, "sources")
    page.goto(f"{base}/outbox")
    assert "Pending 5" in page.inner_text("main")
    _shot(page, "outbox")
