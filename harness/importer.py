"""`harness import`: published mteb results (any mteb version) into the results store.

Reads a folder laid out like the public results repository — `<org__model>/<revision>/<Task>.json`,
including `external/` folders taken from model cards — with mteb's own `TaskResult.from_disk`,
which understands files of every mteb version (2.x, 1.x, before 1.11 without `mteb_version`, and
the pre-1.0 score layouts). Only the protocol's tasks are taken (plus the CQADupstackRetrieval
aggregate, which the tables use only when the 12 subsets are missing). Each file is written in
mteb's current schema with a `harness.imported_from` block naming the original file and version.
Files already imported are left alone unless `overwrite`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness.errors import ResultsError
from harness.results import ResultStore, null_non_finite, write_json_atomic, write_text_atomic
from harness.summary import CQADUPSTACK_AGGREGATE, NOT_RESULTS, Dataset


@dataclass
class ImportReport:
    imported: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    not_in_protocol: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def models(self) -> set[str]:
        return {p.parent.parent.name for p in self.imported + self.skipped_existing}


def import_results(source: str | Path, results_dir: str | Path, datasets: list[Dataset],
                   overwrite: bool = False) -> ImportReport:
    """Import every protocol task file under `source` into `results_dir`."""
    from mteb.results import TaskResult

    source = Path(source)
    if not source.is_dir():
        raise ResultsError(f"import: '{source}' is not a folder of mteb results (<org__model>/<revision>/<Task>.json)")
    wanted = {t for d in datasets for t in d.tasks} | {CQADUPSTACK_AGGREGATE}
    store = ResultStore(results_dir)
    report = ImportReport()
    for path in sorted(source.rglob("*.json")):
        if path.name in NOT_RESULTS:
            continue
        if path.stem not in wanted:
            report.not_in_protocol += 1
            continue
        rev_dir, model_dir = path.parent, path.parent.parent
        if model_dir == source.parent or rev_dir == source:
            report.errors.append(f"{path}: not inside <org__model>/<revision>/; skipped")
            continue
        target = store.root / model_dir.name / rev_dir.name / path.name
        if target.exists() and not overwrite:
            report.skipped_existing.append(target)
            continue
        try:
            result = TaskResult.from_disk(path)
        except Exception as exc:  # a foreign file that mteb cannot read is reported, the rest go on
            first = str(exc).splitlines()[0] if str(exc) else ""
            report.errors.append(f"{path}: not a readable mteb result ({type(exc).__name__}: {first})")
            continue
        doc, nulled = null_non_finite(result.to_dict(), "doc")
        doc["harness"] = {"version": harness.__version__, "imported_from": str(path),
                          "original_mteb_version": _original_version(path),
                          "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "non_finite_as_null": nulled}
        write_json_atomic(target, doc)
        report.imported.append(target)
        meta = rev_dir / "model_meta.json"
        if meta.is_file() and not (target.parent / "model_meta.json").exists():
            write_text_atomic(target.parent / "model_meta.json", meta.read_text(encoding="utf-8"))
    return report


def _original_version(path: Path) -> str | None:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8")).get("mteb_version")
    except (OSError, ValueError):
        return None
