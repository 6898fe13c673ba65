"""PEARL, the seven offline datasets: a static model's wall time (target <= 120 s) with per-dataset
times; with --minilm also all-MiniLM-L6-v2's wall time and peak RSS (separate process).

    .venv/bin/python bench/bench_pearl.py [--minilm]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

from harness.encoders import load_encoder
from harness.mirror import Mirrors, set_offline
from harness.registry import load_registry
from harness.tasks import Catalogue

STATIC = "M2V_MiniLM_output"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", action="store_true")
    args = parser.parse_args()
    set_offline()
    mirrors = Mirrors.from_options()
    tasks = [t for t in Catalogue().select(["PEARL"]) if t.missing_data(mirrors) is None]
    encoder = load_encoder(load_registry().get(STATIC), mirrors)
    times = {}
    start = time.perf_counter()
    for task in tasks:
        t = time.perf_counter()
        task.evaluate(encoder, mirrors)
        times[task.spec.name] = time.perf_counter() - t
    wall = time.perf_counter() - start
    print(f"{STATIC} (static, model2vec) on {len(tasks)} offline PEARL datasets: {wall:.1f} s "
          f"(target <= 120 s: {'OK' if wall <= 120 else 'OVER'})")
    print("per dataset: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    if args.minilm:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--available-only", "--no-progress",
                   "--results-dir", out, "-m", "all-MiniLM-L6-v2", "-t", "PEARL"]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"all-MiniLM-L6-v2 on the offline PEARL datasets: wall {wall:.0f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
