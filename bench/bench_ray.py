"""Ray overhead: the offline grid of the Ray tests (GloVe 6B 50d and a MiniLM distillation × WordSim,
BIOSSES, STS12) run locally and on a local Ray instance with 2 CPUs, (a) started and stopped inside
the timing (`--ray` with no address on a laptop) and (b) already running (what a user with a cluster
pays: `--ray ADDRESS`); target: Ray <= 1.3 × local.

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


def timed(runner_factory, models=MODELS, task_names=TASKS) -> float:
    specs = load_registry().select(models)
    tasks = Catalogue().select(task_names)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = runner_factory(ResultStore(out)).run(specs, tasks)
        wall = time.perf_counter() - start
    assert all(c.status == "done" for c in report.cells), [c.error for c in report.cells if c.error]
    return wall


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs=2, default=MODELS, help=f"two offline models (default {' '.join(MODELS)})")
    models = parser.parse_args().models
    set_offline()
    mirrors = Mirrors.from_options()
    timed(lambda store: Runner(store, mirrors, progress=False), models)  # warm caches (datasets, distilled model)
    local = timed(lambda store: Runner(store, mirrors, progress=False), models)
    cold = timed(lambda store: RayRunner(store, mirrors, progress=False), models)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # start the workers and their imports on another model, so the timed run still loads its models
    timed(lambda store: RayRunner(store, mirrors, progress=False), ["M2V_MiniLM_input"], ["MEN", "rel353"])
    warm = timed(lambda store: RayRunner(store, mirrors, progress=False), models)
    ray.shutdown()
    for label, wall in (("Ray started and stopped in the run", cold), ("Ray already running", warm)):
        overhead = 100 * (wall - local) / local
        print(f"grid {' + '.join(models)} x ({', '.join(TASKS)}): local {local:.1f} s; {label}: {wall:.1f} s "
              f"({overhead:+.0f} %, target <= 30 %: {'OK' if overhead <= 30 else 'OVER'})")


if __name__ == "__main__":
    main()
