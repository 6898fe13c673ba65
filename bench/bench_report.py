"""Reading the computed results and the whole published per-task folder, and building every table and
the plot's data (target: <= 10 s), in a fresh process as `harness report` does; median of 3.

    .venv/bin/python bench/bench_report.py [--results-dir results]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

PARTS = """
import sys, time
t0 = time.perf_counter()
from harness.mirror import Mirrors
from harness.registry import load_registry
from harness.reporting import build_context, read_results, write_report
from harness.results import default_published
from harness.summary import task_keys
from harness.tasks import Catalogue
t1 = time.perf_counter()
registry, catalogue = load_registry(), Catalogue()
mirrors = Mirrors.from_options()
keys = task_keys(catalogue)
t2 = time.perf_counter()
readings = read_results(sys.argv[1], default_published(mirrors.data_dir), registry, keys)
t3 = time.perf_counter()
ctx = build_context(readings, registry, catalogue, mirrors, sys.argv[1])
write_report(ctx, sys.argv[2])
from harness.plot import plot_data
plot_data(ctx)
t4 = time.perf_counter()
files = sum(len(r.records) for r in readings)
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2:.2f} {t4 - t3:.2f} {files}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args()
    runs = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            line = subprocess.run([sys.executable, "-c", PARTS, args.results_dir, out], check=True,
                                  capture_output=True, text=True).stdout.split()
            runs.append((time.perf_counter() - start, *map(float, line[:4]), int(line[4])))
    wall, imports, catalogue, reading, tables, scores = (statistics.median(r[i] for r in runs) for i in range(6))
    print(f"task scores read: {int(scores)} (computed + published)")
    print(f"wall, fresh process (median of 3): {wall:.2f} s  (target <= 10 s)")
    print(f"  imports {imports:.2f} s, registry + catalogue {catalogue:.2f} s, reading {reading:.2f} s, "
          f"tables + report files + plot data {tables:.2f} s")


if __name__ == "__main__":
    main()
