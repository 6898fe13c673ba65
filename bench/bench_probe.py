"""The PEARL probe across SIMD kernels, in float32 (the published recipe's precision) and float64 (the
harness's): the score and epoch count of ppdb and ppdb_filtered for each of torch's kernel paths
(ATEN_CPU_CAPABILITY: avx512, avx2, default = no SIMD), and the time of one training. Different CPUs
take different paths; a score that changes with the path changes between machines.

    .venv/bin/python bench/bench_probe.py [--models GloVe_6B_50d potion-base-8M M2V_MiniLM_output]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

PROBE = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, datasets
from harness.loaders import load_encoder
from harness.mirror import Mirrors, set_offline
from harness.probe import run_probe
from harness.registry import load_registry
set_offline()
mirrors = Mirrors.from_options()
encoder = load_encoder(load_registry().get(sys.argv[1]), mirrors)
for name in ("ppdb", "ppdb_filtered"):
    rows = datasets.load_dataset(str(mirrors.dataset("Lihuchen/pearl_benchmark")), name, split="test").to_list()
    x = np.concatenate([encoder.encode([r["phrase_1"] for r in rows]), encoder.encode([r["phrase_2"] for r in rows])], 1)
    y = np.array([r["label"] == "pos" for r in rows], dtype=np.int64)
    for dtype in ("float32", "float64"):
        start = time.perf_counter()
        r = run_probe(x, y, dtype=dtype)
        print(f"PROBE {name} {dtype} {r.test_accuracy!r} {r.epochs} {time.perf_counter() - start:.1f}", flush=True)
"""
CAPABILITIES = ("avx512", "avx2", "default")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["GloVe_6B_50d", "potion-base-8M", "M2V_MiniLM_output"])
    args = parser.parse_args()
    for model in args.models:
        found: dict[tuple[str, str], list[tuple[str, float, int, float]]] = {}
        for capability in CAPABILITIES:
            env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
            out = subprocess.run([sys.executable, "-c", PROBE, model], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{model} {capability}: {out.stderr[-1500:]}")
            for line in out.stdout.splitlines():
                if line.startswith("PROBE "):
                    _, name, dtype, acc, epochs, seconds = line.split()
                    found.setdefault((name, dtype), []).append((capability, float(acc), int(epochs), float(seconds)))
        for (name, dtype), runs in found.items():
            scores = {f"{100 * acc:.2f}/{ep}" for _, acc, ep, _ in runs}
            simd = {f"{100 * acc:.2f}/{ep}" for cap, acc, ep, _ in runs if cap != "default"}
            detail = ", ".join(f"{cap} {100 * acc:.2f} ({ep} ep, {s:.1f} s)" for cap, acc, ep, s in runs)
            print(f"{model:<20} {name:<14} {dtype}: {len(simd)} result(s) on the SIMD paths, {len(scores)} on all three"
                  f" — {detail}")


if __name__ == "__main__":
    main()
