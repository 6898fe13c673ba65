"""The runner: every (model, task) cell of a run, with resume and isolation of failures.

A model is loaded only when one of its tasks still has to run; a model that cannot be loaded and a
task that raises are recorded, and every other cell still runs. Each finished task is written at
once (atomically), so an interrupted run loses at most the task in progress.
"""

from __future__ import annotations

import functools
import gc
import importlib.metadata
import logging
import platform
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

import harness
from harness.cores import cell_cores, given_cores, usable_cores
from harness.encoders import Encoder, EncoderInfo
from harness.loaders import load_encoder
from harness.errors import DataUnavailableError, HarnessError, ResultsError, causes
from harness.mirror import Mirrors, is_offline
from harness.spec import ModelSpec
from harness.results import ResultStore, TaskKey, null_non_finite, protocol_score
from harness.tasks import Task, TaskOutcome

log = logging.getLogger(__name__)

Status = Literal["done", "skipped", "failed", "unavailable"]
SEED = 42
_PACKAGES = ("mteb", "model2vec", "sentence-transformers", "transformers", "torch", "numpy", "scipy", "scikit-learn",
             "datasets")


@dataclass
class CellResult:
    model: str
    task: str
    status: Status
    score: float | None = None
    seconds: float = 0.0
    path: Path | None = None
    error: str | None = None

    def line(self) -> str:
        """The summary line printed for this cell."""
        head = f"[{self.status}] {self.model} / {self.task}"
        if self.status == "skipped" and self.score is not None:
            return f"{head}: main_score {self.score:.4f}, already in {self.path}"
        if self.status == "done" and self.score is not None:
            return f"{head}: main_score {self.score:.4f} ({self.seconds:.1f} s) -> {self.path}"
        return f"{head}: {self.error}"


@dataclass
class RunReport:
    cells: list[CellResult]

    def by_status(self, status: Status) -> list[CellResult]:
        return [c for c in self.cells if c.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("failed") and not self.by_status("unavailable")


def package_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a score (read once per process)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str], ...]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return tuple(versions.items())


def torch_threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:
        return 1


STATIC_CELL_THREADS = 1
"""A static model's cell runs on one thread wherever it runs (here, in a pool worker, on Ray): its
scores then do not depend on the runner (multi-threaded BLAS sums in another order, which moves a
classifier's convergence: GloVe_6B_50d Banking77Classification 46.588 on 2 threads, 46.571 on 1)."""


def static_threads(spec: ModelSpec) -> int | None:
    """How many threads a cell of this model runs on whatever the runner: one for a static model;
    None for a transformer, whose threads the runner gives from the cores it has."""
    return STATIC_CELL_THREADS if spec.family != "transformer" else None


def reset_peak_rss() -> None:
    """Start this process's peak-memory mark afresh (Linux: VmHWM), so a cell's own peak can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since the last reset, in MiB (None where /proc has none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextmanager
def limited_threads(threads: int | None) -> Iterator[None]:
    """torch and the BLAS/OpenMP pools (numpy, scikit-learn) on `threads` threads inside the block
    (None: as they are)."""
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message for our errors, `Type: first line` otherwise."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def result_payload(task: Task, outcome: TaskOutcome, info: EncoderInfo, seconds: float) -> dict[str, Any]:
    """A result document: mteb's TaskResult fields plus the harness provenance block."""
    versions = package_versions()
    scores, nulled = null_non_finite(outcome.scores)
    return {
        "dataset_revision": outcome.dataset_revision,
        "task_name": task.spec.name,
        "mteb_version": versions.get("mteb"),
        "scores": scores,
        "evaluation_time": seconds,
        "kg_co2_emissions": None,
        "date": time.time(),
        "harness": {
            "version": harness.__version__,
            "packages": versions,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "task": {
                "benchmark": task.spec.benchmark,
                "group": task.spec.group,
                "split": task.spec.split,
                "subset": task.spec.subset,
                "main_score": task.spec.main_score,
            },
            "data": {**outcome.data.as_provenance(), "revision": outcome.dataset_revision, **outcome.extra},
            "model": info.provenance(),
            "seed": SEED,
            "threads": torch_threads(),
            "offline": is_offline(),
            "non_finite_as_null": nulled,
        },
    }


