"""Every core of one machine: wall time of `harness run` on a model's offline datasets with --jobs 1
and --jobs N, in fresh processes, alternating, median of `--runs` (target for potion-base-8M on the
29 offline datasets, --jobs 2 on 2 cores: <= 75 s, from 121 s one cell after another; on the four
classification datasets, --tasks Banking77Classification EmotionClassification
TweetSentimentExtractionClassification AmazonCounterfactualClassification: --jobs 2 at least 1.5x faster).

    .venv/bin/python bench/bench_jobs.py [--model potion-base-8M] [--jobs 2] [--runs 3] [--probe-seeds K] [--tasks T...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def timed_run(model: str, jobs: int, probe_seeds: int | None, tasks: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--available-only", "--no-progress",
               "--results-dir", out, "-m", model, "-t", *tasks, "--jobs", str(jobs)]
        if probe_seeds is not None:
            cmd += ["--probe-seeds", str(probe_seeds)]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="potion-base-8M")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probe-seeds", type=int, help="passed to harness run (default: harness's default)")
    parser.add_argument("--tasks", nargs="+", default=["MTEB", "PEARL", "WordSim"], help="tasks or groups")
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], args.jobs: []}
    for _ in range(args.runs):
        for jobs in walls:
            walls[jobs].append(timed_run(args.model, jobs, args.probe_seeds, args.tasks))
            print(f"  --jobs {jobs}: {walls[jobs][-1]:.1f} s", flush=True)
    one, many = statistics.median(walls[1]), statistics.median(walls[args.jobs])
    seeds = "default" if args.probe_seeds is None else args.probe_seeds
    print(f"{args.model}, offline {'+'.join(args.tasks)}, probe seeds {seeds}: --jobs 1 {one:.1f} s, --jobs {args.jobs} "
          f"{many:.1f} s (median of {args.runs}); --jobs {args.jobs} is {one / many:.2f}x faster")


if __name__ == "__main__":
    main()
