"""The task catalogue: every task the harness can run, by name and by group.

Task families register themselves: each module of this package (or one named in HARNESS_PLUGINS)
that defines `FAMILY = TaskFamily(...)` adds its tasks, its group names and the table columns its
datasets count towards. Adding a task family is adding one module. Nothing is loaded at import
time: a task reads its data only when it is evaluated.
"""

from __future__ import annotations

import difflib
import sys
import types
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.data import DataSource
from harness.encoders import Encoder
from harness.errors import HarnessError, UnknownTaskError
from harness.mirror import Mirrors

AVG_ALL = "Avg (All)"


@dataclass(frozen=True)
class TaskSpec:
    """What the catalogue knows about a task before any data is read."""

    name: str
    """Result file name (`<name>.json`) and what `-t` takes."""
    benchmark: str
    """The family it belongs to (`MTEB`, `PEARL`, `WordSim`, ...)."""
    group: str
    """The group it counts towards (an MTEB task type, `PEARL`, `WordSim`, ...)."""
    main_score: str
    split: str = "test"
    subset: str = "default"
    languages: tuple[str, ...] = ("eng-Latn",)
    description: str = ""
    metric_aliases: tuple[str, ...] = ()
    """Older names of `main_score` in result files of earlier versions (e.g. Reranking's `map` before mteb 2)."""
    benchmark_split: str | None = None
    """The split the benchmark's own definition evaluates when it is not the protocol's (MSMARCO: `dev`)."""
    dataset: str | None = None
    """The protocol dataset it is part of, when several tasks make one (CQADupstack's 12 subsets); else None."""
    aggregate_file: str | None = None
    """The result file of the whole dataset, used only when its parts are not all there (CQADupstackRetrieval)."""


@dataclass
class TaskOutcome:
    """What an evaluation produced, in mteb's result schema (`scores[split] = [{hf_subset, main_score, ...}]`)."""

    scores: dict[str, list[dict[str, Any]]]
    dataset_revision: str
    data: DataSource
    """Where the data was actually read from, with the fingerprint of a mirror folder."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further provenance (e.g. sha256 of the files read)."""


class Task(Protocol):
    spec: TaskSpec

    def evaluate(self, encoder: Encoder, mirrors: Mirrors) -> TaskOutcome: ...

    def missing_data(self, mirrors: Mirrors) -> str | None:
        """None when the data can be read from the local mirror (no network); else what is missing."""
        ...

    # Optional: `needs(self) -> list` says what the task reads from outside (`harness.fetch` needs), for
    # `harness mirror`; a task without it is named there as not mirrored.


@dataclass(frozen=True)
class TaskFamily:
    """A benchmark's tasks and how its datasets enter the tables."""

    name: str
    """The benchmark name its tasks carry (`TaskSpec.benchmark`); also a group name for `-t`."""
    tasks: Callable[[], Sequence[Task]]
    aliases: Callable[[], dict[str, list[str]]] = dict
    """Further group names for `-t` (e.g. an aggregate standing for its parts)."""
    columns: dict[str, str] = field(default_factory=dict)
    """Table column of each group (short names, e.g. Classification -> Class); a group not listed is its own column."""
    average: str | None = None
    """A column averaging all the family's datasets (e.g. `Avg (MTEB)`), if any."""
    in_average_all: bool = False
    """Whether its datasets count in Avg (All) (the protocol's 72 datasets: MTEB, PEARL and WordSim)."""
    order: int = 100
    """Place in the catalogue and in the tables."""

    def table_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """The table columns a dataset of this family counts towards, widest first."""
        return tuple(c for c in (AVG_ALL if self.in_average_all else None, self.average,
                                 self.columns.get(spec.group, spec.group)) if c)


@functools.lru_cache(maxsize=1)
def families() -> tuple[TaskFamily, ...]:
    """Every task family (this package's modules and HARNESS_PLUGINS), in catalogue order."""
    import harness.tasks as package
    from harness.plugins import components

    return tuple(sorted(components(package, "FAMILY", TaskFamily).values(), key=lambda f: (f.order, f.name)))


class Catalogue:
    """Tasks by name, and the groups that select several at once: each group (`STS`, `Retrieval`, ...,
    `WordSim`), each family (`MTEB`, ...) and each alias (`CQADupstackRetrieval`)."""

    def __init__(self, tasks: Sequence[Task] | None = None, aliases: dict[str, list[str]] | None = None,
                 family_list: Sequence[TaskFamily] | None = None):
        self.families = {f.name: f for f in (families() if family_list is None else family_list)}
        if tasks is None:
            tasks = [t for f in self.families.values() for t in f.tasks()]
            aliases = {k: v for f in self.families.values() for k, v in f.aliases().items()}
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            if task.spec.name in self.tasks:
                raise HarnessError(f"duplicate task name {task.spec.name!r}")
            self.tasks[task.spec.name] = task
        self.groups: dict[str, list[str]] = {}
        for task in self.tasks.values():
            self.groups.setdefault(task.spec.group, []).append(task.spec.name)
            if task.spec.benchmark != task.spec.group:
                self.groups.setdefault(task.spec.benchmark, []).append(task.spec.name)
        for alias, names in (aliases or {}).items():
            self.groups[alias] = list(names)

    def table_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """The table columns the task's dataset counts towards (its group's, when no family knows it)."""
        family = self.families.get(spec.benchmark)
        return family.table_columns(spec) if family else (spec.group,)

    def select(self, names: Sequence[str]) -> list[Task]:
        """Tasks for names that are task or group names, in order, each once."""
        chosen: dict[str, Task] = {}
        for name in names:
            if name in self.tasks:
                chosen.setdefault(name, self.tasks[name])
            elif name in self.groups:
                for task_name in self.groups[name]:
                    chosen.setdefault(task_name, self.tasks[task_name])
            else:
                raise UnknownTaskError(self._unknown(name))
        return list(chosen.values())

    def _unknown(self, name: str) -> str:
        known = {n.lower(): n for n in [*self.groups, *self.tasks]}
        close = difflib.get_close_matches(name.lower(), list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(known[c]) for c in close)}?" if close else ""
        return f"unknown task or group '{name}'{hint} (`harness tasks` lists them)"


class _CallablePackage(types.ModuleType):
    """`harness.tasks` is this package and, called, the catalogue as a DataFrame (`harness.api.tasks`): the name
    the Python API gives the catalogue is the package's own, and importing the package must not hide it."""

    def __call__(self, data_dir=None):
        from harness.api import tasks

        return tasks(data_dir)


sys.modules[__name__].__class__ = _CallablePackage
