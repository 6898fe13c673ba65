"""Screenshot of the leaderboard page: opens reports/index.html (or the page given) in headless
Chromium and saves leaderboard.png next to it.

    .venv/bin/python scripts/screenshot_page.py [reports/index.html] [--full-page]

The page is opened from file:// with every other request refused, as the browser tests do. Without
Chromium (/usr/bin/chromium, `apt-get install chromium`) or Playwright it says so and exits 0
(harness/browser.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.browser import chromium, offline_context, open_page, unavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", default="reports/index.html", help="the page (default: reports/index.html)")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the first screen")
    args = parser.parse_args(argv)
    page_path = Path(args.page).resolve()
    if not page_path.is_file():
        print(f"screenshot: {page_path} not found (run `harness report` first)", file=sys.stderr)
        return 2
    why = unavailable()
    if why:
        print(f"screenshot: {why}; no screenshot taken")
        return 0
    out = page_path.parent / "leaderboard.png"
    with chromium() as browser:
        open_page(offline_context(browser, 1800, 1100), page_path).screenshot(path=str(out), full_page=args.full_page)
    print(f"screenshot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
