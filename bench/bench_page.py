"""The leaderboard page: time to write reports/index.html from a results folder and the published per-task
results (target: <= 2 s), its size (target: <= 2 MB), and the time until it is interactive in Debian's
Chromium opened from file:// (target: <= 1000 ms after navigation start); median of 3.

    .venv/bin/python bench/bench_page.py [--results-dir results]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

def write_times(results_dir: str, runs: int) -> tuple[list[float], Path, tempfile.TemporaryDirectory]:
    from harness.cli import _context, build_parser
    from harness.page import write_page

    ctx = _context(build_parser().parse_args(["report", "--results-dir", results_dir]))
    keep = tempfile.TemporaryDirectory()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        write_page(ctx, keep.name)
        seconds.append(time.perf_counter() - started)
    return seconds, Path(keep.name) / "index.html", keep


def interactive_ms(path: Path, runs: int) -> list[float]:
    from harness.browser import chromium, offline_context, open_page

    times = []
    with chromium() as browser:
        for _ in range(runs):
            context = offline_context(browser)
            times.append(open_page(context, path).evaluate("window.harnessReady"))
            context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds, path, keep = write_times(args.results_dir, args.runs)
    with keep:
        size = path.stat().st_size
        print(f"page written in {statistics.median(seconds):.2f} s (median of {args.runs}; target <= 2 s), "
              f"{size / 1e6:.2f} MB (target <= 2 MB)")
        from harness.browser import unavailable

        if why := unavailable():
            print(f"interactive time not measured: {why}")
            return
        ms = interactive_ms(path, args.runs)
        print(f"interactive {statistics.median(ms):.0f} ms after navigation start in Chromium "
              f"(median of {args.runs}, min {min(ms):.0f}, max {max(ms):.0f}; target <= 1000 ms)")


if __name__ == "__main__":
    main()
