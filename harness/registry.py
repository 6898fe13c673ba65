"""The model registry: a YAML list of model entries validated into frozen `ModelSpec` records.

The default registry is `model_registry.yaml` at the top of the project, which the package ships
(`harness/model_registry.yaml`, read through importlib.resources, so an installed harness finds it
from any folder). Users add or override entries with `--registry FILE` (an entry with the same
`name` replaces the default one whole).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.errors import RegistryError
from harness.loaders import loader_kinds
from harness.spec import ModelSpec, PublishedTable, Recipe

__all__ = ["ModelSpec", "PublishedTable", "Recipe", "Registry", "load_registry", "read_registry_file"]

REGISTRY_FILE = "model_registry.yaml"


def _format_validation_error(path: Path, where: str, err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(entry)"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{path}: {where} field '{field}': {first['msg']}{more}; fix the entry"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def read_registry_file(path: str | os.PathLike) -> list[ModelSpec]:
    """Read and validate one registry file (a top-level `models:` list)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read registry file ({exc.strerror}); check --registry") from exc
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RegistryError(f"{path}:{at}: invalid YAML ({problem})") from exc
    if not isinstance(doc, dict) or set(doc) != {"models"} or not isinstance(doc["models"], list):
        raise RegistryError(f"{path}: a registry is a mapping with one key 'models' holding a list of entries")
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(doc["models"]):
        label = entry.get("name") if isinstance(entry, dict) else None
        where = f"model '{label}'" if label else f"entry #{i + 1}"
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}: {where} is not a mapping of fields")
        try:
            spec = ModelSpec.model_validate(entry, context={"loader_kinds": loader_kinds()})
        except ValidationError as exc:
            raise RegistryError(_format_validation_error(path, where, exc)) from None
        if spec.name in seen:
            raise RegistryError(f"{path}: model '{spec.name}' is defined twice; keep one entry")
        seen.add(spec.name)
        specs.append(spec)
    return specs


class Registry:
    """Validated model entries by display name, in file order. A distilled entry whose teacher is
    another entry borrows that entry's package (so a teacher shipped on PyPI distills offline)."""

    def __init__(self, specs: Iterable[ModelSpec]):
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self._specs[spec.name] = spec
        by_id = {spec.id: spec for spec in self._specs.values()}
        for name, spec in self._specs.items():
            teacher = by_id.get(spec.teacher) if spec.teacher else None
            if teacher is not None and teacher.package and spec.teacher_package is None:
                self._specs[name] = spec.model_copy(update={"teacher_package": teacher.package,
                                                            "teacher_package_path": teacher.package_path})

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str) -> ModelSpec:
        """The entry called `name`; an unknown name raises with a 'did you mean'."""
        if name in self._specs:
            return self._specs[name]
        by_lower = {n.lower(): n for n in self._specs}
        if name.lower() in by_lower:
            hint = [by_lower[name.lower()]]
        else:
            hint = [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]
        suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise RegistryError(f"unknown model '{name}'{suggestion} (`harness models` lists them)")

    def select(self, names: Sequence[str]) -> list[ModelSpec]:
        return [self.get(n) for n in names]


def default_registry() -> Path:
    """The registry the package ships (HARNESS_REGISTRY replaces it)."""
    env = os.environ.get("HARNESS_REGISTRY")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("harness").joinpath(REGISTRY_FILE)))


def load_registry(extra: Sequence[str | os.PathLike] = (), base: str | os.PathLike | None = None) -> Registry:
    """Load the default registry, then each extra file, later entries replacing earlier ones by name."""
    specs = read_registry_file(Path(base) if base is not None else default_registry())
    for path in extra:
        specs.extend(read_registry_file(path))
    return Registry(specs)
