"""Where a dataset is read from, and the proof of what was read.

`resolve_dataset` applies the one rule of the data mirror: `<data-dir>/<hub id>` wins over the hub;
offline, a missing folder is a one-line error naming the folder looked for. A mirror folder gets a
content fingerprint: the sha256 over its files' names, sizes and sha256 (each file hashed once per
process, and again only when its size or modification time changes), so two results can be checked
for "same data". When the data directory has a checksum file (`SHA256SUMS.txt`, `sha256  path`
lines), each file is compared with it and the result files say whether the data matches.

`datasets` keeps a cache of what it built from a folder whose key ignores the folder's content (two
different folders named `sts12-sts` share an entry). `content_keyed_cache` points `datasets` at a
cache folder named by the fingerprint for the duration of one load, so changed data is read again.
When reading fails, a file that is truncated, not gzip or not JSON is named in one line.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.errors import CorruptDataError, DataUnavailableError
from harness.mirror import Mirrors, cache_home, is_offline

CHECKSUM_FILE = "SHA256SUMS.txt"
_CHUNK = 1 << 20
_file_hashes: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Fingerprint:
    """The content of one mirror folder."""

    sha256: str
    """sha256 over `relative path, size, sha256` of every file, in path order."""
    files: int
    bytes: int
    checksums: Literal["match", "differ", "none"]
    """Whether every file matches the data directory's checksum file (`none`: no checksum file lists them)."""
    altered: tuple[str, ...] = ()
    """Files whose sha256 differs from the checksum file, or that it does not list."""
    missing: tuple[str, ...] = ()
    """Files the checksum file lists under this folder that are not there."""

    def as_dict(self) -> dict:
        return {"sha256": self.sha256, "files": self.files, "bytes": self.bytes, "checksums": self.checksums,
                "altered": list(self.altered), "missing": list(self.missing)}


@dataclass(frozen=True)
class DataSource:
    """Where a dataset was (or will be) read from."""

    kind: Literal["mirror", "hub", "inline"]
    location: str
    """The mirror folder, the hub repo id (or URL), or for `inline` data the code that holds it."""
    revision: str | None = None
    """The revision asked for (a branch, tag or commit)."""
    fingerprint: Fingerprint | None = field(default=None, compare=False)
    commit: str | None = None
    """The commit actually read: resolved from the hub, or from the manifest of a mirror that `harness
    mirror` wrote; None when nothing says (a mirror filled by hand)."""

    def describe(self) -> str:
        return self.location if self.kind == "mirror" else f"hub:{self.location}@{self.commit or self.revision}"

    def as_provenance(self) -> dict:
        """What a result file records about its data."""
        out = {"source": self.describe(), "kind": self.kind, "commit": self.commit}
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint.as_dict()
        return out


def resolve_dataset(mirrors: Mirrors, repo_id: str, what: str, revision: str | None = None,
                    on_hub: bool = True) -> DataSource:
    """The mirror folder of `repo_id` (fingerprinted), else the hub at the commit `revision` names now;
    offline, a missing folder is an error. `on_hub=False` for data that is not read from a hub repo (no
    commit to resolve). `what` names the task in the error (e.g. "MTEB STS12")."""
    local = mirrors.dataset(repo_id)
    if local is not None:
        return DataSource("mirror", str(local), revision, fingerprint(local, mirrors.data_dir),
                          mirrors.dataset_commit(repo_id))
    if is_offline():
        looked = mirrors.data_dir / repo_id if mirrors.data_dir else f"<data-dir>/{repo_id} (no --data-dir given)"
        raise DataUnavailableError(f"{what}: no folder {looked} and offline; give --data-dir with a copy of {repo_id}")
    from harness.hub import is_commit, resolve_commit

    if not on_hub or is_commit(revision):  # a full commit hash is what will be read: nothing to ask the hub
        return DataSource("hub", repo_id, revision, commit=revision if on_hub else None)
    return DataSource("hub", repo_id, revision, commit=resolve_commit(repo_id, revision or "main", "dataset"))


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, computed once per process for a given size and modification time."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _file_hashes:
            return _file_hashes[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    with _lock:
        _file_hashes[key] = digest.hexdigest()
    return digest.hexdigest()


def visible_files(folder: Path) -> list[Path]:
    """A folder's files (or the one file), in path order, leaving out hidden files and folders."""
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                          p.relative_to(folder).parts))


