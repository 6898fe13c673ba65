"""A corpus two tasks share, encoded once per model: ClimateFEVER on its own (a fresh harness cache: it encodes the
corpus, and keeps it) against ClimateFEVER after FEVER (one cache: it takes the embeddings FEVER kept), each cell
a fresh `harness run` on full-size stand-ins (bench/fullsize.py) or a fraction of them; per cell wall time, peak
RSS, CPU %, the documents taken and encoded, the store's size on disk, and whether the two ClimateFEVER results
have the same `scores`. Scores on stand-ins mean nothing; their sameness does. `--calibrate` adds the two
ClimateFEVER cells to `harness/reference/cell_costs.csv`: the pair gives `harness run --plan` the share of a
cell's time a kept corpus saves, per character (`harness.plan.CostModel.kept_share`).

    .venv/bin/python bench/bench_shared_corpus.py --data /tmp/fullsize [--fraction 1.0] [--model potion-base-8M]
        [--calibrate]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _size_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="stand-ins (written there when missing)")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--model", default="potion-base-8M")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from bench_fullrow import calibrate, cell_row, measure
    from fullsize import generate

    from harness.registry import load_registry
    from harness.tasks import Catalogue

    spec, catalogue = load_registry().get(args.model), Catalogue()

    for name, repo in (("FEVER", "mteb/fever"), ("ClimateFEVER", "mteb/climate-fever")):
        if not (args.data / repo / "README.md").is_file():
            generate([name], args.data, args.fraction, log=print)
    with tempfile.TemporaryDirectory(prefix="shared-corpus-") as tmp:
        root = Path(tmp)
        cells = [("ClimateFEVER alone", "ClimateFEVER", "alone"), ("FEVER", "FEVER", "row"),
                 ("ClimateFEVER after FEVER", "ClimateFEVER", "row")]
        docs, figures, rows = {}, {}, []
        for label, task, run in cells:
            figures[label] = measure(args.model, task, args.data, root / run, root / run / "cache")
            rows.append(cell_row(spec, catalogue.tasks[task], args.fraction, figures[label], args.data))
            files = list((root / run / "results").glob(f"*/*/{task}.json"))
            docs[label] = json.loads(files[0].read_text()) if files else None
            print(f"{label:26s} {figures[label]['wall_s']:>8} s wall {figures[label]['cell_s']:>8} s cell "
                  f"{figures[label]['peak_rss_gb']:>6} GB {figures[label]['cpu_percent']:>4} % CPU "
                  f"taken {figures[label]['taken']}  {figures[label]['status']}", flush=True)
        for label, doc in docs.items():
            kept = (doc or {}).get("harness", {}).get("data", {}).get("shared_corpus", {})
            print(f"{label:26s} documents taken {kept.get('taken')}, encoded {kept.get('encoded')}")
        for run in ("alone", "row"):
            print(f"store of the {run} run: {_size_gb(root / run / 'cache' / 'embeddings'):.2f} GB on disk")
        alone, after = docs["ClimateFEVER alone"], docs["ClimateFEVER after FEVER"]
        same = alone is not None and after is not None and alone["scores"] == after["scores"]
        saved = figures["ClimateFEVER alone"]["wall_s"] - figures["ClimateFEVER after FEVER"]["wall_s"]
        print(f"ClimateFEVER: {saved:.1f} s less wall time after FEVER; scores identical: {same}")
    if args.calibrate:  # the ClimateFEVER pair (FEVER's cell, of this hardware and size, is no point for the fits)
        calibrate([rows[0], rows[2]], source="bench/bench_shared_corpus.py")


if __name__ == "__main__":
    main()
