"""Running the grid on Ray: the pending cells go out as per-model units, results written by the driver.

- `--ray ADDRESS` connects to that cluster (`auto`: `RAY_ADDRESS`, else the one `ray start` started
  on this machine); with no address, to `RAY_ADDRESS` when it is set (as under `ray job submit`),
  else to a local instance started for the run (never to a leftover one). The run releases what it opened: its
  connection, and the instance if it started one.
- The pending cells of a model are split into units (`plan_units`): about as many as the cluster can
  run at once, shared between models by the cost of their cells, never two models in one unit. A
  unit is one Ray generator task that loads the model once and streams back one result per cell as
  soon as the cell is done, so a model is loaded by as few workers as the parallelism allows, not
  by every worker that happens to pick one of its cells.
- Resources per unit (`unit_resources`): `cpus_per_cell` CPUs; for a transformer model a GPU when
  the cluster has one (`gpus_per_transformer`), else `cpus_per_transformer` CPUs, since torch runs
  on as many threads as CPUs reserved and one thread halves a transformer's speed on a big task.
  A request is capped at the largest node that could run it. These choices follow the nodes alive
  when the run starts; a request no live node can hold is warned about (naming the option) and
  waits, as Ray tasks do, for the cluster to add a node. Cells already complete are never submitted.
- The driver writes every result through the atomic result store as it arrives, so no shared
  filesystem is needed and the results directory is the same as after a local run. The data and
  model mirrors and the offline switches travel with the unit.
- A unit whose worker is lost (crash, OOM kill, node death) is resubmitted with its unfinished cells.
  The cell that was running is charged one attempt (the unit's model load, when the worker died
  loading it) and, after `retries` retries, reported as failed (with the unit's cells, for a load)
  while the other cells go on. The charge relies on the
  previous cell's result having reached the driver, which a real crash some time into a cell
  allows. Errors inside a cell (bad data, model errors) are results, and a unit that raises fails
  its unfinished cells once: neither is retried.
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
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.loaders import load_encoder
from harness.mirror import Mirrors
from harness.runner import Cell, CellOutcome, CellResult, Runner, WorkerCache, evaluate_cell, model_meta, one_line
from harness.spec import ModelSpec

log = logging.getLogger(__name__)

FORWARDED_ENV = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HARNESS_CACHE_DIR", "HF_HOME", "HARNESS_PROBE_SEEDS", "HARNESS_PLUGINS", "HARNESS_VERBOSE")
LOAD = "@load"
"""Stands for a unit's model load where attempts are counted per cell."""
STALL_CHECK_S = 300
"""How long the driver waits for a result before it warns about units no live node can hold."""


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


