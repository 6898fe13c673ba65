"""The results folder, both ways: computed results written, computed and published results read.

Layout (mteb's): `<root>/<org__model>/<revision>/<Task>.json`, `model_meta.json` beside them. What
the harness keeps that is not a task result (`throughput.json`) goes to `<revision>/harness/`,
where mteb's own `ResultCache` does not look; a `throughput.json` left in a revision folder by an
older harness is still read, and moved there on the next write into that folder.

A task file holds mteb's `TaskResult` fields plus a `harness` block (`Provenance`). Files are
written through a temporary file and `os.replace`; NaN and infinities are never written (mteb's
undefined metrics become null and are listed). A task is complete when its file holds the
protocol's metric for the protocol's split and subset: that is what a rerun skips, and the same
reader gives every score to the tables, for files of any mteb version (`protocol_score`).

Published per-task results (a copy of mteb's results repository, or a clone made by
`mteb.ResultCache`) are read with the same reader and kept apart: every `ScoreRecord` says whether
it was computed here or published, and which file it came from.
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ResultsError
from harness.mirror import cache_home, shown_path

Origin = Literal["computed", "published"]
MODEL_META = "model_meta.json"
HARNESS_FOLDER = "harness"
THROUGHPUT_FILE = "throughput.json"
EXTERNAL = "external"
"""The results repository's folder of scores copied from model cards: read after every revision folder."""


def folder_name(model_id: str) -> str:
    """`org/name` as a results folder name, mteb style: `org__name`."""
    return model_id.replace("/", "__")


def model_id_of(folder: str) -> str:
    """The model id a results folder stands for (`org__name` -> `org/name`)."""
    return folder.replace("__", "/", 1)


# ---- writing -------------------------------------------------------------------------------------

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


def _first_non_finite(value: Any, where: str) -> str | None:
    _, places = null_non_finite(value, where)
    return places[0] if places else None


def _umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _writer_tag() -> str:
    """The writer of a temporary file, in its name: this host and process (`<host>-<pid>-`)."""
    return f"{socket.gethostname()}-{os.getpid()}-"


def _writer_is_gone(tmp: Path) -> bool:
    """True when the temporary file `tmp` was left by a process of this host that no longer runs (killed
    in the middle of a write); False for a live writer, another host's, or a name without a writer."""
    stem = tmp.name.removesuffix(".tmp")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[0].endswith("." + socket.gethostname()):
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, under another user
        return False
    return False


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part.

    The temporary file's name holds the writer's host and process id, so that a run can remove what a
    killed writer left (`ResultStore.check_writable`). A failed write (full disk, read-only folder)
    raises a one-line `ResultsError` naming the file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_writer_tag()}", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # as an ordinary new file would be, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        hint = "free some space" if exc.errno == errno.ENOSPC else "check its permissions or choose another folder"
        raise ResultsError(f"cannot write {path} ({exc.strerror or exc}); {hint}") from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write `payload` as JSON, atomically; NaN and infinities are refused."""
    bad = _first_non_finite(dict(payload), Path(path).name)
    if bad:
        raise ResultsError(f"{bad} is not a finite number; refusing to write it")
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; an unreadable file raises a one-line error naming it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return doc


# ---- typed records -------------------------------------------------------------------------------

class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ModelProvenance(_Record):
    """The model a score was computed with, as loaded."""

    name: str
    id: str
    revision: str
    loader: str
    source: str
    """`mirror`, `package`, `hub` or `cache` (a distilled build)."""
    location: str = ""
    source_revision: str = ""
    commit: str | None = None
    """The commit read (hub download, or a mirror written by `harness mirror`); None when unknown."""
    dim: int | None = None
    n_parameters: int | None = None
    library: str = ""
    """The library that runs the model (`Model2Vec`, `Sentence Transformers`, `BPEmb`)."""


class Provenance(_Record):
    """The `harness` block of a computed task file: how its score came to be."""

    version: str
    packages: dict[str, str]
    python: str
    platform: str
    evaluated_at: str
    task: dict[str, Any]
    """benchmark, group, split, subset and main_score of the task."""
    data: dict[str, Any]
    """`source` (folder or hub id actually read), `revision`, `fingerprint` and task-specific facts."""
    model: ModelProvenance
    seed: int
    threads: int
    offline: bool
    non_finite_as_null: list[str] = []
    peak_rss_mb: float | None = None
    """Peak resident memory of the process that evaluated the cell, over the cell (model and libraries
    included)."""


class Throughput(_Record):
    """`harness/throughput.json`: a model's speed on a corpus, with the protocol and the hardware."""

    model: ModelProvenance
    sentences_per_second: float
    min: float
    max: float
    repetitions: list[float]
    warmup: int
    corpus: dict[str, Any]
    protocol: dict[str, Any]
    hardware: dict[str, Any]
    packages: dict[str, str] = {}
    date: str = ""


