"""The full row at its true size: a model on every MTEB(eng, v1) dataset (CQADupstack as its 12 parts), each
cell as its own `harness run` in a fresh process on full-size stand-ins (bench/fullsize.py), one after another;
per cell wall time, peak RSS of the process tree, CPU %, and the cell's own evaluation time and peak memory,
appended to a CSV as each cell ends (a rerun measures only the cells the CSV lacks). The sum of the cells is
the row's wall time one cell after another. Scores on stand-ins mean nothing.

    .venv/bin/python bench/bench_fullrow.py --data /tmp/fullsize --csv /tmp/fullrow.csv [--model potion-base-8M]
        [--fraction 1.0] [--tasks NAME...] [--largest-first] [--calibrate] [--measured-only] [--cache DIR]

Each cell has a HOME of its own; the harness cache is the row's (`--cache`, default a temporary folder for the
invocation), as in a user's run: ClimateFEVER measured after FEVER takes FEVER's kept embeddings (`taken` in the
CSV and the calibration). A dataset `--data` lacks is generated (seeded) just before its
cell. `--calibrate` adds the measured cells to `harness/reference/cell_costs.csv`, the calibration of `harness run
--plan`, at the size measured (a fraction's cells too: MindSmallReranking's at several fractions price a reranking
pair, its whole split being beyond this machine's memory); `--measured-only` measures nothing (for a row stopped
part-way: the cells the CSV holds). At the end the CSV's cells are listed next to the evaluation times of the
model's published result files, where the data mirror has them, with the CPU seconds each took (wall time x CPU %,
which another load on the machine changes less than the wall time).

`--whole [--jobs N]` runs the row instead as a user would: one `harness run --offline --available-only -m MODEL -t
TASKS [--jobs N]` over the data folder (the datasets it holds; default tasks: MTEB), in a fresh process. It prints
the run's own projection line, each cell's evaluation time and peak (its result file), and the run's wall time, CPU %
and peak memory: the process tree's resident memory summed, sampled every second (pages processes share counted once
in each: an upper bound), and the machine's memory in use (MemTotal - MemAvailable) above what it was before the
run. `--csv` gets one row per cell (WHOLE_FIELDS), the run's figures repeated in each; `--results DIR` keeps the
run's result files (each cell given its share of the cores beside the others: what a later plan makes of them).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["model", "loader", "family", "task", "fraction", "texts", "chars", "wall_s", "cell_s", "peak_rss_gb",
          "cell_peak_gb", "cpu_percent", "status", "taken", "cpu", "cores", "date", "cell_cpu_s"]
"""`taken`: documents whose embeddings the cell took from a corpus another cell of the row kept."""
WHOLE_FIELDS = ["model", "task", "jobs", "cell_s", "cell_peak_gb", "cell_cpu_s", "run_wall_s", "run_cpu_percent",
                "run_tree_peak_gb", "run_machine_peak_gb", "run_cells", "cpu", "cores", "date"]


def measure(model: str, task: str, data: Path, work: Path, cache: Path) -> dict:
    """One cell in a fresh process: wall, peak RSS of the process tree, CPU %, the cell's own figures. The
    harness's cache (`cache`) is the row's: what one cell keeps for another (a shared corpus's embeddings) is
    there, as in a user's run of the row."""
    results, home = work / "results", work / "home"
    env = {**os.environ, "HOME": str(home), "HARNESS_CACHE_DIR": str(cache), "HARNESS_JOBS": "1"}
    cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--no-progress", "-m", model, "-t", task,
           "--data-dir", str(data), "--model-dir", str(ROOT.parent / "shared" / "models"), "--results-dir",
           str(results)]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    files = list(results.glob(f"*/*/{task}.json"))
    doc = json.loads(files[0].read_text()) if files else None
    return {"wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 1024 ** 2, 2),
            "cpu_percent": round(100 * (usage.ru_utime + usage.ru_stime) / wall),
            **(cell_figures(doc) if doc else dict.fromkeys(("cell_s", "cell_peak_gb", "cell_cpu_s"), "")),
            "taken": doc["harness"]["data"].get("shared_corpus", {}).get("taken", 0) if doc else "",
            "status": "done" if doc and os.waitstatus_to_exitcode(status) == 0 else
            f"failed: {child.stderr.read().strip().splitlines()[-1:]}"}


