"""Where the harness finds what it is made of: every module of a package (task families, loaders,
tables), plus the modules named in HARNESS_PLUGINS (comma-separated importable module names), so
that a family, a loader or a table can be added by one file, inside the project or outside it."""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType

from harness.errors import HarnessError


def plugin_modules() -> list[ModuleType]:
    """The modules named in HARNESS_PLUGINS; an unimportable one is a one-line error."""
    names = [n.strip() for n in os.environ.get("HARNESS_PLUGINS", "").split(",") if n.strip()]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise HarnessError(f"HARNESS_PLUGINS: cannot import '{name}' ({exc}); check the module name "
                               "and that its folder is on PYTHONPATH") from None
    return modules


def package_modules(package: ModuleType) -> list[ModuleType]:
    """Every module of `package` (not its sub-packages), then the plugin modules."""
    found = [importlib.import_module(f"{package.__name__}.{info.name}")
             for info in pkgutil.iter_modules(package.__path__) if not info.ispkg]
    return found + [m for m in plugin_modules() if m not in found]


def components(package: ModuleType, attribute: str, kind: type, name: str = "name") -> dict[str, object]:
    """The objects of type `kind` that the package's (and the plugins') modules define as `attribute`,
    by their `name`; two with one name is a one-line error."""
    found: dict[str, object] = {}
    for module in package_modules(package):
        value = getattr(module, attribute, None)
        if isinstance(value, kind):
            key = getattr(value, name)
            if key in found:
                raise HarnessError(f"{kind.__name__} '{key}' is defined twice ({module.__name__})")
            found[key] = value
    return found