# ---- the protocol's score of a task file -----------------------------------------------------

class TaskKey(BaseModel):
    """Where a task's protocol score sits in a result file (a task spec is one)."""

    model_config = ConfigDict(frozen=True, extra="ignore", from_attributes=True)

    name: str
    split: str
    subset: str
    main_score: str
    metric_aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProtocolScore:
    value: float
    metric: str
    """The field the value was read from (the protocol's metric, or its older name)."""
    note: str = ""
    """Set when the file's own `main_score` is not the protocol's metric."""
    seed_spread: dict | None = None
    """For seeded scores (the PEARL probe): the runs with further seeds, their mean and std."""


def protocol_score(scores: Mapping[str, Any] | None, key: TaskKey) -> ProtocolScore | None:
    """The protocol's metric for `key`'s split and subset in a `scores` mapping, or None.

    The metric is read by name (or by its older name, e.g. Reranking's `map` before mteb 2), not
    from `main_score`: some files call another metric main (early mteb: `ap` for binary
    classification). When the file's `main_score` disagrees, the note says so."""
    for entry in (scores or {}).get(key.split) or []:
        if not isinstance(entry, dict) or entry.get("hf_subset", "default") != key.subset:
            continue
        for metric in (key.main_score, *key.metric_aliases):
            value = entry.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                own = entry.get("main_score")
                note = ""
                if isinstance(own, (int, float)) and math.isfinite(own) and abs(own - value) > 1e-9:
                    note = f"file's main_score {own:.4f} is not {key.main_score}; {metric} {value:.4f} used"
                spread = entry.get("seed_spread") if isinstance(entry.get("seed_spread"), dict) else None
                return ProtocolScore(float(value), metric, note, spread)
    return None


# ---- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreRecord:
    """One task score read from a result file, with where it came from."""

    model_id: str
    revision: str
    task: str
    value: float
    metric: str
    origin: Origin
    path: Path
    mteb_version: str | None = None
    date: str | None = None
    note: str = ""
    provenance: Provenance | None = None
    """The harness block of a computed file (None for published files and files of other tools)."""
    imported_from: str = ""
    seed_spread: dict | None = None
    """For seeded scores: the runs with further seeds (`harness.probe.run_with_spread`)."""


