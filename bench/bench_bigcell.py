"""A big cell: potion-base-8M on a 1,000,000-passage MSMARCO-shaped corpus with its test split's 43 queries
(bench/fullsize.py, seeded, in a temporary folder), run by the code of a git revision ("before") and by the
working tree ("after", at the default --jobs and at --jobs 1), each in a fresh process with an empty cache,
alternating, median of --runs: wall time, peak RSS of the process tree, CPU %, and whether each run's
`scores` equal the first "before" run's. Target: after at the default --jobs <= 90 s (from 175 s).
`--task` takes another retrieval task's shape (its test split's queries, or --queries; e.g. HotpotQA's 7,405,
where scoring the queries is a large part of each chunk). The MSMARCO cell is also written to the plan's
calibration (`--no-calibrate`: not).

    .venv/bin/python bench/bench_bigcell.py [--before f7ce259] [--runs 3] [--passages 1000000] [--task MSMARCO]
        [--queries N] [--no-calibrate]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_FOLDER = "minishlab__potion-base-8M"


def run_once(code: Path, data: Path, models: Path, jobs: int | None, work: Path,
             task: str = "MSMARCO") -> tuple[float, float, float, dict]:
    """One `harness run` of the code in `code`: (wall s, peak RSS MiB, CPU %, result document)."""
    results, home = work / "results", work / "home"
    env = {**os.environ, "HOME": str(home), "HARNESS_CACHE_DIR": str(home / "harness"), "PYTHONPATH": str(code)}
    env.pop("HARNESS_JOBS", None)
    cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--no-progress", "-m", "potion-base-8M", "-t",
           task, "--data-dir", str(data), "--model-dir", str(models), "--results-dir", str(results)]
    cmd += ["--jobs", str(jobs)] if jobs else []
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run of {code} failed: {child.stderr.read()[-2000:]}")
    (path,) = results.glob(f"{MODEL_FOLDER}/*/{task}.json")
    cpu = 100 * (usage.ru_utime + usage.ru_stime) / wall
    return wall, usage.ru_maxrss / 1024, cpu, json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="f7ce259", help="git revision of the code before (default f7ce259)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--task", default="MSMARCO", help="a retrieval task whose shape the stand-in takes")
    parser.add_argument("--queries", type=int, help="queries (default: 43 for MSMARCO, else the test split's)")
    parser.add_argument("--no-calibrate", action="store_true", help="do not write the plan's calibration row")
    args = parser.parse_args()
    asked = args.queries or (43 if args.task == "MSMARCO" else None)  # None: the task's own test queries
    sys.path.insert(0, str(ROOT / "bench"))
    from fullsize import generate

    models = ROOT.parent / "shared" / "models"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate([args.task], tmp / "data",
                 counts={args.task: {"documents": args.passages, **({"queries": asked} if asked else {})}})
        folder = next((tmp / "data").rglob("corpus.jsonl.gz")).parent
        chars, queries = texts(folder)
        before = tmp / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(before), args.before], cwd=ROOT, check=True)
        try:
            variants = {f"before ({args.before}, default jobs)": (before, None), "after (default jobs)": (ROOT, None),
                        "after (--jobs 1)": (ROOT, 1)}
            figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
            reference, same = None, {name: True for name in variants}
            cells: list[dict] = []
            for run in range(args.runs):
                for name, (code, jobs) in variants.items():
                    with tempfile.TemporaryDirectory(dir=tmp) as work:
                        wall, rss, cpu, doc = run_once(code, tmp / "data", models, jobs, Path(work), args.task)
                    reference = doc["scores"] if reference is None else reference
                    same[name] = same[name] and doc["scores"] == reference
                    figures[name].append((wall, rss, cpu))
                    if code == ROOT and jobs is None:
                        cells.append(doc)
                    print(f"  run {run + 1} {name}: {wall:.1f} s, {rss:.0f} MiB, CPU {cpu:.0f} %", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    print(f"potion-base-8M, {args.task}-shaped, {args.passages:,} passages ({chars:,} characters), {queries:,} "
          f"queries; median of {args.runs}:")
    for name, rows in figures.items():
        wall, rss, cpu = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"  {name:32s} {wall:7.1f} s  {rss:7.0f} MiB peak  CPU {cpu:4.0f} %  scores identical: {same[name]}")
    if args.task == "MSMARCO" and queries == 43 and not args.no_calibrate:
        calibrate(cells, args.passages, chars)


def texts(folder: Path) -> tuple[int, int]:
    """Characters of the texts in a retrieval folder's corpus and queries (what mteb's statistics count), and the
    number of queries written."""
    import gzip

    total = queries = 0
    for name in ("corpus.jsonl.gz", "queries.jsonl.gz"):
        with gzip.open(folder / name, "rt", encoding="utf-8") as fh:
            lengths = [len(json.loads(line)["text"]) for line in fh]
        total += sum(lengths)
        queries = len(lengths)  # the queries file is read last
    return total, queries


def calibrate(cells: list[dict], passages: int, chars: int) -> None:
    """The after-run cells (default jobs) as one calibration row of `harness run --plan`'s cost model: the
    cell's median evaluation time and peak memory at this size, on this machine."""
    from datetime import date

    from common import write_calibration

    from harness.plan import CALIBRATION
    from harness.speed import hardware

    row = {"loader": "model2vec", "family": "static", "model": "potion-base-8M", "task": "MSMARCO",
           "texts": passages + 43, "chars": chars, "queries": 43, "documents": passages,
           "seconds": round(statistics.median(c["evaluation_time"] for c in cells), 1),
           "peak_gb": round(statistics.median(c["harness"]["peak_rss_mb"] for c in cells) / 1024, 2),
           "cpu": hardware()["cpu"], "cores": os.cpu_count(), "date": date.today().isoformat(),
           "source": f"bench/bench_bigcell.py --passages {passages}"}
    write_calibration([row], lambda r: r["source"] == row["source"])
    print(f"calibration: {row['seconds']} s, {row['peak_gb']} GB for {chars:,} characters -> {CALIBRATION}")


if __name__ == "__main__":
    main()
