"""Ray overhead: the offline grid of the Ray tests (GloVe 6B 50d and a MiniLM distillation × WordSim,
BIOSSES, STS12) run locally and on a local Ray instance (2 CPUs, started and stopped inside the
timing: what a user pays); target: Ray <= 1.3 × local.

    .venv/bin/python bench/bench_ray.py
"""

from __future__ import annotations

import tempfile
import time

from harness.distributed import RayRunner
from harness.mirror import Mirrors, set_offline
from harness.registry import load_registry
from harness.results import ResultStore
from harness.runner import Runner
from harness.tasks import Catalogue

MODELS = ["GloVe_6B_50d", "M2V_MiniLM_output"]
TASKS = ["WordSim", "BIOSSES", "STS12"]


def timed(runner_factory) -> float:
    specs = load_registry().select(MODELS)
    tasks = Catalogue().select(TASKS)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = runner_factory(ResultStore(out)).run(specs, tasks)
        wall = time.perf_counter() - start
    assert all(c.status == "done" for c in report.cells), [c.error for c in report.cells if c.error]
    return wall


def main() -> None:
    set_offline()
    mirrors = Mirrors.from_options()
    timed(lambda store: Runner(store, mirrors, progress=False))  # warm caches (datasets, distilled model)
    local = timed(lambda store: Runner(store, mirrors, progress=False))
    distributed = timed(lambda store: RayRunner(store, mirrors, progress=False))
    overhead = 100 * (distributed - local) / local
    print(f"grid {len(MODELS)} models x ({', '.join(TASKS)}): local {local:.1f} s, Ray {distributed:.1f} s "
          f"(incl. Ray start/stop; {overhead:+.0f} %, target <= 30 %: {'OK' if overhead <= 30 else 'OVER'})")


if __name__ == "__main__":
    main()
