"""Running the grid on Ray: one Ray task per (model, task) cell, results written by the driver.

- Each pending cell becomes a Ray task (`ray.init(address)`; no address starts a local instance)
  with resource hints: `cpus_per_cell` CPUs, and a GPU for transformer models when the cluster has
  one (`gpus_per_transformer`). Cells already complete are never submitted (the local resume rule).
- A worker loads the model (kept for the next cell of the same model on that worker), evaluates the
  cell with the same code as a local run and returns the result document; the driver writes it
  through the atomic result store, so no shared filesystem is needed and the results directory is
  the same as after a local run. The data and model mirrors and the offline switches go to the
  workers with the task.
- A cell whose worker dies is retried by Ray up to `retries` times, then reported as failed; the
  other cells finish. Errors inside a task (bad data, model errors) are results, not retried.
- Per cell, the driver sends the model's registry entry, the task's name and the offline/cache
  switches (a few hundred bytes; the mirrors once, through the object store) and gets back one
  result document (a few KB); data and models are read by the workers from their own mirrors or
  the hub. `--shard I/N` slices the same grid for schedulers without Ray.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.mirror import Mirrors
from harness.registry import ModelSpec
from harness.runner import Cell, CellOutcome, CellResult, Runner, evaluate_cell, model_meta, one_line

log = logging.getLogger(__name__)

FORWARDED_ENV = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "HARNESS_CACHE_DIR", "HARNESS_CRASH_ONCE", "HF_HOME")
CRASH_ONCE = "HARNESS_CRASH_ONCE"
"""Test hook: `<task name>:<folder>` makes the first attempt of that task's cell exit its process."""

_worker_state: dict[str, Any] = {}


def _crash_hook(task_name: str, value: str | None) -> None:
    if not value:
        return
    name, folder = value.split(":", 1)
    marker = Path(folder) / f"crashed-{name}"
    if name == task_name and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os._exit(1)


def run_cell_on_worker(spec: ModelSpec, task_name: str, mirrors: Mirrors, env: dict[str, str]) -> dict[str, Any]:
    """The body of a Ray task: evaluate one cell, return its outcome and the model's metadata.

    `env` carries the driver's offline/cache switches, so a worker on any machine behaves alike."""
    os.environ.update(env)
    from harness.encoders import load_encoder
    from harness.tasks import Catalogue

    _crash_hook(task_name, env.get(CRASH_ONCE))
    if "catalogue" not in _worker_state:
        _worker_state["catalogue"] = Catalogue()
    task = _worker_state["catalogue"].tasks[task_name]
    key = (spec.name, spec.id, spec.revision, spec.loader)
    if _worker_state.get("model_key") != key:
        _worker_state.pop("encoder", None)
        try:
            _worker_state["encoder"] = load_encoder(spec, mirrors)
        except Exception as exc:  # noqa: BLE001 - reported as this cell's failure
            return {"outcome": CellOutcome("failed", error=f"model load failed: {one_line(exc)}"), "meta": None}
        _worker_state["model_key"] = key
    encoder = _worker_state["encoder"]
    return {"outcome": evaluate_cell(spec, task, encoder, mirrors), "meta": model_meta(spec, encoder.info)}


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class RayRunner(Runner):
    """A Runner whose pending cells run as Ray tasks."""

    def __init__(self, *args, address: str | None = None, cpus_per_cell: float = 1.0,
                 gpus_per_transformer: float = 1.0, retries: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        if not ray_available():
            raise HarnessError("--ray needs the ray package: pip install '.[ray]'")
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_transformer = gpus_per_transformer
        self.retries = retries

    def _init(self) -> bool:
        """Connect to (or start) Ray; True when this runner started it and must shut it down."""
        import ray

        if ray.is_initialized():
            return False
        ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        return True

    def _options(self, spec: ModelSpec, has_gpu: bool) -> dict[str, Any]:
        gpus = self.gpus_per_transformer if has_gpu and spec.family == "transformer" else 0
        return {"num_cpus": self.cpus_per_cell, "num_gpus": gpus, "max_retries": self.retries,
                "retry_exceptions": False}

    def execute(self, cells: list[Cell], record: Callable[[CellResult], None], bar) -> None:
        import ray

        started = self._init()
        try:
            remote = ray.remote(run_cell_on_worker)
            has_gpu = ray.cluster_resources().get("GPU", 0) > 0
            mirrors = ray.put(self.mirrors)
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            running = {remote.options(**self._options(c.spec, has_gpu)).remote(c.spec, c.task.spec.name, mirrors, env): c
                       for c in cells}
            done = failed = 0
            metas_written: set[str] = set()
            while running:
                bar.set_postfix(running=len(running), done=done, failed=failed)
                ready, _ = ray.wait(list(running), num_returns=1)
                cell = running.pop(ready[0])
                try:
                    reply = ray.get(ready[0])
                    outcome, meta = reply["outcome"], reply["meta"]
                except Exception as exc:  # noqa: BLE001 - a lost worker after its retries
                    outcome, meta = CellOutcome("failed", error=f"lost after {self.retries} retries: "
                                                                f"{one_line(exc)}"), None
                if meta is not None and cell.spec.name not in metas_written:
                    self.store.write_model_meta(cell.spec.id, cell.spec.revision, meta)
                    metas_written.add(cell.spec.name)
                result = self.save(cell, outcome)
                done += result.status == "done"
                failed += result.status == "failed"
                record(result)
            bar.set_postfix(running=0, done=done, failed=failed)
        finally:
            if started:
                ray.shutdown()
