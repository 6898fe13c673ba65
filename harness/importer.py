"""`harness import`: published mteb results (any mteb version) into a published store, kept apart from
computed results.

Reads a folder laid out like the public results repository — `<org__model>/<revision>/<Task>.json`,
including `external/` folders taken from model cards — with the same reader as the report (mteb's
own `TaskResult.from_disk`, which understands files of every mteb version). Per model and task, the
file chosen is the one the tables would use; it is written in mteb's current schema with its
`main_score` set to the protocol's metric (the file's own, when different, is kept in the note), and
a `harness` block naming the original file. Unreadable files, tasks outside the catalogue and
tasks found in several revision folders are each named in one line; the rest is imported.
Files already imported are left alone unless `overwrite`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness.errors import ResultsError
from harness.results import (
    MODEL_META, FolderReading, ScoreRecord, TaskKey, folder_name, null_non_finite, read_folder, write_json_atomic,
    write_text_atomic,
)


@dataclass
class ImportReport:
    imported: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    reading: FolderReading | None = None

    @property
    def models(self) -> list[str]:
        return sorted(self.reading.models) if self.reading else []


def import_results(source: str | Path, into: str | Path, keys: dict[str, TaskKey], overwrite: bool = False,
                   preferred=lambda model_id: None) -> ImportReport:
    """Import the protocol score files under `source` into the published store `into`."""
    source = Path(source)
    if not source.is_dir():
        raise ResultsError(f"import: '{source}' is not a folder of mteb results (<org__model>/<revision>/<Task>.json)")
    report = ImportReport(reading=read_folder(source, keys, "published", preferred))
    for record in report.reading.records:
        target = Path(into) / folder_name(record.model_id) / record.revision / record.path.name
        if target.exists() and not overwrite:
            report.skipped_existing.append(target)
            continue
        write_json_atomic(target, _normalized(record, keys[record.task]))
        report.imported.append(target)
        meta = record.path.parent / MODEL_META
        if meta.is_file() and not (target.parent / MODEL_META).exists():
            write_text_atomic(target.parent / MODEL_META, meta.read_text(encoding="utf-8"))
    return report


def _normalized(record: ScoreRecord, key: TaskKey) -> dict:
    """The file in mteb's current schema, its protocol entry's main_score the protocol's metric."""
    from mteb.results import TaskResult

    doc, nulled = null_non_finite(json.loads(TaskResult.from_disk(record.path).model_dump_json()), "doc")
    for entry in doc["scores"].get(key.split) or []:
        if entry.get("hf_subset", "default") == key.subset:
            entry["main_score"] = record.value
    doc["harness"] = {"version": harness.__version__, "imported_from": str(record.path),
                      "original_mteb_version": record.mteb_version, "protocol_metric": record.metric,
                      "note": record.note, "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "non_finite_as_null": nulled}
    return doc
