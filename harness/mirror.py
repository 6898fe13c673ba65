"""The one rule for air-gapped runs: `<dir>/<hub id>` wins over the hub, for data and models alike.

A data directory (`--data-dir`, env `HARNESS_DATA_DIR`) mirrors Hugging Face dataset repos; a model
directory (`--model-dir`, env `HARNESS_MODEL_DIR`) mirrors model repos. `harness mirror` fills both
(`harness.fetch`) and writes, beside each, a manifest (`MIRROR.json`) saying which commit each folder
holds, so that results computed from the mirror record the commit they read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

_TRUE = {"1", "true", "yes", "on"}
MANIFEST = "MIRROR.json"
"""The manifest `harness mirror` writes in a data or model directory: what each folder holds."""
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_offline() -> bool:
    """True when the hub must not be contacted (HARNESS_OFFLINE or the HF offline variables)."""
    return any(_env_flag(v) for v in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


OFFLINE_VARIABLES = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
"""What switches the harness and the libraries it uses to offline mode (each set to 1)."""


def cache_home() -> Path:
    """Where the harness keeps what it builds or fetches: HARNESS_CACHE_DIR, default ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness"))


def _checked_dir(value: str | os.PathLike, option: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise HarnessError(f"{option} '{path}' is not a folder; create it or point {option} elsewhere")
    return path.resolve()


def _default_dir(variable: str, shared: str) -> Path | None:
    """The folder named by `variable`, else `../shared/<shared>` (beside the working folder or the
    project) if it exists."""
    env = os.environ.get(variable)
    if env:
        return _checked_dir(env, variable)
    for candidate in (Path.cwd().parent / "shared" / shared, PROJECT_ROOT.parent / "shared" / shared):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def shown_path(path: str | os.PathLike) -> str:
    """How reports name a folder or file: relative to the working folder when it lies inside it or
    under the `../shared` beside it (even through a link), so reports built from clones laid out alike
    read the same; anywhere else, whole."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    cwd = Path.cwd()
    for base, shown in ((cwd, Path()), (cwd.parent / "shared", Path("..", "shared"))):
        for candidate in (base, base.resolve()):
            if path.is_relative_to(candidate):
                return (shown / path.relative_to(candidate)).as_posix()
    return path.as_posix()


def default_data_dir() -> Path | None:
    """HARNESS_DATA_DIR, else `../shared/data` if it exists."""
    return _default_dir("HARNESS_DATA_DIR", "data")


def default_model_dir() -> Path | None:
    """HARNESS_MODEL_DIR, else `../shared/models` if it exists."""
    return _default_dir("HARNESS_MODEL_DIR", "models")


@dataclass(frozen=True)
class Mirrors:
    """Where local copies of datasets and models are looked for (None: hub only)."""

    data_dir: Path | None = None
    model_dir: Path | None = None

    @classmethod
    def from_options(cls, data_dir: str | None = None, model_dir: str | None = None) -> Mirrors:
        return cls(
            data_dir=_checked_dir(data_dir, "--data-dir") if data_dir else default_data_dir(),
            model_dir=_checked_dir(model_dir, "--model-dir") if model_dir else default_model_dir(),
        )

    def dataset(self, repo_id: str) -> Path | None:
        """The local folder standing for dataset `repo_id`, if the data directory has one."""
        return _local(self.data_dir, repo_id)

    def model(self, repo_id: str) -> Path | None:
        """The local folder standing for model `repo_id`, if the model directory has one."""
        return _local(self.model_dir, repo_id)

    def dataset_commit(self, repo_id: str) -> str | None:
        """The commit the data directory's folder of `repo_id` holds, when `harness mirror` wrote it."""
        return _manifest_commit(self.data_dir, repo_id)

    def model_commit(self, repo_id: str) -> str | None:
        """The commit the model directory's folder of `repo_id` holds, when `harness mirror` wrote it."""
        return _manifest_commit(self.model_dir, repo_id)


def _local(root: Path | None, repo_id: str) -> Path | None:
    if root is None:
        return None
    candidate = root / repo_id
    return candidate if candidate.is_dir() else None


def read_manifest(root: Path | None) -> dict[str, dict]:
    """The entries of a directory's `MIRROR.json` by folder (hub id); {} when it has none."""
    if root is None or not (root / MANIFEST).is_file():
        return {}
    try:
        entries = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("entries", [])
        return {entry["folder"]: entry for entry in entries}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HarnessError(f"{root / MANIFEST}: not a manifest written by `harness mirror` ({exc}); "
                           "remove it or run `harness mirror` again") from None


def _manifest_commit(root: Path | None, repo_id: str) -> str | None:
    return read_manifest(root).get(repo_id, {}).get("commit")
