"""Running the grid on Ray: the pending cells go out as per-model units, results written by the driver.

- The pending cells of a model are split into units (`plan_units`): about as many as the cluster can
  run at once, shared between models by the cost of their cells, never two models in one unit. A
  unit is one Ray task (`ray.init(address)`; no address starts a local instance) that loads the
  model once and streams back one result per cell as soon as the cell is done (a Ray generator
  task), so a model is loaded by as few workers as the parallelism allows, not by every worker that
  happens to pick one of its cells.
- Resource hints per unit: `cpus_per_cell` CPUs; for a transformer model a GPU when the cluster has
  one (`gpus_per_transformer`), else `cpus_per_transformer` CPUs (at most a node's), since Ray gives
  a task as many torch threads as CPUs and one thread halves a transformer's speed on a big task.
  Cells already complete are never submitted (the local resume rule).
- The driver writes every result through the atomic result store as it arrives, so no shared
  filesystem is needed and the results directory is the same as after a local run. The data and
  model mirrors and the offline switches travel with the unit.
- A unit whose worker dies is resubmitted with its unfinished cells; the cell that was running when
  the worker died is charged one attempt and, after `retries` retries, reported as failed while the
  other cells go on. Errors inside a cell (bad data, model errors) are results, not retried.
- Per unit, the driver sends the model's registry entry, the task names and the offline/cache
  switches (a few hundred bytes; the mirrors once, through the object store) and gets back one
  result document (a few KB) per cell; data and models are read by the workers from their own
  mirrors or the hub. `--shard I/N` slices the same grid for schedulers without Ray.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.mirror import Mirrors
from harness.registry import ModelSpec
from harness.runner import Cell, CellOutcome, CellResult, Runner, evaluate_cell, model_meta, one_line

log = logging.getLogger(__name__)

FORWARDED_ENV = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HARNESS_CACHE_DIR", "HARNESS_CRASH_CELL", "HF_HOME")
CRASH_CELL = "HARNESS_CRASH_CELL"
"""Test hook: `<task name>:<times>:<folder>` makes the first `times` attempts of that task's cell exit
their worker process (attempts are counted in `<folder>/crashed-<task name>`)."""

_worker_state: dict[str, Any] = {}


def _crash_hook(task_name: str, value: str | None) -> None:
    if not value:
        return
    name, times, folder = value.split(":", 2)
    if name != task_name:
        return
    marker = Path(folder) / f"crashed-{name}"
    crashed = int(marker.read_text()) if marker.exists() else 0
    if crashed < int(times):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(crashed + 1))
        os._exit(1)


CELL_COST = {"static": 1, "transformer": 100}
"""A cell's relative cost by model family, for sharing the slots between models (all-MiniLM-L6-v2
encodes ~90 times slower than a static model on this harness's speed corpus, bench/bench_speed.py)."""


def plan_units(cells: list[Cell], capacity: Callable[[ModelSpec], int]) -> list[list[Cell]]:
    """The cells grouped into units of one model each, costliest first.

    `capacity(spec)` is how many units of that model the cluster can run at once. A model gets a
    share of its capacity in proportion to the cost of its cells in the grid (`CELL_COST`; at least
    one unit, at most one per cell); its cells are dealt round-robin over its units, in grid order.
    Units are listed costliest first, so the long ones start first."""
    by_model: dict[str, list[Cell]] = {}
    for cell in cells:
        by_model.setdefault(cell.spec.name, []).append(cell)

    def cost(group: list[Cell]) -> float:
        return len(group) * CELL_COST[group[0].spec.family]

    total = sum(cost(group) for group in by_model.values())
    units = []
    for group in by_model.values():
        count = min(len(group), max(1, round(capacity(group[0].spec) * cost(group) / total)))
        units.extend(group[i::count] for i in range(count))
    return sorted(units, key=cost, reverse=True)


