"""Screenshot of the leaderboard page: opens reports/index.html (or the page given) in headless
Chromium and saves leaderboard.png next to it.

    .venv/bin/python scripts/screenshot_page.py [reports/index.html] [--full-page]

The page is opened from file:// with every other request refused, as the browser tests do. Without
Chromium (/usr/bin/chromium, `apt-get install chromium`) or Playwright it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", default="reports/index.html", help="the page (default: reports/index.html)")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the first screen")
    args = parser.parse_args(argv)
    page_path = Path(args.page).resolve()
    if not page_path.is_file():
        print(f"screenshot: {page_path} not found (run `harness report` first)", file=sys.stderr)
        return 2
    if not CHROMIUM.exists():
        print(f"screenshot: no Chromium at {CHROMIUM} (apt-get install chromium); no screenshot taken")
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshot: Playwright is not installed (pip install playwright); no screenshot taken")
        return 0
    out = page_path.parent / "leaderboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1800, "height": 1100})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                          else route.abort())
            page = context.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_function("window.harnessReady !== undefined")
            page.screenshot(path=str(out), full_page=args.full_page)
        finally:
            browser.close()
    print(f"screenshot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