def cell_figures(doc: dict) -> dict:
    """A result file's own figures of its cell: evaluation time, peak memory, CPU time (empty before it recorded it)."""
    return {"cell_s": round(doc["evaluation_time"], 1), "cell_peak_gb": round(doc["harness"]["peak_rss_mb"] / 1024, 2),
            "cell_cpu_s": doc["harness"].get("cpu_seconds", "")}


def published_times(model_id: str) -> dict[str, float]:
    """The model's published per-task evaluation times (the data mirror's copy of mteb's results)."""
    folder = ROOT.parent / "shared" / "data" / "mteb-results" / "results" / model_id.replace("/", "__")
    times = {}
    for path in folder.glob("*/*.json"):
        try:
            doc = json.loads(path.read_text())
            times[doc["task_name"]] = float(doc["evaluation_time"])
        except (ValueError, KeyError, TypeError):
            continue
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--model", default="potion-base-8M")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--tasks", nargs="+")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--largest-first", action="store_true", help="measure the largest datasets first")
    parser.add_argument("--measured-only", action="store_true",
                        help="measure nothing: list (and with --calibrate, calibrate on) what the CSV holds")
    parser.add_argument("--whole", action="store_true", help="the row as one `harness run` (--jobs)")
    parser.add_argument("--jobs", type=int, help="with --whole: harness run's --jobs (default: the harness's)")
    parser.add_argument("--results", type=Path, help="with --whole: the run's results folder, kept (default: a "
                        "temporary one); a later `harness run --plan --results-dir` reads its cells")
    parser.add_argument("--cache", type=Path, help="the harness cache the row's cells share (default: a temporary "
                        "folder for this invocation; FEVER's kept embeddings serve ClimateFEVER there)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from fullsize import generate, select_tasks

    from harness.plan import mteb_size
    from harness.registry import load_registry

    spec = load_registry().get(args.model)
    if args.whole:
        return whole(args, spec)
    tasks = select_tasks(args.tasks)
    if args.largest_first:
        tasks = sorted(tasks, key=lambda t: -getattr(mteb_size(t.spec.name, t.spec.subset), "chars", 0))
    done = {(r["model"], r["task"], float(r["fraction"])) for r in _rows(args.csv) if r["status"] == "done"}
    row_cache = tempfile.TemporaryDirectory(prefix="fullrow-cache-")
    cache = args.cache or Path(row_cache.name)
    for task in [] if args.measured_only else tasks:
        name = task.spec.name
        if (spec.name, name, args.fraction) in done:
            continue
        if not (args.data / task.dataset_path / "README.md").is_file():  # generated just before it is measured
            generate([name], args.data, args.fraction, log=print)
        with tempfile.TemporaryDirectory() as work:
            row = cell_row(spec, task, args.fraction, measure(spec.name, name, args.data, Path(work), cache), args.data)
        _append(args.csv, row)
        print(f"{name:40s} {row['wall_s']:>8} s wall {row['cell_s']:>8} s cell {row['peak_rss_gb']:>6} GB "
              f"{row['cpu_percent']:>4} % CPU  {row['status']}", flush=True)
    row_cache.cleanup()
    report(args, spec, tasks)


def tree_rss_gb(root: int) -> float:
    """Resident memory of `root` and its descendants, summed (Linux /proc)."""
    parents, rss = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            parents[int(proc.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            rss[int(proc.name)] = int((proc / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(frontier)
    return sum(rss.get(pid, 0) for pid in tree) * os.sysconf("SC_PAGE_SIZE") / 1024 ** 3


def machine_used_gb() -> float:
    """MemTotal - MemAvailable."""
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) / 1024 ** 2


def whole(args, spec) -> None:
    """The row as one `harness run` (module docstring)."""
    import threading

    from harness.plan import duration
    from harness.speed import hardware

    if args.csv.is_file():
        sys.exit(f"{args.csv}: exists; --whole writes a CSV of its own (WHOLE_FIELDS): give another --csv")
    with tempfile.TemporaryDirectory(prefix="fullrow-whole-") as work:
        results, home = args.results or Path(work) / "results", Path(work) / "home"
        cache = args.cache or Path(work) / "cache"
        env = {**os.environ, "HOME": str(home), "HARNESS_CACHE_DIR": str(cache)}
        cmd = [sys.executable, "-m", "harness.cli", "run", "--offline", "--available-only", "--no-progress", "-m",
               spec.name, "-t", *(args.tasks or ["MTEB"]), "--data-dir", str(args.data), "--model-dir",
               str(ROOT.parent / "shared" / "models"), "--results-dir", str(results)]
        cmd += ["--jobs", str(args.jobs)] if args.jobs else []
        baseline, peaks, stop = machine_used_gb(), {"tree": 0.0, "machine": 0.0}, threading.Event()
        start = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def sample() -> None:
            while not stop.wait(1.0):
                peaks["tree"] = max(peaks["tree"], tree_rss_gb(child.pid))
                peaks["machine"] = max(peaks["machine"], machine_used_gb() - baseline)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in child.stdout:
            print(line, end="", flush=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
        docs = [doc for doc in (json.loads(path.read_text()) for path in sorted(results.glob("*/*/*.json")))
                if "task_name" in doc and "evaluation_time" in doc]
    run = {"jobs": args.jobs or "default", "run_wall_s": round(wall, 1),
           "run_cpu_percent": round(100 * (usage.ru_utime + usage.ru_stime) / wall),
           "run_tree_peak_gb": round(peaks["tree"], 2), "run_machine_peak_gb": round(peaks["machine"], 2),
           "run_cells": len(docs), "cpu": hardware()["cpu"], "cores": os.cpu_count(), "date": date.today().isoformat()}
    rows = [{"model": spec.name, "task": doc["task_name"], **cell_figures(doc), **run} for doc in docs]
    with open(args.csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=WHOLE_FIELDS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: -r["cell_s"]))
    print(f"\n{spec.name}: {len(docs)} cells in one `harness run` (--jobs {run['jobs']}), exit "
          f"{os.waitstatus_to_exitcode(status)}: {duration(wall)} wall, {run['run_cpu_percent']} % CPU, peak "
          f"{run['run_tree_peak_gb']} GB (process tree, summed), {run['run_machine_peak_gb']} GB (machine, above the "
          f"{baseline:.1f} GB in use before); the cells' own times sum to "
          f"{duration(sum(r['cell_s'] for r in rows))}; largest cell peak "
          f"{max((r['cell_peak_gb'] for r in rows), default=0)} GB -> {args.csv}")


def cell_row(spec, task, fraction: float, figures: dict, data: Path) -> dict:
    """A CSV row: the cell (model, loader kind, task, the stand-in's texts and characters: mteb's statistics at full
    size, counted in the stand-in's files at a fraction), its measured figures (`measure`) and the hardware."""
    from fullsize import standin_size

    from harness.plan import mteb_size
    from harness.speed import hardware

    size = mteb_size(task.spec.name, task.spec.subset)
    texts, chars = ((size.texts, size.chars) if size else ("", "")) if fraction == 1 else \
        standin_size(data / task.dataset_path)
    return {"model": spec.name, "loader": spec.loader, "family": spec.family, "task": task.spec.name,
            "fraction": fraction, "texts": texts, "chars": chars, **figures, "cpu": hardware()["cpu"],
            "cores": os.cpu_count(), "date": date.today().isoformat()}


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _append(path: Path, row: dict) -> None:
    """One row more; a CSV of an earlier version of this benchmark (other columns) is rewritten with these."""
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        if header != FIELDS:
            rows = _rows(path)
            with open(path, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=FIELDS, restval="")
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def report(args, spec, tasks) -> None:
    rows = {r["task"]: r for r in _rows(args.csv) if r["model"] == spec.name and float(r["fraction"]) == args.fraction}
    published = published_times(spec.id)
    measured = [rows[t.spec.name] for t in tasks if t.spec.name in rows]
    print(f"\n{spec.name}, fraction {args.fraction}: {len(measured)} of {len(tasks)} cells measured")
    print(f"{'task':40s} {'wall s':>9} {'CPU s':>9} {'peak GB':>8} {'CPU %':>6} {'published s':>12}")
    for row in measured:
        cpu_s = float(row["wall_s"]) * float(row["cpu_percent"]) / 100
        print(f"{row['task']:40s} {row['wall_s']:>9} {cpu_s:>9.0f} {row['peak_rss_gb']:>8} {row['cpu_percent']:>6} "
              f"{published.get(row['task'], float('nan')):>12.0f}")
    total = sum(float(r["wall_s"]) for r in measured)
    print(f"sum of the cells: {total / 3600:.2f} h wall one cell after another; largest peak "
          f"{max((float(r['peak_rss_gb']) for r in measured), default=0):.1f} GB; published evaluation times of the "
          f"same tasks: {sum(published.get(r['task'], 0) for r in measured) / 3600:.2f} h")
    if args.calibrate:  # a fraction's cells too: their own size is recorded (MindSmallReranking cannot run whole here)
        calibrate(measured)


def search_shape(task: str, fraction: float) -> dict:
    """The queries and corpus documents of a retrieval stand-in as bench/fullsize.py writes it, and a reranking
    stand-in's (query, candidate) pairs (0 elsewhere)."""
    from fullsize import scale

    from harness.plan import SPLIT_QUERIES, mteb_size
    from harness.tasks import Catalogue

    size = mteb_size(task, Catalogue().tasks[task].spec.subset)
    pairs = {"pairs": scale(size.pairs, fraction) if size is not None and size.pairs else 0}
    if size is None or not size.documents:
        return {"queries": 0, "documents": 0, **pairs}
    return {"queries": SPLIT_QUERIES.get(task) or scale(size.queries, fraction),
            "documents": scale(size.documents, fraction), **pairs}


def calibrate(measured: list[dict], source: str = "bench/bench_fullrow.py") -> None:
    """The measured cells into `harness/reference/cell_costs.csv` (replacing this benchmark's earlier rows of the
    same model, task, size and `taken`). A cell that took another's kept corpus (`taken` documents) is no cell on
    its own: the plan takes from it only the saving against the same cell on its own. `cpu_seconds`: the cell's own
    CPU time (its result file's), else the process's CPU % times the cell's seconds (a CSV of a version before
    result files recorded it; the process's start-up included)."""
    from common import write_calibration

    from harness.plan import CALIBRATION

    rows = [{"loader": r["loader"], "family": r["family"], "model": r["model"], "task": r["task"],
             "texts": r["texts"], "chars": r["chars"], **search_shape(r["task"], float(r["fraction"])),
             "seconds": r["cell_s"], "peak_gb": r["cell_peak_gb"], "taken": int(r.get("taken") or 0),
             "cpu_seconds": r.get("cell_cpu_s") or round(float(r["cpu_percent"]) * float(r["cell_s"]) / 100, 1),
             "cpu": r["cpu"], "cores": r["cores"], "date": r["date"], "source": source}
            for r in measured if r["status"] == "done" and r["chars"]]

    def key(r: dict) -> tuple:
        return r["model"], r["task"], str(r["chars"]), bool(int(r.get("taken") or 0)), r["source"]

    keys = {key(r) for r in rows}
    write_calibration(rows, lambda r: key(r) in keys)
    print(f"calibration: {len(rows)} cells -> {CALIBRATION}")


if __name__ == "__main__":
    main()
