"""PEARL, the seven offline datasets: a static model's wall time (target <= 120 s) with per-dataset
times; with --minilm also all-MiniLM-L6-v2's wall time and peak RSS (separate process).

    .venv/bin/python bench/bench_pearl.py [--minilm]
"""

from __future__ import annotations

from common import offline_setup, time_offline_run, time_tasks

from harness.loaders import load_encoder
from harness.registry import load_registry

STATIC = "M2V_MiniLM_output"


def main() -> None:
    mirrors, tasks, with_minilm = offline_setup("PEARL")
    encoder = load_encoder(load_registry().get(STATIC), mirrors)
    wall, times = time_tasks(encoder, tasks, mirrors)
    print(f"{STATIC} (static, model2vec) on {len(tasks)} offline PEARL datasets: {wall:.1f} s "
          f"(target <= 120 s: {'OK' if wall <= 120 else 'OVER'})")
    print("per dataset: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    if with_minilm:
        wall, rss = time_offline_run("all-MiniLM-L6-v2", "PEARL")
        print(f"all-MiniLM-L6-v2 on the offline PEARL datasets: wall {wall:.0f} s, peak RSS {rss:.0f} MiB")

if __name__ == "__main__":
    main()