def model_meta(spec: ModelSpec, info: EncoderInfo) -> dict[str, Any]:
    """`model_meta.json` in mteb's field names, from the registry entry and the loaded model."""
    return {
        "name": spec.id,
        "revision": spec.revision,
        "n_parameters": info.n_parameters if info.n_parameters is not None else round(spec.params_m * 1e6),
        "embed_dim": info.dim,
        "reference": spec.link,
        "similarity_fn_name": "cosine",
        "framework": [info.framework],
        "loader": spec.loader,
        "harness": {"display_name": spec.name, "library": info.library, "family": spec.family,
                    "task_specific": spec.task_specific, "params_m": spec.params_m, "teacher": spec.teacher,
                    "recipe": spec.recipe.model_dump() if spec.recipe else None},
    }


def _main_score(task: Task, outcome: TaskOutcome) -> float:
    found = protocol_score(outcome.scores, TaskKey.model_validate(task.spec))
    if found is None:
        raise ResultsError(f"task {task.spec.name}: no finite {task.spec.main_score} for split {task.spec.split!r} "
                           f"subset {task.spec.subset!r} (NaN: constant or empty embeddings?)")
    return found.value


@dataclass(frozen=True)
class Cell:
    """One (model, task) pair of a run's grid."""

    spec: ModelSpec
    task: Task

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.name, self.task.spec.name)


@dataclass
class CellOutcome:
    """What evaluating one cell produced, before anything is written."""

    status: Status
    score: float | None = None
    seconds: float = 0.0
    payload: dict[str, Any] | None = None
    error: str | None = None


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (0 <= I < N) as a pair, or a one-line error."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise HarnessError(f"--shard '{text}': expected I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise HarnessError(f"--shard '{text}': needs 0 <= I < N")
    return index, count


