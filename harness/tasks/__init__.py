"""The task catalogue: every task the harness can run, by name and by group.

Nothing is loaded at import time: a task reads its data only when it is evaluated.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.data import DataSource
from harness.encoders import Encoder
from harness.errors import UnknownTaskError
from harness.mirror import Mirrors


@dataclass(frozen=True)
class TaskSpec:
    """What the catalogue knows about a task before any data is read."""

    name: str
    """Result file name (`<name>.json`) and what `-t` takes."""
    benchmark: str
    """`MTEB`, `PEARL` or `WordSim`."""
    group: str
    """Table column the task counts towards (an MTEB task type, `PEARL` or `WordSim`)."""
    main_score: str
    split: str = "test"
    subset: str = "default"
    languages: tuple[str, ...] = ("eng-Latn",)
    description: str = ""
    metric_aliases: tuple[str, ...] = ()
    """Older names of `main_score` in result files of earlier versions (e.g. Reranking's `map` before mteb 2)."""
    benchmark_split: str | None = None
    """The split the benchmark's own definition evaluates when it is not the protocol's (MSMARCO: `dev`)."""


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


def _all_tasks() -> list[Task]:
    from harness.tasks.mteb_tasks import mteb_tasks
    from harness.tasks.pearl import pearl_tasks
    from harness.tasks.wordsim import wordsim_tasks

    return [*mteb_tasks(), *pearl_tasks(), *wordsim_tasks()]


def _aliases() -> dict[str, list[str]]:
    from harness.tasks.mteb_tasks import aggregates

    return aggregates()


class Catalogue:
    """Tasks by name, and the groups that select several at once: each table group (`STS`,
    `Retrieval`, ..., `WordSim`), each benchmark (`MTEB`, ...) and each aggregate (`CQADupstackRetrieval`)."""

    def __init__(self, tasks: Sequence[Task] | None = None, aliases: dict[str, list[str]] | None = None):
        if tasks is None:
            tasks, aliases = _all_tasks(), _aliases()
        tasks = list(tasks)
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            if task.spec.name in self.tasks:
                raise ValueError(f"duplicate task name {task.spec.name!r}")
            self.tasks[task.spec.name] = task
        self.groups: dict[str, list[str]] = {}
        for task in tasks:
            self.groups.setdefault(task.spec.group, []).append(task.spec.name)
            if task.spec.benchmark != task.spec.group:
                self.groups.setdefault(task.spec.benchmark, []).append(task.spec.name)
        for alias, names in (aliases or {}).items():
            self.groups[alias] = list(names)

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
