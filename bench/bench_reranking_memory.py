"""Where a reranking cell's memory goes: mteb's reranking path, stage by stage, on a stand-in at a fraction
(bench/fullsize.py, generated when `--data` lacks it), potion-base-8M (`--model`), evaluated in this process as
`harness run` evaluates a cell. After each stage: the process's resident memory, the peak within the stage, and what
the stage kept per (query, candidate) pair; then the same per pair times the whole split's pairs (mteb's statistics).

    .venv/bin/python bench/bench_reranking_memory.py --data /tmp/fullsize --fraction 0.05 [--task MindSmallReranking]

The stages are marked by wrapping mteb's own functions from outside (loading, the search, pytrec_eval's evaluator,
the metrics); what they compute is unchanged. Linux only (the peak is reset through /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = [
    ("mteb.abstasks.retrieval", "AbsTaskRetrieval.load_data", "loading: corpus, queries, judgements, candidate lists"),
    ("mteb._evaluators.retrieval_evaluator", "RetrievalEvaluator.__call__", "search: each query's candidates scored"),
    ("mteb._evaluators.retrieval_metrics", "pytrec_eval.RelevanceEvaluator", "pytrec_eval: the judgements copied"),
    ("mteb._evaluators.retrieval_metrics", "parse_metrics_from_scores", "pytrec_eval: the run evaluated, parsed"),
    ("mteb._evaluators.retrieval_metrics", "mrr", "mteb's MRR: each query's candidates sorted"),
    ("mteb._evaluators.retrieval_metrics", "evaluate_abstention", "mteb's nAUC"),
]


def memory() -> tuple[float, float]:
    """(resident, peak since the last reset) in GB."""
    figures = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = int(value.split()[0]) / 1024 ** 2
    return figures["VmRSS"], figures["VmHWM"]


class Marks:
    def __init__(self):
        self.rows: list[tuple[str, float, float, float]] = []  # stage, seconds, resident after, peak within
        self.reset()

    @staticmethod
    def reset() -> None:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")

    def wrap(self, fn, label: str):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            before = time.perf_counter()
            self.mark("  (between the stages, up to the next)")
            out = fn(*args, **kwargs)
            resident, peak = memory()
            self.rows.append((label, time.perf_counter() - before, resident, peak))
            self.reset()
            return out
        return wrapper

    def mark(self, label: str) -> None:
        resident, peak = memory()
        self.rows.append((label, 0.0, resident, peak))
        self.reset()


def instrument(marks: Marks) -> None:
    """mteb's stage functions wrapped where mteb looks them up (module attributes, class attributes)."""
    import importlib

    import pytrec_eval

    for module_name, path, label in STAGES:
        module = importlib.import_module(module_name)
        owner_name, _, attribute = path.rpartition(".")
        if owner_name == "pytrec_eval":  # a C class: its constructor wrapped in a function under the same name
            original = pytrec_eval.RelevanceEvaluator
            module.pytrec_eval = type("pytrec_eval", (), {"RelevanceEvaluator": staticmethod(
                marks.wrap(original, label))})
            continue
        owner = getattr(module, owner_name) if owner_name else module
        setattr(owner, attribute, marks.wrap(getattr(owner, attribute), label))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--task", default="MindSmallReranking")
    parser.add_argument("--model", default="potion-base-8M")
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")  # before the hub's libraries read them
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from fullsize import generate, select_tasks

    from harness.loaders import load_encoder
    from harness.mirror import Mirrors
    from harness.plan import mteb_size
    from harness.registry import load_registry

    (task,) = select_tasks([args.task])
    readme = args.data / task.dataset_path / "README.md"
    if not readme.is_file() or f"scaled by {args.fraction}" not in readme.read_text(encoding="utf-8"):
        generate([args.task], args.data, args.fraction, log=print)
    whole = mteb_size(task.spec.name, task.spec.subset).pairs
    pairs = round(whole * args.fraction)
    mirrors = Mirrors(data_dir=args.data, model_dir=ROOT.parent / "shared" / "models")
    marks = Marks()
    encoder = load_encoder(load_registry().get(args.model), mirrors)
    marks.mark("imports, the model loaded")
    instrument(marks)
    outcome = task.evaluate(encoder, mirrors)
    marks.mark("after the cell (its result returned)")
    print(f"{args.task} at {args.fraction} ({pairs:,} of {whole:,} (query, candidate) pairs), {args.model}, "
          f"main score {outcome.scores['test'][0]['main_score']:.5f}")
    print(f"{'stage':58s} {'s':>7} {'GB after':>9} {'peak in':>8} {'kept/pair':>10} {'x whole':>8}")
    # growth per pair from the start of the loading on (before it: the task made, mteb's modules imported)
    for (label, seconds, resident, peak), last in zip(marks.rows, [None, None] + [row[2] for row in marks.rows[1:]]):
        kept, grown = ("", "") if last is None else \
            (f"{(resident - last) * 1024 ** 3 / pairs:.0f} B", f"{(resident - last) * whole / pairs:+.1f} GB")
        print(f"{label:58s} {seconds:>7.1f} {resident:>9.2f} {peak:>8.2f} {kept:>10} {grown:>8}")
    peak = max(row[3] for row in marks.rows)
    print(f"peak {peak:.2f} GB at {args.fraction}; the resident growth of every stage up to the peak, times the whole "
          f"split's pairs over these: {peak + (peak - marks.rows[1][2]) * (whole / pairs - 1):.1f} GB for the whole")


if __name__ == "__main__":
    main()
