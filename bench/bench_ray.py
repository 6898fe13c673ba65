"""Ray overhead, as a user sees it: the wall time of the same `harness run` command in a fresh process,
local and with `--ray`, on the offline grid of the Ray tests (GloVe 6B 50d and a MiniLM distillation
× WordSim, BIOSSES, STS12 = 18 cells). Two Ray cases: (a) `--ray` with no address, where the command
starts a local Ray instance (2 CPUs here) and stops it; (b) `--ray auto` against a Ray instance that is
already running (`ray start --head`, outside the timing), which is what a cluster user pays.
Each figure is the median of `--repeat` runs; target: Ray <= 1.3 × local.

    .venv/bin/python bench/bench_ray.py [--models A B] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MODELS = ["GloVe_6B_50d", "M2V_MiniLM_output"]
TASKS = ["WordSim", "BIOSSES", "STS12"]
RAY = str(Path(sys.executable).with_name("ray"))


def command_wall(models: list[str], extra: list[str]) -> float:
    """Wall seconds of one `harness run` over the grid into an empty results folder."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--no-progress", "--results-dir", out,
               "-m", *models, "-t", *TASKS, *extra]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0 or "18 done" not in done.stdout:
        sys.exit(f"bench_ray: {' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall


def median_wall(models: list[str], extra: list[str], repeat: int) -> tuple[float, list[float]]:
    walls = [command_wall(models, extra) for _ in range(repeat)]
    return statistics.median(walls), walls


@contextlib.contextmanager
def running_ray():
    """A Ray head with 2 CPUs for the duration (`ray start --head --block`, stopped by SIGTERM: no `ray stop`,
    which would stop every Ray instance of the user on this machine)."""
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false",
                             "--disable-usage-stats"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        for line in head.stdout:
            if "--block" in line:  # printed once the head is up
                break
        else:
            sys.exit(f"bench_ray: `ray start --head` exited with {head.wait()}")
        threading.Thread(target=head.stdout.read, daemon=True).start()  # keep its pipe drained
        yield
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs=2, default=MODELS, help=f"two offline models (default {' '.join(MODELS)})")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported; default 3)")
    args = parser.parse_args()
    os.environ.pop("RAY_ADDRESS", None)  # `--ray` with no address then starts its own instance
    command_wall(args.models, [])  # warm the page cache and the distilled-model cache
    figures = {"local": median_wall(args.models, [], args.repeat),
               "Ray started and stopped by the command (--ray)": median_wall(args.models, ["--ray"], args.repeat)}
    with running_ray():
        figures["Ray already running (--ray auto)"] = median_wall(args.models, ["--ray", "auto"], args.repeat)
    local = figures["local"][0]
    print(f"grid {' + '.join(args.models)} x ({', '.join(TASKS)}) = 18 cells, wall of `harness run` "
          f"(median of {args.repeat}):")
    for label, (wall, walls) in figures.items():
        runs = ", ".join(f"{w:.1f}" for w in walls)
        if label == "local":
            print(f"  {label}: {wall:.1f} s ({runs})")
            continue
        overhead = 100 * (wall - local) / local
        print(f"  {label}: {wall:.1f} s ({runs}); {overhead:+.0f} % over local "
              f"(target <= 30 %: {'OK' if overhead <= 30 else 'OVER'})")


if __name__ == "__main__":
    main()
