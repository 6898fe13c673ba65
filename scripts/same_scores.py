"""Compare the `scores` of every task result file two results folders both hold (e.g. a rerun of the offline
grid against the committed results/): prints, per model folder, how many files are identical and names each
file whose scores differ, with the largest difference in its main score. Exit code 1 when any differ.

    .venv/bin/python scripts/same_scores.py results /tmp/rerun [--ignore-keys evaluation_time ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VOLATILE = {"evaluation_time", "kg_co2_emissions"}
"""Keys inside `scores` that measure the run, not the model."""


def _clean(value, ignore: set[str]):
    if isinstance(value, dict):
        return {k: _clean(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_clean(v, ignore) for v in value]
    return value


def _main_scores(scores: dict) -> list[float]:
    return [entry.get("main_score") for split in scores.values() for entry in split if isinstance(entry, dict)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--ignore-keys", nargs="*", default=sorted(VOLATILE))
    args = parser.parse_args(argv)
    ignore = set(args.ignore_keys)
    differ = 0
    for folder in sorted(p for p in args.other.glob("*/*") if p.is_dir()):
        same, changed = 0, []
        for path in sorted(folder.glob("*.json")):
            twin = args.reference / path.relative_to(args.other)
            if path.name == "model_meta.json" or not twin.is_file():
                continue
            mine, theirs = (json.loads(p.read_text()).get("scores") for p in (path, twin))
            if _clean(mine, ignore) == _clean(theirs, ignore):
                same += 1
                continue
            gap = max((abs(a - b) for a, b in zip(_main_scores(mine), _main_scores(theirs))
                       if isinstance(a, float) and isinstance(b, float)), default=float("nan"))
            changed.append(f"{path.stem} (main score differs by up to {gap:.2e})")
        if same or changed:
            print(f"{folder.relative_to(args.other)}: {same} identical, {len(changed)} different"
                  + "".join(f"\n  differs: {c}" for c in changed))
        differ += len(changed)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
