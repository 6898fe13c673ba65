"""The Hugging Face hub, through huggingface_hub's own functions (`HF_ENDPOINT` picks the server).

A revision (branch, tag or commit) is resolved to the commit it names once per process, so a run
reads one commit throughout and records it; snapshots are downloaded at that commit and checked
against the checksums the hub announces for it (`HfApi.verify_repo_checksums`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from harness.errors import HarnessError

RepoType = Literal["model", "dataset"]


class RevisionNotFound(HarnessError):
    """The hub has no such repository or revision (bad input: the registry or the task names it)."""


class HubUnreachable(HarnessError):
    """The hub could not be reached or stopped answering."""


def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _label(repo_id: str, revision: str, repo_type: RepoType) -> str:
    return f"{'dataset ' if repo_type == 'dataset' else ''}{repo_id}@{revision}"


def explain(exc: BaseException, repo_id: str, revision: str, repo_type: RepoType) -> HarnessError:
    """A hub failure as the harness's one-line error naming repo@revision: `RevisionNotFound` when the hub
    answered that it has no such repository or revision (or answered the request with an error status: a
    hub-compatible server such as olah answers 500 for an unknown commit), `HubUnreachable` when it did not
    answer (connection refused or dropped, time-out)."""
    from huggingface_hub.errors import HfHubHTTPError

    label = _label(repo_id, revision, repo_type)
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        return RevisionNotFound(f"{label}: the hub ({endpoint()}) has no {repo_type} {repo_id} at revision "
                                f"'{revision}' (HTTP {status}); check the id and revision in the registry or task, "
                                "or log in (`hf auth login`) for a private repository")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return HubUnreachable(f"{label}: could not fetch from {endpoint()} ({type(exc).__name__}: {first})".rstrip())


def is_commit(revision: str | None) -> bool:
    """Whether `revision` is a full commit hash (it names one commit for ever: nothing to resolve)."""
    return revision is not None and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


@functools.lru_cache(maxsize=None)
def resolve_commit(repo_id: str, revision: str, repo_type: RepoType = "model") -> str:
    """The commit that `revision` of a hub repo names now (asked once per process; a full commit hash is
    asked too, so that a commit the hub does not have is named before anything is fetched)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().repo_info(repo_id, revision=revision, repo_type=repo_type)
    except Exception as exc:
        raise explain(exc, repo_id, revision, repo_type) from exc
    if not info.sha:
        raise HubUnreachable(f"{_label(repo_id, revision, repo_type)}: the hub did not say which commit it is")
    return info.sha


def snapshot(repo_id: str, commit: str, repo_type: RepoType = "model", local_dir: Path | None = None,
             allow_patterns: list[str] | None = None) -> Path:
    """The repo's files at `commit`: in huggingface_hub's cache, or in `local_dir` (resumable there)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=commit, repo_type=repo_type,
                                      local_dir=str(local_dir) if local_dir else None,
                                      allow_patterns=allow_patterns))
    except Exception as exc:
        raise explain(exc, repo_id, commit, repo_type) from exc


def listing(repo_id: str, commit: str, repo_type: RepoType = "model",
            allow_patterns: list[str] | None = None) -> dict[str, int]:
    """`path -> size` of the repo's files at `commit` (those matching `allow_patterns`)."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import filter_repo_objects

    try:
        files = {e.path: e.size for e in HfApi().list_repo_tree(repo_id, revision=commit, repo_type=repo_type,
                                                                  recursive=True) if isinstance(e, RepoFile)}
    except Exception as exc:
        raise explain(exc, repo_id, commit, repo_type) from exc
    kept = set(filter_repo_objects(list(files), allow_patterns=allow_patterns))
    return {path: size for path, size in files.items() if path in kept}


def checksum_problems(repo_id: str, commit: str, repo_type: RepoType, local_dir: Path,
                      allow_patterns: list[str] | None = None) -> list[str]:
    """Files of `local_dir` that differ from what the hub announces for `commit` (sha256 of LFS files, git
    blob id of the others), or that are missing; [] when all match."""
    from huggingface_hub import HfApi

    try:
        result = HfApi().verify_repo_checksums(repo_id, repo_type=repo_type, revision=commit, local_dir=local_dir)
    except Exception as exc:
        raise explain(exc, repo_id, commit, repo_type) from exc
    wanted = set(listing(repo_id, commit, repo_type, allow_patterns)) if allow_patterns else None
    problems = [f"{m['path']}: {m['algorithm']} {m['actual'][:12]}…, the hub says {m['expected'][:12]}…"
                for m in result.mismatches]
    problems += [f"{path}: missing" for path in result.missing_paths if wanted is None or path in wanted]
    return problems