def fit_count(need: dict[str, float], nodes: Sequence[dict[str, float]]) -> int:
    """How many tasks asking for `need` (`num_cpus`, `num_gpus`) the nodes (Ray resource dicts) hold at once."""
    count = 0
    for node in nodes:
        fits = [node.get("CPU", 0) // need["num_cpus"]] if need["num_cpus"] else []
        if need["num_gpus"]:
            fits.append(node.get("GPU", 0) // need["num_gpus"])
        count += int(min(fits)) if fits else 1_000
    return count


def capped_need(cpus: float, gpus: float, nodes: Sequence[dict[str, float]]) -> dict[str, float]:
    """A Ray request for `cpus` CPUs and `gpus` GPUs, its CPUs capped at the largest node that has the GPUs."""
    largest = max((n.get("CPU", 0) for n in nodes if n.get("GPU", 0) >= gpus), default=0)
    return {"num_cpus": min(cpus, largest) if largest > 0 else cpus, "num_gpus": gpus}


def unit_resources(spec: ModelSpec, nodes: Sequence[dict[str, float]], *, cpus_per_cell: float,
                   cpus_per_transformer: float, gpus_per_transformer: float) -> dict[str, float]:
    """The Ray resources of one of this model's units on these nodes (`capped_need`)."""
    transformer = spec.family == "transformer"
    gpus = gpus_per_transformer if transformer and any(n.get("GPU", 0) > 0 for n in nodes) else 0
    return capped_need(cpus_per_transformer if transformer and not gpus else cpus_per_cell, gpus, nodes)


def ray_address(address: str | None) -> str:
    """What `ray.init` is given: the address asked for, else `RAY_ADDRESS`, else a new local instance."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


def _placement_warning(spec_name: str, need: dict[str, float]) -> str:
    return (f"no live Ray node can hold a unit of {spec_name} ({need['num_cpus']:g} CPUs, {need['num_gpus']:g} GPUs); "
            f"it waits for the cluster to add one (lower --ray-cpus-per-cell / --ray-cpus-per-transformer / "
            f"--ray-gpus-per-transformer if none will come)")


def _use_assigned_cpus() -> None:
    """Run torch on as many threads as CPUs Ray reserved for this task (Ray's OMP_NUM_THREADS is read
    once, when torch is first imported, which may have been for a task with another CPU count)."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if cpus:
        torch.set_num_threads(max(1, int(cpus)))


_WORKER = WorkerCache()
"""This process's cache when it serves as a Ray worker (unused by the driver)."""


def _take_env(env: dict[str, str]) -> None:
    """A Ray worker (on any machine) takes the driver's switches and is as quiet as the command."""
    from harness.logs import quiet_libraries

    os.environ.update(env)
    quiet_libraries()


def warm_worker(loaders: list[str], env: dict[str, str]) -> None:
    """The body of a warm-up task: build the task catalogue and import the run's model libraries,
    while the driver is still preparing the grid."""
    _take_env(env)
    from harness.loaders import import_libraries

    _WORKER.catalogue()
    import_libraries(loaders)


def run_unit_on_worker(spec: ModelSpec, task_names: list[str], mirrors: Mirrors, env: dict[str, str],
                       loader: Callable = load_encoder, evaluate: Callable = evaluate_cell) -> Iterator[dict[str, Any]]:
    """The body of a unit (a Ray generator task): load the model, yield its metadata (or the load
    error), then evaluate the cells in order, yielding each outcome as soon as it is ready.

    `env` carries the driver's offline/cache switches, so a worker on any machine behaves alike;
    `loader` and `evaluate` are the runner's (tests give ones that fail on purpose)."""
    _take_env(env)
    _use_assigned_cpus()
    catalogue = _WORKER.catalogue()
    try:
        encoder = _WORKER.encoder(spec, mirrors, loader)
    except Exception as exc:  # noqa: BLE001 - reported as the failure of each of the unit's cells
        yield {"load_error": f"model load failed: {one_line(exc)}"}
        return
    yield {"meta": model_meta(spec, encoder.info)}
    for name in task_names:
        task = catalogue.tasks.get(name)
        if task is None:
            outcome = CellOutcome("failed", error=f"task {name} is unknown to the harness on this worker; "
                                                  f"install the driver's harness version on every node")
        else:
            outcome = evaluate(spec, task, encoder, mirrors)
        yield {"task": name, "outcome": outcome}


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    """Ray's errors for a unit whose process or node went away (worth a retry)."""
    from ray import exceptions as rex

    return (rex.WorkerCrashedError, rex.NodeDiedError, rex.OutOfMemoryError, rex.ObjectLostError,
            rex.LocalRayletDiedError)


@dataclass
class _Unit:
    """A submitted unit: its cells not reported yet (in order) and whether its model has loaded."""

    cells: list[Cell]
    loaded: bool = False


@dataclass
class _Driving:
    """The driver's state while units run: what is running, attempts per cell (or model load), and
    what has been reported. Its methods are the steps of a run; `RayRunner._execute` strings them."""

    runner: RayRunner
    record: Callable[[CellResult], None]
    bar: Any
    needs: dict[str, dict[str, float]]
    mirrors_ref: Any
    env: dict[str, str]
    running: dict[Any, _Unit] = field(default_factory=dict)
    attempts: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    body: Any = None
    lost_errors: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        import ray

        self.body = ray.remote(self.runner.unit_body)  # exported to the cluster once per run
        self.lost_errors = _lost_worker_errors()

    def submit(self, cells: list[Cell]) -> None:
        spec = cells[0].spec
        gen = self.body.options(**self.needs[spec.name], max_retries=0).remote(
            spec, [c.task.spec.name for c in cells], self.mirrors_ref, self.env, self.runner.loader, self.runner.evaluate)
        self.running[gen] = _Unit(list(cells))

    def finish(self, cell: Cell, outcome: CellOutcome) -> None:
        result = self.runner.save(cell, outcome)
        self.counts[result.status] += 1
        self.record(result)
        self.bar.set_postfix(running=sum(len(u.cells) for u in self.running.values()), done=self.counts["done"],
                             failed=self.counts["failed"])

    def fail_all(self, unit: _Unit, error: str) -> None:
        remaining, unit.cells = unit.cells, []
        for cell in remaining:
            self.finish(cell, CellOutcome("failed", error=error))

    def lost(self, unit: _Unit, exc: BaseException) -> None:
        """The unit's worker went away: resubmit what is left, charging the cell (or model load) it was on."""
        if not unit.cells:
            return  # it died after its last result: nothing is lost
        first = unit.cells[0]
        key = first.key if unit.loaded else (LOAD, *first.key)  # a resubmitted unit keeps its first cell
        what = f"{first.spec.name} / {first.task.spec.name}" if unit.loaded else f"{first.spec.name}: model load"
        self.attempts[key] += 1
        if self.attempts[key] <= self.runner.retries:
            log.warning("%s: worker lost (%s); retrying", what, one_line(exc))
            self.submit(unit.cells)
            return
        reason = f"worker lost on each of {self.attempts[key]} attempts: {one_line(exc)}"
        if not unit.loaded:
            self.fail_all(unit, f"model load: {reason}")
            return
        if unit.cells[1:]:
            self.submit(unit.cells[1:])
        self.finish(first, CellOutcome("failed", error=reason))

    def take(self, gen) -> None:
        """The next item of a unit that has one ready: a result, its model's metadata, or its end."""
        import ray

        unit = self.running[gen]
        try:
            reply = ray.get(next(gen))
        except StopIteration:
            self.running.pop(gen)
            self.fail_all(unit, "the unit ended without this cell's result")  # not expected
            return
        except self.lost_errors as exc:
            self.running.pop(gen)
            _cancel(gen)
            self.lost(unit, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the unit itself raised: its cells fail, no retry
            self.running.pop(gen)
            self.fail_all(unit, f"unit failed: {one_line(getattr(exc, 'cause', None) or exc)}")
            return
        self.answer(unit, reply)

    def answer(self, unit: _Unit, reply: dict[str, Any]) -> None:
        if "load_error" in reply:
            self.fail_all(unit, reply["load_error"])
        elif "meta" in reply:  # the first item: the unit still holds all its cells
            unit.loaded = True
            self.runner.save_meta(unit.cells[0].spec, reply["meta"])
        else:
            cell = unit.cells.pop(0)
            if reply["task"] != cell.task.spec.name:
                raise HarnessError(f"Ray unit of {cell.spec.name} returned {reply['task']} for "
                                   f"{cell.task.spec.name}; the worker runs another harness version")
            self.finish(cell, reply["outcome"])


class RayRunner(Runner):
    """A Runner whose pending cells run as Ray generator tasks, one model per unit."""

    unit_body = staticmethod(run_unit_on_worker)
    """What a unit runs on its worker (a generator function with `run_unit_on_worker`'s signature)."""

    def __init__(self, *args, address: str | None = None, cpus_per_cell: float = 1.0,
                 cpus_per_transformer: float = 4.0, gpus_per_transformer: float = 1.0, retries: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        if not ray_available():
            raise HarnessError("--ray needs the ray package: pip install '.[ray]'")
        for option, value, floor in (("cpus-per-cell", cpus_per_cell, 0), ("cpus-per-transformer", cpus_per_transformer, 0),
                                     ("gpus-per-transformer", gpus_per_transformer, None), ("retries", retries, None)):
            if value < 0 or (floor is not None and value <= floor):
                raise HarnessError(f"--ray-{option} {value}: must be {'above' if floor is not None else 'at least'} 0")
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.cpus_per_transformer = cpus_per_transformer
        self.gpus_per_transformer = gpus_per_transformer
        self.retries = retries
        self._connected = self._started = False
        self._warming: list[Any] = []

    def start(self, specs: Sequence[ModelSpec] = (), warm: int = 0) -> None:
        """Connect to (or start) Ray now, and let up to `warm` workers import the task catalogue and the
        libraries of these models while the driver prepares the grid. `close()` releases what this opened."""
        import ray

        if self._connected:
            return
        if not ray.is_initialized():
            self._started = True
            address = ray_address(self.address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise HarnessError(f"--ray {address}: cannot connect to Ray ({one_line(exc)}); "
                                   f"start one with `ray start --head` or check the address") from exc
        self._connected = True
        if warm > 0:
            nodes = self._live_nodes()
            need = capped_need(self.cpus_per_cell, 0, nodes)
            loaders = sorted({s.loader for s in specs})
            remote = ray.remote(warm_worker).options(**need)
            self._warming = [remote.remote(loaders, self._env()) for _ in range(min(warm, fit_count(need, nodes)))]

    @property
    def where(self) -> str:
        address = ray_address(self.address)
        return "Ray (local instance)" if address == "local" else f"Ray {address}"

    def close(self) -> None:
        """Disconnect from Ray (stopping the local instance when this runner started one)."""
        import ray

        if self._started:
            ray.shutdown()
        self._started = self._connected = False
        self._warming = []

    @staticmethod
    def _env() -> dict[str, str]:
        return {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}

    @staticmethod
    def _live_nodes() -> list[dict[str, float]]:
        import ray

        return [n["Resources"] for n in ray.nodes() if n.get("Alive")]

    def _resources(self, spec: ModelSpec, nodes: Sequence[dict[str, float]]) -> dict[str, float]:
        return unit_resources(spec, nodes, cpus_per_cell=self.cpus_per_cell,
                              cpus_per_transformer=self.cpus_per_transformer,
                              gpus_per_transformer=self.gpus_per_transformer)

    def execute(self, cells: list[Cell], record: Callable[[CellResult], None], bar) -> None:
        own_session = not self._connected
        try:
            self.start()
            self._execute(cells, record, bar)
        finally:
            if own_session:
                self.close()

    def _execute(self, cells: list[Cell], record: Callable[[CellResult], None], bar) -> None:
        """Plan the units, submit them, then take each result as it arrives until none is running."""
        import ray

        nodes = self._live_nodes()
        needs = {spec.name: self._resources(spec, nodes) for spec in {c.spec.name: c.spec for c in cells}.values()}
        for name, need in needs.items():
            if fit_count(need, nodes) == 0:
                log.warning(_placement_warning(name, need))
        driving = _Driving(self, record, bar, needs, ray.put(self.mirrors), self._env())
        for unit_cells in plan_units(cells, lambda spec: max(1, fit_count(needs[spec.name], nodes))):
            driving.submit(unit_cells)
        bar.set_postfix(running=len(cells), done=0, failed=0)
        while driving.running:
            ready, _ = ray.wait(list(driving.running), num_returns=1, timeout=STALL_CHECK_S)
            if ready:
                driving.take(ready[0])
            else:
                self._warn_unplaceable(driving.running, needs)

    def _warn_unplaceable(self, running: dict[Any, _Unit], needs: dict[str, dict[str, float]]) -> None:
        """After a long wait: name the models whose waiting units no live node can hold (e.g. their node died)."""
        nodes = self._live_nodes()
        waiting = {u.cells[0].spec.name for u in running.values() if u.cells and not u.loaded}
        for name in sorted(waiting):
            if fit_count(needs[name], nodes) == 0:
                log.warning(_placement_warning(name, needs[name]))


def _cancel(gen) -> None:
    """Stop a unit that is no longer followed (a no-op when its worker is gone)."""
    import ray

    try:
        ray.cancel(gen)
    except Exception:  # noqa: BLE001 - best effort
        pass