def select_shard(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """A deterministic 1/count slice of the grid: the cells whose rank in (model, task) order is
    `index` modulo `count`. The `count` slices together hold every cell exactly once."""
    rank = {c.key: i for i, c in enumerate(sorted(cells, key=lambda c: c.key))}
    return [c for c in cells if rank[c.key] % count == index]


class WorkerCache:
    """What a worker process keeps between the cells it runs: the task catalogue, and its last model
    (for the next cell or unit of the same model)."""

    def __init__(self):
        self._catalogue = None
        self._model: tuple[tuple, Any] | None = None

    def catalogue(self):
        from harness.tasks import Catalogue

        if self._catalogue is None:
            self._catalogue = Catalogue()
        return self._catalogue

    def encoder(self, spec: ModelSpec, mirrors: Mirrors, loader: Callable):
        """The model of `spec`, loaded once; a load that failed fails again at once for the model's next
        cells on this worker, as a local run fails all of a model's cells after one try."""
        key = (spec.name, spec.id, spec.revision, spec.loader)
        if self._model is None or self._model[0] != key:
            self._model = None
            gc.collect()
            try:
                self._model = (key, loader(spec, mirrors))
            except Exception as exc:
                self._model = (key, HarnessError(one_line(exc)))
                raise
        if isinstance(self._model[1], HarnessError):
            raise self._model[1]
        return self._model[1]


def evaluate_cell(spec: ModelSpec, task: Task, encoder: Encoder, mirrors: Mirrors) -> CellOutcome:
    """Evaluate one cell (seeded; a static model's on one thread, whatever the runner) into a result
    document; no file is written here."""
    seed_everything(SEED)
    reset_peak_rss()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with limited_threads(static_threads(spec)):  # the payload records the threads used
            outcome = task.evaluate(encoder, mirrors)
            score = _main_score(task, outcome)
            seconds = time.perf_counter() - start
            payload = result_payload(task, outcome, encoder.info, seconds)
            payload["harness"]["peak_rss_mb"] = peak_rss_mb()  # the process's, this cell's high-water mark
            # the process's CPU time in the cell, every thread's: over its seconds, the cores it kept busy
            payload["harness"]["cpu_seconds"] = round(time.process_time() - cpu, 2)
            # the cores it was given of its machine's: fewer when other cells ran beside it (a pool's)
            payload["harness"]["cell_cores"], payload["harness"]["machine_cores"] = cell_cores(), usable_cores()
            return CellOutcome("done", score, seconds, payload)
    except DataUnavailableError as exc:
        return CellOutcome("unavailable", error=one_line(exc))
    except Exception as exc:  # noqa: BLE001 - a failing task is recorded, the run goes on
        if interrupted(exc):
            raise KeyboardInterrupt from exc
        log.debug("task %s failed for %s", task.spec.name, spec.name, exc_info=True)
        return CellOutcome("failed", seconds=time.perf_counter() - start, error=one_line(exc))


def interrupted(exc: BaseException) -> bool:
    """Whether an error is a Ctrl-C in disguise: a library turned the KeyboardInterrupt into its own error (a
    wrapper raised from it), or cancelled its work on SIGINT (pyarrow's `ArrowCancelled`, whose `signum` says which
    signal). Such a cell stops the run as an interrupt; it is not a failed cell the run goes on after."""
    import signal

    return any(isinstance(e, KeyboardInterrupt) or getattr(e, "signum", None) == signal.SIGINT for e in causes(exc))


class Runner:
    """Runs the grid of models × tasks into a result store, one model loaded at a time."""

    def __init__(
        self,
        store: ResultStore,
        mirrors: Mirrors,
        *,
        overwrite: bool = False,
        loader: Callable[[ModelSpec, Mirrors], Encoder] = load_encoder,
        evaluate: Callable[[ModelSpec, Task, Encoder, Mirrors], CellOutcome] = evaluate_cell,
        progress: bool = True,
        echo: Callable[[str], None] | None = None,
        estimate: Callable[[Cell], float | None] | None = None,
    ):
        self.estimate = estimate
        """Projected seconds of a cell (`harness.plan`): pools start the largest cells first."""
        self.store = store
        self.mirrors = mirrors
        self.overwrite = overwrite
        self.loader = loader
        self.evaluate = evaluate
        self.progress = progress
        self.echo = echo or (lambda line: None)
        self._metas: set[str] = set()

    where = "here"
    """Where the cells run, for the run's first line."""

    def start(self, specs: Sequence[ModelSpec] = (), warm: int = 0) -> None:
        """Get ready to run these models (nothing to do for a local run)."""

    def close(self) -> None:
        """Release what the runner holds beyond one `run` (nothing for a local run)."""

    def _complete(self, spec: ModelSpec, task: Task) -> CellResult | None:
        """A `skipped` cell when the task is already complete (and not overwritten)."""
        if self.overwrite:
            return None
        try:
            done = self.store.completed(spec.id, spec.revision, TaskKey.model_validate(task.spec))
        except ResultsError as exc:
            log.warning("%s; it will be recomputed", exc)
            return None
        if done is None:
            return None
        return CellResult(spec.name, task.spec.name, "skipped", score=done.value,
                          path=self.store.path(spec.id, spec.revision, task.spec.name))

    @staticmethod
    def grid(specs: Sequence[ModelSpec], tasks: Sequence[Task], shard: tuple[int, int] | None = None) -> list[Cell]:
        """The run's cells (model-major), or one shard of them."""
        cells = [Cell(spec, task) for spec in specs for task in tasks]
        return select_shard(cells, *shard) if shard is not None else cells

    def pending(self, cells: Sequence[Cell]) -> list[Cell]:
        """The cells a run would evaluate (not done before, not without data offline)."""
        return [cell for cell in cells if self._triage(cell) is None]

    def _triage(self, cell: Cell) -> CellResult | None:
        """The cell's result when it needs no evaluation (done before, or no data offline)."""
        done = self._complete(cell.spec, cell.task)
        if done is not None:
            return done
        if is_offline() and (missing := cell.task.missing_data(self.mirrors)):
            task = cell.task.spec
            return CellResult(cell.spec.name, task.name, "unavailable",
                              error=f"{task.benchmark} {task.name}: {missing}; offline")
        return None

    def save_meta(self, spec: ModelSpec, meta: dict[str, Any]) -> None:
        """Write a model's metadata, once per run (workers send it with each cell or unit)."""
        if spec.name not in self._metas:
            self.store.write_model_meta(spec.id, spec.revision, meta)
            self._metas.add(spec.name)

    def save(self, cell: Cell, outcome: CellOutcome) -> CellResult:
        """Write a finished cell's document through the store; the cell's summary."""
        spec, name = cell.spec, cell.task.spec.name
        if outcome.status != "done":
            return CellResult(spec.name, name, outcome.status, seconds=outcome.seconds, error=outcome.error)
        path = self.store.write(spec.id, spec.revision, name, outcome.payload)
        return CellResult(spec.name, name, "done", score=outcome.score, seconds=outcome.seconds, path=path)

    def run(self, specs: Sequence[ModelSpec], tasks: Sequence[Task],
            shard: tuple[int, int] | None = None) -> RunReport:
        from tqdm.auto import tqdm

        cells = self.grid(specs, tasks, shard)
        results: list[CellResult] = []
        bar = tqdm(total=len(cells), unit="task", disable=not self.progress, dynamic_ncols=True)

        def record(result: CellResult, progress: bool = True) -> None:
            """Keep and print a cell's result (and move the bar, unless the runner moved it on arrival)."""
            results.append(result)
            if progress:
                bar.update(1)
            bar.write(result.line()) if self.progress else self.echo(result.line())

        try:
            pending = []
            for cell in cells:
                settled = self._triage(cell)
                if settled is not None:
                    record(settled)
                else:
                    pending.append(cell)
            if pending:
                self.execute(pending, record, bar)
        finally:
            bar.close()
        return RunReport(results)

    def execute(self, cells: list[Cell], record: Callable[[CellResult], None], bar) -> None:
        """Evaluate `cells` here, model by model, each model loaded once."""
        by_model: dict[str, list[Cell]] = {}
        for cell in cells:
            by_model.setdefault(cell.spec.name, []).append(cell)
        for group in by_model.values():
            self._run_model(group, record, bar)

    def _run_model(self, cells: list[Cell], record, bar) -> None:
        spec = cells[0].spec
        bar.set_description(f"{spec.name}: loading")
        try:
            encoder = self.loader(spec, self.mirrors)
        except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
            reason = f"model load failed: {one_line(exc)}"
            for cell in cells:
                record(CellResult(spec.name, cell.task.spec.name, "failed", error=reason))
            return
        try:
            self.save_meta(spec, model_meta(spec, encoder.info))
            for cell in cells:
                bar.set_description(f"{spec.name}: {cell.task.spec.name}")
                cores = usable_cores()  # one cell at a time: it may use every core; a transformer runs torch on
                with given_cores(cores), limited_threads(static_threads(spec) or cores):  # them, as in a worker
                    record(self.save(cell, self.evaluate(spec, cell.task, encoder, self.mirrors)))
        finally:
            del encoder
            gc.collect()


def each_model(specs: Sequence[ModelSpec], skip: Callable[[ModelSpec], str | None], work: Callable[[ModelSpec], str],
               echo: Callable[[str], None], warn: Callable[[str], None]) -> int:
    """One piece of work per model, with the run's rules: `skip(spec)` says why a model needs nothing
    (or None), else `work(spec)` does it and says what it did. A model whose work raises is reported
    failed in one line and the others go on; a results folder that cannot be written stops all.
    Returns the number of failures."""
    failed = 0
    for spec in specs:
        why = skip(spec)
        if why is not None:
            echo(f"[skipped] {spec.name}: {why}")
            continue
        try:
            echo(f"[done] {spec.name}: {work(spec)}")
        except ResultsError:
            raise
        except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
            warn(f"[failed] {spec.name}: {one_line(exc)}")
            failed += 1
    return failed