def read_checksums(data_dir: Path | None) -> dict[str, str] | None:
    """`relative path -> sha256` from the data directory's checksum file, or None when it has none."""
    if data_dir is None or not (data_dir / CHECKSUM_FILE).is_file():
        return None
    listed = {}
    for line in (data_dir / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            listed[parts[1].lstrip("*")] = parts[0].lower()
    return listed


def fingerprint(folder: Path, data_dir: Path | None = None) -> Fingerprint:
    """The content fingerprint of a mirror folder (or one file of it), compared with the data directory's
    checksum file."""
    files = visible_files(folder)
    digest, size = hashlib.sha256(), 0
    hashes = {}
    base = folder.parent if folder.is_file() else folder
    for path in files:
        rel = path.relative_to(base).as_posix()
        hashes[path] = file_sha256(path)
        size += path.stat().st_size
        digest.update(f"{rel}\0{path.stat().st_size}\0{hashes[path]}\n".encode())
    listed = read_checksums(data_dir)
    if listed is None or data_dir is None or not folder.resolve().is_relative_to(data_dir.resolve()):
        return Fingerprint(digest.hexdigest(), len(files), size, "none")
    prefix = folder.resolve().relative_to(data_dir.resolve()).as_posix() + ("" if folder.is_file() else "/")
    altered = tuple(p.relative_to(data_dir).as_posix() for p in files
                    if listed.get(p.relative_to(data_dir).as_posix()) != hashes[p])
    present = {p.relative_to(data_dir).as_posix() for p in files}
    missing = tuple(sorted(n for n in listed if n.startswith(prefix) and n not in present))
    state = "match" if not altered and not missing else "differ"
    return Fingerprint(digest.hexdigest(), len(files), size, state, altered, missing)


def find_corrupt_file(folder: Path) -> str | None:
    """The first file of a folder that cannot be read — a gzip file to its end, a JSON Lines file line by
    line — described in one line; None when every file reads."""
    for path in visible_files(folder):
        opener = gzip.open if path.suffix == ".gz" else open
        is_jsonl = path.name.endswith((".jsonl", ".jsonl.gz"))
        try:
            with opener(path, "rt", encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    if is_jsonl and line.strip():
                        try:
                            json.loads(line)
                        except ValueError as exc:
                            return f"{path}: line {number} is not JSON ({exc})"
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            return f"{path}: cannot be read ({exc})"
    return None


@contextlib.contextmanager
def content_keyed_cache(source: DataSource) -> Iterator[None]:
    """`datasets` builds and caches a mirror folder's data under a folder named by its fingerprint, so a
    changed folder is read again; when reading fails, the file at fault is named. Hub data keeps
    `datasets`' own cache."""
    if source.kind != "mirror" or source.fingerprint is None:
        yield
        return
    import datasets

    previous = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = cache_home() / "datasets" / source.fingerprint.sha256[:16]
    try:
        yield
    except Exception as exc:
        culprit = find_corrupt_file(Path(source.location))
        if culprit is None:
            raise
        raise CorruptDataError(f"{culprit}; restore it (`harness verify` compares the mirror with its "
                               "checksum file)") from exc
    finally:
        datasets.config.HF_DATASETS_CACHE = previous


def verify_mirror(data_dir: Path) -> tuple[int, list[str]]:
    """Compare a data directory with its checksum file: (files checked, one line per missing or altered file)."""
    listed = read_checksums(data_dir)
    if listed is None:
        raise DataUnavailableError(f"{data_dir}: no {CHECKSUM_FILE} to verify against "
                                   f"(write one with `sha256sum` over its files)")
    problems = []
    for name, expected in sorted(listed.items()):
        path = data_dir / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif file_sha256(path) != expected:
            problems.append(f"altered: {name} (sha256 {file_sha256(path)[:12]}…, listed {expected[:12]}…)")
    return len(listed), problems
