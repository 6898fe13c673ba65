"""The leaderboard page in a real browser: Debian's Chromium (`apt-get install chromium`) driven by
Playwright for Python, with the page opened from file:// and every other request refused. Used by the
page's screenshot script, its browser tests and its benchmark; Playwright is an optional dependency
(the `test` extra), imported only here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def unavailable() -> str | None:
    """Why no page can be opened here (no Chromium, no Playwright), or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (scripts/install.sh does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def offline_context(browser, width: int = 1400, height: int = 900):
    """A browser context that serves file:// only: every other request is refused."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                  else route.abort())
    return context


def open_page(context, path: Path, watch: Callable[[Any], None] | None = None):
    """`path` opened in a new tab of `context`, once the page's script says it is ready; `watch` gets the
    tab before it loads (to listen to its console and requests)."""
    page = context.new_page()
    if watch is not None:
        watch(page)
    page.goto(Path(path).resolve().as_uri(), wait_until="load")
    page.wait_for_function("window.harnessReady !== undefined")
    return page