def _worker_encoder(spec: ModelSpec, mirrors: Mirrors):
    """The unit's model, kept in the worker for the next unit of the same model."""
    from harness.encoders import load_encoder

    key = (spec.name, spec.id, spec.revision, spec.loader)
    if _worker_state.get("model_key") != key:
        _worker_state.pop("encoder", None)
        _worker_state.pop("model_key", None)
        _worker_state["encoder"] = load_encoder(spec, mirrors)
        _worker_state["model_key"] = key
    return _worker_state["encoder"]


def _use_assigned_cpus() -> None:
    """Run torch on as many threads as CPUs Ray reserved for this task (Ray's OMP_NUM_THREADS is read
    once, when torch is first imported, which may have been for a task with another CPU count)."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if cpus:
        torch.set_num_threads(max(1, int(cpus)))


def _worker_catalogue():
    from harness.tasks import Catalogue

    if "catalogue" not in _worker_state:
        _worker_state["catalogue"] = Catalogue()
    return _worker_state["catalogue"]


def warm_worker(loaders: list[str], env: dict[str, str]) -> None:
    """The body of a warm-up task: build the task catalogue and import the run's model libraries,
    while the driver is still preparing the grid."""
    os.environ.update(env)
    from harness.encoders import import_libraries

    _worker_catalogue()
    import_libraries(loaders)


def run_unit_on_worker(spec: ModelSpec, task_names: list[str], mirrors: Mirrors,
                       env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The body of a Ray generator task: evaluate the unit's cells in order, yielding each outcome
    (with the model's metadata) as soon as it is ready.

    `env` carries the driver's offline/cache switches, so a worker on any machine behaves alike."""
    os.environ.update(env)
    _use_assigned_cpus()
    catalogue = _worker_catalogue()
    try:
        encoder = _worker_encoder(spec, mirrors)
    except Exception as exc:  # noqa: BLE001 - reported as the failure of each of the unit's cells
        for name in task_names:
            yield {"task": name, "outcome": CellOutcome("failed", error=f"model load failed: {one_line(exc)}"),
                   "meta": None}
        return
    meta = model_meta(spec, encoder.info)
    for name in task_names:
        _crash_hook(name, env.get(CRASH_CELL))
        yield {"task": name, "outcome": evaluate_cell(spec, catalogue.tasks[name], encoder, mirrors), "meta": meta}


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class RayRunner(Runner):
    """A Runner whose pending cells run as Ray generator tasks, one model per unit."""

    def __init__(self, *args, address: str | None = None, cpus_per_cell: float = 1.0,
                 cpus_per_transformer: float = 4.0, gpus_per_transformer: float = 1.0, retries: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        if not ray_available():
            raise HarnessError("--ray needs the ray package: pip install '.[ray]'")
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.cpus_per_transformer = cpus_per_transformer
        self.gpus_per_transformer = gpus_per_transformer
        self.retries = retries
        self._connected = self._started = False
        self._warming: list[Any] = []

    def start(self, specs: Sequence[ModelSpec] = (), warm: int = 0) -> None:
        """Connect to (or start) Ray now, and let up to `warm` workers import the task catalogue and the
        libraries of these models while the driver prepares the grid. `close()` ends what this started."""
        import ray

        if self._connected:
            return
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._started = True
        self._connected = True
        loaders = sorted({s.loader for s in specs})
        warm_remote = ray.remote(warm_worker).options(num_cpus=self._cpus(self.cpus_per_cell))
        slots = int(ray.cluster_resources().get("CPU", 1) // self._cpus(self.cpus_per_cell))
        self._warming = [warm_remote.remote(loaders, self._env()) for _ in range(min(warm, max(1, slots)))]

    def close(self) -> None:
        import ray

        if self._started:
            ray.shutdown()
        self._started = self._connected = False
        self._warming = []

    @staticmethod
    def _env() -> dict[str, str]:
        return {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}

    @staticmethod
    def _cpus(wanted: float) -> float:
        """`wanted` CPUs, at most the CPUs of the largest live node (a larger request would never run)."""
        import ray

        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
        return min(wanted, largest) if largest > 0 else wanted

    def _resources(self, spec: ModelSpec) -> dict[str, float]:
        """The Ray resources of one of this model's units."""
        import ray

        if spec.family != "transformer":
            return {"num_cpus": self._cpus(self.cpus_per_cell), "num_gpus": 0}
        if ray.cluster_resources().get("GPU", 0) > 0:
            return {"num_cpus": self._cpus(self.cpus_per_cell), "num_gpus": self.gpus_per_transformer}
        return {"num_cpus": self._cpus(self.cpus_per_transformer), "num_gpus": 0}

    def _capacity(self, spec: ModelSpec) -> int:
        """How many of this model's units the cluster can run at once."""
        import ray

        total, needs = ray.cluster_resources(), self._resources(spec)
        fits = total.get("CPU", 0) // needs["num_cpus"] if needs["num_cpus"] else float("inf")
        if needs["num_gpus"]:
            fits = min(fits, total.get("GPU", 0) // needs["num_gpus"])
        return max(1, int(min(fits, 1e6)))

    def execute(self, cells: list[Cell], record: Callable[[CellResult], None], bar) -> None:
        import ray

        own_session = not self._connected
        self.start()
        try:
            remote = ray.remote(run_unit_on_worker)
            resources = {spec.name: self._resources(spec) for spec in {c.spec.name: c.spec for c in cells}.values()}
            mirrors = ray.put(self.mirrors)
            env = self._env()
            running: dict[Any, list[Cell]] = {}  # generator -> the unit's cells not reported yet

            def submit(unit: list[Cell]) -> None:
                spec = unit[0].spec
                gen = remote.options(**resources[spec.name], max_retries=0).remote(
                    spec, [c.task.spec.name for c in unit], mirrors, env)
                running[gen] = list(unit)

            for unit in plan_units(cells, self._capacity):
                submit(unit)
            attempts: Counter[tuple[str, str]] = Counter()
            done = failed = 0
            metas_written: set[str] = set()

            def finish(cell: Cell, outcome: CellOutcome, meta: dict[str, Any] | None) -> None:
                nonlocal done, failed
                if meta is not None and cell.spec.name not in metas_written:
                    self.store.write_model_meta(cell.spec.id, cell.spec.revision, meta)
                    metas_written.add(cell.spec.name)
                result = self.save(cell, outcome)
                done += result.status == "done"
                failed += result.status == "failed"
                record(result)
                bar.set_postfix(running=sum(map(len, running.values())), done=done, failed=failed)

            bar.set_postfix(running=len(cells), done=0, failed=0)
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                gen = ready[0]
                remaining = running[gen]
                try:
                    reply = ray.get(next(gen))
                except StopIteration:
                    running.pop(gen)
                    for cell in remaining:  # not expected: a unit yields once per cell
                        finish(cell, CellOutcome("failed", error="the worker's unit ended without this cell"), None)
                    continue
                except Exception as exc:  # noqa: BLE001 - the worker was lost mid-unit
                    running.pop(gen)
                    lost, rest = remaining[0], remaining[1:]
                    attempts[lost.key] += 1
                    gave_up = attempts[lost.key] > self.retries
                    if not gave_up:
                        rest = remaining
                        log.warning("%s / %s: worker lost (%s); retrying", lost.spec.name, lost.task.spec.name,
                                    one_line(exc))
                    if rest:
                        submit(rest)
                    if gave_up:
                        finish(lost, CellOutcome("failed", error=f"worker lost on each of {attempts[lost.key]} "
                                                                 f"attempts: {one_line(exc)}"), None)
                    continue
                cell = remaining.pop(0)
                assert reply["task"] == cell.task.spec.name, (reply["task"], cell.key)
                finish(cell, reply["outcome"], reply["meta"])
        finally:
            if own_session:
                self.close()