@dataclass
class FolderReading:
    """What reading one results folder found."""

    root: Path
    origin: Origin
    records: list[ScoreRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Files that could not be used, one line each."""
    notes: list[str] = field(default_factory=list)
    """Files left out on purpose (tasks outside the protocol, a task in several revision folders)."""
    models: dict[str, list[str]] = field(default_factory=dict)
    """model id -> its revision folders."""
    description: str = ""


def _revision_order(revisions: Iterable[Path], preferred: str | None) -> list[Path]:
    """The preferred (registry) revision first, then revision folders by name, `external` last."""
    return sorted(revisions, key=lambda p: (p.name != preferred, p.name == EXTERNAL, p.name))


def _is_task_file(path: Path) -> bool:
    return path.suffix == ".json" and path.name not in (MODEL_META, THROUGHPUT_FILE) and not path.name.startswith(".")


def _load(path: Path, model_id: str, key: TaskKey, origin: Origin) -> ScoreRecord | None:
    """The record of one task file (None when it lacks the protocol's split, subset or metric)."""
    from mteb.results import TaskResult

    raw = read_json(path)
    try:  # mteb's own reader understands every mteb version's layout
        scores = TaskResult.from_disk(path).scores
    except Exception as exc:  # noqa: BLE001 - any parse failure of a foreign file is the file's fault
        raise ResultsError(f"{path}: not a readable mteb result ({_why_unreadable(exc)})") from None
    found = protocol_score(scores, key)
    if found is None:
        return None
    block = raw.get("harness") if isinstance(raw.get("harness"), dict) else {}
    imported_from = str(block.get("imported_from") or "")
    provenance = None
    if block and not imported_from:
        try:
            provenance = Provenance.model_validate(block)
        except ValidationError:
            provenance = None
    date = block.get("evaluated_at") if block else None
    if not date and isinstance(raw.get("date"), (int, float)):
        from datetime import datetime, timezone

        date = datetime.fromtimestamp(raw["date"], timezone.utc).isoformat(timespec="seconds")
    return ScoreRecord(
        model_id=model_id, revision=path.parent.name, task=key.name, value=found.value, metric=found.metric,
        origin="published" if imported_from else origin, path=path,
        mteb_version=block.get("original_mteb_version") if imported_from else raw.get("mteb_version"),
        date=date, note=found.note, provenance=provenance, imported_from=imported_from, seed_spread=found.seed_spread)


def _why_unreadable(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        return f"field '{'.'.join(str(p) for p in first['loc'])}': {first['msg']}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:160]}"


def read_folder(root: str | os.PathLike, keys: Mapping[str, TaskKey], origin: Origin = "computed",
                preferred: Callable[[str], str | None] = lambda model_id: None) -> FolderReading:
    """Every usable task score under `root` (`<org__model>/<revision>/<Task>.json`).

    `keys` names the tasks to read; a model's files are merged over its revision folders in the
    order of `_revision_order` (`preferred(model_id)` first): the first file holding the task's
    protocol score wins. Unreadable files are named in `problems`; the rest is used."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsError(f"results folder '{root}' does not exist; run `harness run` or give another folder")
    reading = FolderReading(root, origin)
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        model_id = model_id_of(model_dir.name)
        revisions = _revision_order((p for p in model_dir.iterdir() if p.is_dir()), preferred(model_id))
        reading.models[model_id] = [p.name for p in revisions]
        candidates: dict[str, list[Path]] = {}
        outside: set[str] = set()
        for rev_dir in revisions:
            for path in sorted(rev_dir.iterdir()):
                if not _is_task_file(path):
                    continue
                if path.stem in keys:
                    candidates.setdefault(path.stem, []).append(path)
                else:
                    outside.add(path.stem)
        for task, paths in candidates.items():
            _read_task(reading, model_id, keys[task], paths)
        if outside:
            names = sorted(outside)
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            reading.notes.append(f"{model_dir.name}: {len(names)} task(s) outside the catalogue left out "
                                 f"({', '.join(names[:5])}{more})")
    return reading


def _read_task(reading: FolderReading, model_id: str, key: TaskKey, paths: list[Path]) -> None:
    """The first of `paths` holding the protocol score becomes the task's record."""
    chosen, lacking = None, []
    for path in paths:
        try:
            record = _load(path, model_id, key, reading.origin)
        except ResultsError as exc:
            reading.problems.append(str(exc))
            continue
        if record is None:
            lacking.append(path)
            continue
        chosen = path
        reading.records.append(record)
        break
    others = [p for p in paths if p != chosen and p not in lacking]
    if chosen is not None and others:
        reading.notes.append(f"{folder_name(model_id)} {key.name}: {chosen.parent.name}/{chosen.name} used; also in "
                             + ", ".join(p.parent.name for p in others) + " (not used)")
    if chosen is None and lacking:
        reading.notes.append(f"{folder_name(model_id)} {key.name}: no {key.main_score} for split {key.split!r} subset "
                             f"{key.subset!r} in " + ", ".join(f"{p.parent.name}/{p.name}" for p in lacking))


def read_throughputs(root: str | os.PathLike, preferred: Callable[[str], str | None] = lambda model_id: None,
                     problems: list[str] | None = None) -> dict[str, Throughput]:
    """Measured speeds by model id; where a model has several revision folders, the preferred one wins.
    An unreadable file raises, or, given a `problems` list, is named there and left out."""
    root = Path(root)
    found: dict[str, Throughput] = {}
    if not root.is_dir():
        return found
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        model_id = model_id_of(model_dir.name)
        for rev_dir in _revision_order((p for p in model_dir.iterdir() if p.is_dir()), preferred(model_id)):
            for path in (rev_dir / HARNESS_FOLDER / THROUGHPUT_FILE, rev_dir / THROUGHPUT_FILE):
                if path.is_file():
                    try:
                        found[model_id] = _read_throughput(path)
                    except ResultsError as exc:
                        if problems is None:
                            raise
                        problems.append(str(exc))
                    break
            if model_id in found:
                break
    return found


def _read_throughput(path: Path) -> Throughput:
    try:
        return Throughput.model_validate(read_json(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResultsError(f"{path}: not a throughput record (field '{where}': {first['msg']}); "
                           "measure again with `harness speed --overwrite`") from None


# ---- the store of computed results ---------------------------------------------------------

class ResultStore:
    """The computed results of one results folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def model_dir(self, model_id: str, revision: str) -> Path:
        return self.root / folder_name(model_id) / revision

    def path(self, model_id: str, revision: str, task_name: str) -> Path:
        return self.model_dir(model_id, revision) / f"{task_name}.json"

    def throughput_path(self, model_id: str, revision: str) -> Path:
        return self.model_dir(model_id, revision) / HARNESS_FOLDER / THROUGHPUT_FILE

    def check_writable(self) -> None:
        """Fail now, in one line, when the folder cannot be created or written; then remove the temporary
        files that writers killed in the middle of a write (kill -9, out of memory) left in it. Another
        process's write in progress, here or on another host sharing the folder, is left alone."""
        probe = self.root / ".harness-write-check"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ResultsError(f"results folder '{self.root}' is not writable ({exc.strerror or exc}); "
                               "fix its permissions or give another --results-dir") from None
        for tmp in self.root.glob("*/*/**/.*.tmp"):
            if _writer_is_gone(tmp):
                tmp.unlink(missing_ok=True)

    def completed(self, model_id: str, revision: str, key: TaskKey) -> ProtocolScore | None:
        """The task's protocol score when its file holds it (any mteb layout), else None."""
        path = self.path(model_id, revision, key.name)
        if not path.exists():
            return None
        doc = read_json(path)
        if doc.get("task_name") != key.name:
            return None
        return protocol_score(doc.get("scores"), key)

    def write(self, model_id: str, revision: str, task_name: str, payload: Mapping[str, Any]) -> Path:
        path = self.path(model_id, revision, task_name)
        write_json_atomic(path, payload)
        self._move_legacy_throughput(path.parent)
        return path

    def write_model_meta(self, model_id: str, revision: str, meta: Mapping[str, Any]) -> Path:
        path = self.model_dir(model_id, revision) / MODEL_META
        write_json_atomic(path, meta)
        self._move_legacy_throughput(path.parent)
        return path

    def throughput(self, model_id: str, revision: str) -> Throughput | None:
        """The model's measured speed at this revision (new or legacy place), if any."""
        for path in (self.throughput_path(model_id, revision), self.model_dir(model_id, revision) / THROUGHPUT_FILE):
            if path.is_file():
                return _read_throughput(path)
        return None

    def write_throughput(self, model_id: str, revision: str, record: Throughput) -> Path:
        path = self.throughput_path(model_id, revision)
        write_json_atomic(path, record.model_dump(mode="json"))
        (path.parent.parent / THROUGHPUT_FILE).unlink(missing_ok=True)
        return path

    def _move_legacy_throughput(self, rev_dir: Path) -> None:
        """A `throughput.json` among the task files (older harness) moves to `harness/`, where mteb's
        ResultCache does not take it for a task result."""
        legacy = rev_dir / THROUGHPUT_FILE
        if legacy.is_file():
            target = rev_dir / HARNESS_FOLDER / THROUGHPUT_FILE
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                legacy.unlink()
            else:
                os.replace(legacy, target)


# ---- published per-task results --------------------------------------------------------------

PUBLISHED_FOLDER = "mteb-results"
"""Where a data mirror keeps its copy of mteb's results repository (`<data-dir>/mteb-results/results`)."""
PUBLISHED_REMOTE = "https://github.com/embeddings-benchmark/results"


def published_source(value: str) -> tuple[Path, str]:
    """A published results folder and how to name it: a folder laid out like mteb's results repository
    (the repository itself or its `results/` folder), or the address of such a git repository, which
    mteb's own `ResultCache` clones (or updates) into the harness cache."""
    if "://" in value or value.startswith("git@"):
        return _clone(value)
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ResultsError(f"--published '{value}': not a folder; give a copy of mteb's results repository "
                           f"(or its results/ folder), or its address, e.g. {PUBLISHED_REMOTE}")
    return (path / "results", str(path)) if (path / "results").is_dir() else (path, str(path))


def _clone(address: str) -> tuple[Path, str]:
    import subprocess

    from mteb.cache import ResultCache

    cache = ResultCache(cache_path=cache_home() / "mteb-results")
    try:
        repo = cache.download_from_remote(remote=address)
    except (subprocess.CalledProcessError, ValueError, OSError) as exc:
        raise ResultsError(f"--published {address}: mteb's ResultCache could not clone or update it "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                           "check the address, or give a local copy") from None
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    return cache.remote_results_path, f"{address} @ {head[:12]} (clone: {repo})"


def default_published(data_dir: Path | None) -> list[tuple[Path, str]]:
    """The published results the report reads when none are named: HARNESS_PUBLISHED (a folder or an
    address), else the data mirror's copy when it has one."""
    env = os.environ.get("HARNESS_PUBLISHED")
    if env:
        return [] if env == "none" else [published_source(env)]
    if data_dir is not None and (data_dir / PUBLISHED_FOLDER).is_dir():
        return [published_source(shown_path(data_dir / PUBLISHED_FOLDER))]
    return []
