"""mteb's classification undersampling, read by read: what one training label costs at a given training size.

mteb's `AbsTaskClassification._undersample_data` reads the training labels one index at a time
(`labels = dataset[label_column]; labels[i]`), over every training row, once per experiment (10 by default). With
datasets >= 4, `dataset[column]` is a lazy `Column`: each `labels[i]` builds a one-column table over all of the
split's Arrow record batches (1,000 rows each as `datasets.load_dataset` writes them), so a read costs more the
larger the split, and the whole undersampling grows with the square of the training rows (AmazonPolarity's 3.6 M
rows: ~36 M reads). This measures the cost of a read through mteb's own method, for each classification
dataset of MTEB(eng, v1), on a split of its training rows and mean text length (mteb's statistics) laid out as
`load_dataset` lays it out (a JSON Lines file, the mirror's form; the hub's Parquet is rewritten the same way):
Arrow batches of 1,000 rows, and files of 500 MB (a read goes through every batch of every file).

    .venv/bin/python bench/bench_label_reads.py [--tasks NAME...] [--reads 2000] [--calibrate]

Prints, per task, training rows, Arrow batches and files, microseconds per read (median of 3 timings of `--reads`
random indices) and what the reads of its experiments come to; `--calibrate` writes them to
`harness/reference/label_reads.csv`, which `harness run --plan` uses to charge a classification cell's
undersampling (harness/plan.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def split_of(rows: int, chars: int, folder: Path):
    """A split of `rows` rows of `chars`-character texts and labels, loaded by `datasets.load_dataset` from a JSON
    Lines file in `folder` (its cache there)."""
    import datasets

    path = folder / "train.jsonl"
    text = "t" * chars
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(f'{{"text": "{text}", "label": {i % 2}}}\n' for i in range(rows))
    return datasets.load_dataset("json", data_files={"train": str(path)}, cache_dir=str(folder / "cache"))["train"]


def training_split(task, subset: str) -> tuple[int, int]:
    """(rows, mean characters) of the training split mteb undersamples, from its statistics (the subset's)."""
    from harness.plan import subset_stats

    train = subset_stats(task.metadata.descriptive_stats[task.train_split], subset)
    return int(train["num_samples"]), round(train["text_statistics"]["total_text_length"] / train["num_samples"])


def seconds_per_read(task, split, reads: int, repeats: int = 3) -> float:
    """Median over `repeats` of mteb's `_undersample_data` on `reads` random indices, per index."""
    rng = np.random.default_rng(0)
    timings = []
    for _ in range(repeats):
        idxs = [int(i) for i in rng.integers(0, len(split), reads)]
        start = time.perf_counter()
        task._undersample_data(split, 0, idxs)
        timings.append((time.perf_counter() - start) / reads)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", help="classification tasks (default: those of MTEB(eng, v1))")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import datasets
    import mteb

    from harness.plan import LABEL_READS
    from harness.speed import hardware
    from harness.tasks import Catalogue

    tasks = [t for t in Catalogue().select(["Classification"]) if not args.tasks or t.spec.name in args.tasks]
    cpu = hardware()["cpu"]
    out = []
    print(f"datasets {datasets.__version__}, mteb {mteb.__version__}, {cpu}")
    print(f"{'task':36s} {'rows':>10} {'chars':>6} {'batches':>8} {'files':>6} {'us/read':>9} {'all reads':>10}")
    for entry in tasks:
        task = mteb.get_task(entry.spec.name)
        rows, chars = training_split(task, entry.spec.subset)
        with tempfile.TemporaryDirectory() as tmp:
            split = split_of(rows, chars, Path(tmp))
            batches, files = split.data.table.column("label").num_chunks, len(split.cache_files)
            per_read = seconds_per_read(task, split, min(args.reads, rows))
            del split
        total = per_read * rows * task.n_experiments
        print(f"{entry.spec.name:36s} {rows:>10,} {chars:>6} {batches:>8,} {files:>6} {per_read * 1e6:>9.1f} "
              f"{total / 60:>8.1f} min", flush=True)
        out.append({"task": entry.spec.name, "rows": rows, "chars": chars, "batches": batches, "files": files,
                    "seconds_per_read": f"{per_read:.3g}", "datasets": datasets.__version__, "mteb": mteb.__version__,
                    "cpu": cpu, "cores": os.cpu_count(), "date": date.today().isoformat()})
    if args.calibrate:
        with open(LABEL_READS, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(out[0]))
            writer.writeheader()
            writer.writerows(out)
        print(f"calibration: {len(out)} tasks -> {LABEL_READS}")


if __name__ == "__main__":
    main()
