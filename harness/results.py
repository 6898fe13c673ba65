"""The results store: mteb's layout and schema, plus the provenance of every score.

Layout: `<results-dir>/<org__model>/<revision>/<Task>.json` with `model_meta.json` beside them.
A file holds mteb's `TaskResult` fields (`dataset_revision`, `task_name`, `mteb_version`, `scores`,
`evaluation_time`, `kg_co2_emissions`, `date`) and a `harness` block with the provenance: harness and
library versions, the data and model sources actually used and their revisions, seed, threads.
Files are written through a temporary file and `os.replace`; NaN and infinities are refused.
A task is complete when its file exists and holds a finite main score for the protocol's split and
subset: that is what a rerun skips.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import ResultsError


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultsError(f"{where} is {value}; refusing to write a non-finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def null_non_finite(value: Any, where: str = "scores") -> tuple[Any, list[str]]:
    """`value` with NaN/infinities replaced by None, and the places replaced.

    mteb reports some metrics that are undefined for a task (e.g. `ap` of a multi-class
    classification) as NaN; they are stored as null and listed in the provenance.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None, [where]
    if isinstance(value, dict):
        out, places = {}, []
        for k, v in value.items():
            out[k], sub = null_non_finite(v, f"{where}.{k}")
            places.extend(sub)
        return out, places
    if isinstance(value, (list, tuple)):
        out, places = [], []
        for i, v in enumerate(value):
            clean, sub = null_non_finite(v, f"{where}[{i}]")
            out.append(clean)
            places.extend(sub)
        return out, places
    return value, []


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON, atomically; NaN and infinities are refused."""
    _check_finite(payload, Path(path).name)
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """Read a results file; an unreadable one raises a one-line error naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); delete it or rerun with --overwrite") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return doc


def main_score_of(doc: dict[str, Any], split: str, subset: str) -> float | None:
    """The main score for `split`/`subset` in a result document, or None when absent or not finite."""
    for entry in (doc.get("scores") or {}).get(split) or []:
        if isinstance(entry, dict) and entry.get("hf_subset") == subset:
            score = entry.get("main_score")
            if isinstance(score, (int, float)) and math.isfinite(score):
                return float(score)
    return None


class ResultStore:
    """Result files of one results directory."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def model_dir(self, model_id: str, revision: str) -> Path:
        return self.root / model_id.replace("/", "__") / revision

    def path(self, model_id: str, revision: str, task_name: str) -> Path:
        return self.model_dir(model_id, revision) / f"{task_name}.json"

    def read(self, model_id: str, revision: str, task_name: str) -> dict[str, Any] | None:
        path = self.path(model_id, revision, task_name)
        return read_json(path) if path.exists() else None

    def completed(self, model_id: str, revision: str, task_name: str, split: str, subset: str) -> dict[str, Any] | None:
        """The task's document when it holds a finite main score for `split`/`subset`, else None."""
        doc = self.read(model_id, revision, task_name)
        if doc is not None and doc.get("task_name") == task_name and main_score_of(doc, split, subset) is not None:
            return doc
        return None

    def is_complete(self, model_id: str, revision: str, task_name: str, split: str, subset: str) -> bool:
        """True when the task's file holds a finite main score for `split`/`subset`."""
        return self.completed(model_id, revision, task_name, split, subset) is not None

    def write(self, model_id: str, revision: str, task_name: str, payload: dict[str, Any]) -> Path:
        path = self.path(model_id, revision, task_name)
        write_json_atomic(path, payload)
        return path

    def write_model_meta(self, model_id: str, revision: str, meta: dict[str, Any]) -> Path:
        path = self.model_dir(model_id, revision) / "model_meta.json"
        write_json_atomic(path, meta)
        return path
