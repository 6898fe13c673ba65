"""Cost of the data fingerprints: hashing each offline dataset folder (cold, once per process; target
<= 1 s per task) and a static model's whole offline run with and without fingerprints and the
content-keyed datasets cache, in fresh processes, alternating, median of `--runs` (target: <= 5 %).

    .venv/bin/python bench/bench_fingerprint.py [--model GloVe_6B_50d] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

RUN = """
import contextlib, sys, time
import harness.data as data
if sys.argv[3] == "off":  # the harness before fingerprints: no hashing, datasets' own cache
    data.fingerprint = lambda folder, data_dir=None: None
    data.content_keyed_cache = lambda source: contextlib.nullcontext()
    import harness.tasks.mteb_tasks as m, harness.tasks.pearl as p
    m.content_keyed_cache = p.content_keyed_cache = data.content_keyed_cache
from harness.cli import main
start = time.perf_counter()
code = main(["run", "--offline", "--available-only", "--no-progress", "--jobs", "1", "--probe-seeds", "0",
             "--results-dir", sys.argv[2], "-m", sys.argv[1], "-t", "MTEB", "PEARL", "WordSim"])
print(f"RUN {time.perf_counter() - start:.2f} {code}")
"""

HASH = """
import time
from harness.mirror import Mirrors
from harness.data import fingerprint
from harness.tasks import Catalogue
mirrors = Mirrors.from_options()
seen = {}
for task in Catalogue().tasks.values():
    source = getattr(task, "dataset_path", None) or ("Lihuchen/pearl_benchmark" if task.spec.benchmark == "PEARL" else "wordsim")
    folder = mirrors.dataset(source)
    if folder is None or folder in seen:
        continue
    start = time.perf_counter()
    fp = fingerprint(folder, mirrors.data_dir)
    seen[folder] = (time.perf_counter() - start, fp.bytes)
for folder, (seconds, size) in sorted(seen.items(), key=lambda kv: -kv[1][0]):
    print(f"HASH {seconds:.3f} {size} {folder}")
"""


def run(model: str, mode: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", RUN, model, out, mode], capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RUN ")), None)
    if line is None:
        sys.exit(f"run failed: {done.stderr[-2000:]}")
    return float(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="GloVe_6B_50d")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    hashed = subprocess.run([sys.executable, "-c", HASH], capture_output=True, text=True, check=True).stdout
    rows = [line.split(maxsplit=3)[1:] for line in hashed.splitlines() if line.startswith("HASH ")]
    print(f"fingerprint per dataset folder, cold (fresh process): max {max(float(r[0]) for r in rows):.3f} s, "
          f"total {sum(float(r[0]) for r in rows):.3f} s over {len(rows)} folders (target <= 1 s per task)")
    for seconds, size, folder in rows[:5]:
        print(f"  {float(seconds):.3f} s  {int(size) / 1e6:6.2f} MB  {folder}")
    walls: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.runs):
        for mode in walls:
            walls[mode].append(run(args.model, mode))
            print(f"  fingerprints {mode}: {walls[mode][-1]:.1f} s", flush=True)
    off, on = statistics.median(walls["off"]), statistics.median(walls["on"])
    print(f"{args.model} on every offline task (probe seeds 0): without fingerprints {off:.1f} s, with {on:.1f} s "
          f"(median of {args.runs}): {100 * (on - off) / off:+.1f} % (target <= 5 %)")


if __name__ == "__main__":
    main()
