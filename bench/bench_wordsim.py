"""WordSim speed: the 7 datasets for a static model (target <= 5 s) and all-MiniLM-L6-v2 (<= 90 s),
model load excluded. Prints the figures; run with `.venv/bin/python bench/bench_wordsim.py`."""

from __future__ import annotations

import time

from common import time_tasks

from harness.loaders import load_encoder
from harness.mirror import Mirrors, set_offline
from harness.registry import load_registry
from harness.tasks import Catalogue

TARGETS_S = {"GloVe_6B_50d": 5.0, "all-MiniLM-L6-v2": 90.0}


def main() -> None:
    set_offline()
    mirrors = Mirrors.from_options()
    registry = load_registry()
    tasks = Catalogue().select(["WordSim"])
    for name, target in TARGETS_S.items():
        t0 = time.perf_counter()
        encoder = load_encoder(registry.get(name), mirrors)
        load_s = time.perf_counter() - t0
        total, per_task = time_tasks(encoder, tasks, mirrors)
        verdict = "OK" if total <= target else "OVER TARGET"
        detail = ", ".join(f"{k} {v:.2f}" for k, v in per_task.items())
        print(f"{name}: WordSim 7 datasets {total:.2f} s (target <= {target:.0f} s: {verdict}); "
              f"model load {load_s:.2f} s; per task: {detail}")


if __name__ == "__main__":
    main()
