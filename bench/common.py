"""Helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time


def time_tasks(encoder, tasks, mirrors) -> tuple[float, dict[str, float]]:
    """Evaluate `tasks` with `encoder` in turn: (total wall seconds, seconds per task)."""
    per_task = {}
    start = time.perf_counter()
    for task in tasks:
        t = time.perf_counter()
        task.evaluate(encoder, mirrors)
        per_task[task.spec.name] = time.perf_counter() - t
    return time.perf_counter() - start, per_task


def time_offline_run(model: str, group: str) -> tuple[float, float]:
    """`harness run --offline --available-only -m model -t group` in a fresh process into a temporary
    results folder: (wall seconds, peak RSS of the child processes in MiB)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--available-only", "--no-progress",
               "--results-dir", out, "-m", model, "-t", group]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def offline_setup(group: str):
    """Offline mode, the default mirrors, the tasks of `group` with local data, and whether --minilm was given."""
    import argparse

    from harness.mirror import Mirrors, set_offline
    from harness.tasks import Catalogue

    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", action="store_true", help="also time all-MiniLM-L6-v2 (slow)")
    args = parser.parse_args()
    set_offline()
    mirrors = Mirrors.from_options()
    return mirrors, [t for t in Catalogue().select([group]) if t.missing_data(mirrors) is None], args.minilm


def write_calibration(rows: list[dict], replaced) -> None:
    """`rows` into `harness/reference/cell_costs.csv`, the plan's calibration, in place of the earlier rows for which
    `replaced(row)` is true; every column any row has (a missing one empty, `taken` 0)."""
    import csv

    from harness.plan import CALIBRATION

    kept = []
    if CALIBRATION.is_file():
        with open(CALIBRATION, newline="", encoding="utf-8") as fh:
            kept = [r for r in csv.DictReader(fh) if not replaced(r)]
    fields = list(dict.fromkeys(k for r in kept + rows for k in r))
    with open(CALIBRATION, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows({**r, "taken": r.get("taken") or 0} if "taken" in fields else r for r in kept + rows)
