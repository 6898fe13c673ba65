"""Distillation: each MiniLM-teacher variant builds in <= 60 s and reloads from the cache in <= 2 s.
Builds into a fresh temporary cache so every variant is really distilled.

    .venv/bin/python bench/bench_distill.py
"""

from __future__ import annotations

import os
import tempfile
import time

from harness.mirror import Mirrors, set_offline
from harness.registry import load_registry


def main() -> None:
    set_offline()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HARNESS_CACHE_DIR"] = cache
        from harness.distill import build
        from harness.loaders import load_encoder as load_distilled

        for spec in load_registry():
            if not spec.name.startswith("M2V_MiniLM"):
                continue
            t = time.perf_counter()
            build(spec, Mirrors())
            built = time.perf_counter() - t
            t = time.perf_counter()
            load_distilled(spec, Mirrors())
            reload = time.perf_counter() - t
            print(f"{spec.name}: distil {built:.1f} s (target <= 60: {'OK' if built <= 60 else 'OVER'}), "
                  f"cached reload {reload:.2f} s (target <= 2: {'OK' if reload <= 2 else 'OVER'})")


if __name__ == "__main__":
    main()
