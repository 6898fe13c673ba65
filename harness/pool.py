"""Running the grid on every core of one machine: the pending cells in a pool of worker processes.

- `harness run --jobs N` (default: the usable cores) runs cells in N worker processes of a
  `concurrent.futures.ProcessPoolExecutor` (spawned, so each imports torch and mteb once). A worker
  keeps its last model loaded; cells are handed out longest first by their projected time
  (`harness.plan`; grid order without one), so a giant cell does not start last and hold the run up
  alone; lines are still printed in grid order.
- Cores: a cell may use the cores divided among the cells running at once for what splits without
  changing a score (`harness.cores`): a lone big cell at the end of a run gets every core.
- Threads: a static model's cell runs on one thread; a transformer's cell on the cores divided among
  the transformer cells that can run at once (`transformer_threads`), so two of them do not fight
  over the same cores. Seeds are set per cell, so a cell's scores do not depend on its worker.
- The parent writes every result through the atomic store as it arrives, and prints the cells' lines
  in grid order; resume and the isolation of failures are the local run's.
- A worker that dies (segfault, out-of-memory kill) breaks the pool: the cells that were running
  then are run again one at a time in a fresh worker, and the one that kills its worker again fails
  with a one-line reason; the other cells go on.
- Workers watch their parent and end within a second when it dies (even by kill -9): only the parent
  writes files, through the atomic store, so no result file is ever half-written (a parent killed in
  the middle of a write leaves a temporary file, which the next run removes) and a rerun resumes.
- Memory: each worker holds torch, mteb and one model (`WORKER_MEMORY_GB`); N is lowered, with a
  warning, to what the available memory holds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from harness.cores import given_cores, usable_cores
from harness.errors import HarnessError
from harness.mirror import Mirrors
from harness.runner import (Cell, CellOutcome, CellResult, Runner, WorkerCache, limited_threads, model_meta, one_line,
                            static_threads)
from harness.spec import ModelSpec
from harness.tasks.shared_corpora import waits_for

log = logging.getLogger(__name__)

WORKER_MEMORY_GB = 1.5
"""Peak memory of one worker with all-MiniLM-L6-v2 on the offline tasks (1.2 GB measured), rounded up."""

WORKER_START_S = 6.0
"""What a pool costs before its workers' first cells can end: spawning them, importing torch, mteb and the model's
library, loading the model (the four classification datasets of bench/bench_jobs.py --tasks: 4.6 s more with two
workers than one after another, though the two workers split 11 s of cells; rounded up)."""

_CACHE = WorkerCache()
"""This process's catalogue and model when it serves as a pool worker (unused by the parent)."""


def available_memory_gb() -> float | None:
    """MemAvailable from /proc/meminfo, in GB (None where there is no /proc)."""
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        return None
    return None


def choose_jobs(requested: int | None) -> int:
    """The number of workers: `requested`, else HARNESS_JOBS, else the usable cores; more than the
    cores, or more than the available memory holds, is lowered with a warning; below 1 is an error."""
    cores = usable_cores()
    if requested is None and os.environ.get("HARNESS_JOBS"):
        try:
            requested = int(os.environ["HARNESS_JOBS"])
        except ValueError:
            raise HarnessError(f"HARNESS_JOBS={os.environ['HARNESS_JOBS']!r}: expected a whole number") from None
    jobs = cores if requested is None else requested
    if jobs < 1:
        raise HarnessError(f"--jobs {jobs}: must be 1 or more (default: the {cores} usable cores)")
    if jobs > cores:
        log.warning("--jobs %d: only %d usable cores; running %d workers", jobs, cores, cores)
        jobs = cores
    memory = available_memory_gb()
    if memory is not None and jobs > 1 and jobs * WORKER_MEMORY_GB > memory:
        fit = max(1, int(memory // WORKER_MEMORY_GB))
        log.warning("--jobs %d: %.1f GB of memory available, ~%.1f GB per worker; running %d workers",
                    jobs, memory, WORKER_MEMORY_GB, fit)
        jobs = fit
    return jobs


def here_is_faster(seconds: Sequence[float | None], jobs: int, cores: Sequence[float] | None = None,
                   machine: float | None = None) -> bool:
    """Whether projected cells end sooner one after another in this process than dealt to `jobs` workers that
    start first: one cell, whatever its time (workers only add their start-up), or cells whose sum is within a
    pool's start-up of what the pool would take, its cells sharing the `machine`'s cores as their `cores` ask
    (`harness.plan.makespan`). Several cells, one of them of unknown time: the pool."""
    from harness.plan import makespan

    if len(seconds) == 1:
        return True
    if not seconds or any(s is None for s in seconds):
        return False
    return sum(seconds) <= makespan(seconds, jobs, cores, machine) + WORKER_START_S


def transformer_threads(cores: int, jobs: int, transformer_cells: int) -> int:
    """Torch threads for a transformer cell: the cores divided among the transformer cells that can
    run at once (at most one per worker)."""
    return max(1, cores // max(1, min(jobs, transformer_cells)))


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _start_worker(parent: int) -> None:
    """A worker's start (a spawned worker has the parent's environment: offline and cache switches,
    verbosity, probe seeds): libraries as quiet as the command, and a watch on the parent's life."""
    from harness.logs import quiet_libraries

    quiet_libraries()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def warm_up(loaders: list[str]) -> None:
    """A worker's first job: import the run's model libraries (and torch, mteb) while the parent prepares."""
    import mteb  # noqa: F401

    from harness.loaders import import_libraries

    import_libraries(loaders)


def run_cell(spec: ModelSpec, task, mirrors: Mirrors, threads: int, loader: Callable,
             evaluate: Callable, cores: int = 1) -> tuple[dict[str, Any] | None, CellOutcome]:
    """In a worker: evaluate one cell on `threads` torch/BLAS threads and `cores` cores for what splits
    without changing a score (`harness.cores`); the model's metadata (None when it did not load) and the
    cell's outcome."""
    with limited_threads(threads), given_cores(cores):
        try:
            encoder = _CACHE.encoder(spec, mirrors, loader)
        except Exception as exc:  # noqa: BLE001 - reported as this cell's failure
            return None, CellOutcome("failed", error=f"model load failed: {one_line(exc)}")
        outcome = evaluate(spec, task, encoder, mirrors)
    return model_meta(spec, encoder.info), outcome


def largest_first(cells: list[Cell], estimate: Callable[[Cell], float | None] | None) -> list[Cell]:
    """The cells by projected time, longest first (unknown ones after, in grid order), so that a giant cell
    does not start last and hold the run up alone. A cell whose corpus an earlier cell of its model encodes keeps
    its place (its projection is already the cell less the encoding it takes): the pool holds it while that cell
    runs (`next_ready`) and starts it as soon as that one ends, not after every other cell."""
    from harness.plan import longest_first

    return longest_first(cells, estimate) if estimate is not None else list(cells)


def next_ready(queue: Sequence[Cell], running: Iterable[Cell]) -> int | None:
    """The index in `queue` (the next cell last) of the cell to start now: the next one that need not wait for a
    running cell keeping the corpus it shares (`waits_for`); None when every one left waits."""
    return next((i for i in range(len(queue) - 1, -1, -1) if not waits_for(queue[i], running)), None)


class _InOrder:
    """Releases the cells' results to `record` in grid order, as soon as every earlier cell is done."""

    def __init__(self, cells: list[Cell], record: Callable[..., None]):
        self.position = {cell.key: i for i, cell in enumerate(cells)}
        self.record = record
        self.waiting: dict[int, CellResult] = {}
        self.next = 0

    def add(self, cell: Cell, result: CellResult) -> None:
        self.waiting[self.position[cell.key]] = result
        while self.next in self.waiting:
            self.record(self.waiting.pop(self.next), progress=False)
            self.next += 1


class PoolRunner(Runner):
    """A Runner whose pending cells run in `jobs` worker processes on this machine."""

    def __init__(self, *args, jobs: int, default_jobs: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.jobs = jobs
        self.default_jobs = default_jobs
        """Whether `jobs` is the default (the cores), not asked for: the run may then stay here (`here`)."""
        self.here = False
        """Run the cells one after another in this process after all (`here_is_faster`)."""
        self.cores = usable_cores()
        self._warm: ProcessPoolExecutor | None = None
        self._warming: list[Future] = []

    def start(self, specs=(), warm: int = 0) -> None:
        """Start workers now, at most one per model and task selector (`warm`; the cells are not known yet):
        they import torch, mteb and the models' libraries while the parent builds the task catalogue. The
        pool starts further workers when cells need them (a spawned pool starts its processes on demand), so
        one big cell does not share the cores with workers importing what it will never use."""
        if self._warm is None and warm > 0:
            self._warm = self._pool(self.jobs)
            loaders = sorted({s.loader for s in specs})
            self._warming = [self._warm.submit(warm_up, loaders) for _ in range(min(self.jobs, warm))]

    def close(self) -> None:
        if self._warm is not None:
            self._warm.shutdown(wait=False, cancel_futures=True)
            self._warm = None

    @property
    def where(self) -> str:
        return f"here in {self.jobs} worker processes"

    def execute(self, cells: list[Cell], record: Callable[..., None], bar) -> None:
        """Run the cells in the pool; after a worker died, the cells it may have been on, one at a time. Or,
        when the run was found faster here (`here`), one after another in this process."""
        if self.here:
            self.close()
            return Runner.execute(self, cells, record, bar)
        ordered = _InOrder(cells, record)
        left = {c.key for c in cells if c.spec.family == "transformer"}
        pending = largest_first(cells, self.estimate)
        while pending:
            pending, suspects = self._run_pool(pending, ordered, bar, left)
            for cell in suspects:
                self._run_alone(cell, ordered, bar, left)

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(os.getpid(),))

    def _submit(self, pool: ProcessPoolExecutor, cell: Cell, transformers_left: set, running: int = 1) -> Future:
        """Submit a cell; `running`: the cells that will run at once with it, among which the cores are divided."""
        threads = static_threads(cell.spec) or transformer_threads(self.cores, self.jobs, len(transformers_left))
        cores = max(1, self.cores // max(1, min(self.jobs, running)))
        return pool.submit(run_cell, cell.spec, cell.task, self.mirrors, threads, self.loader, self.evaluate, cores)

    def _run_pool(self, cells: list[Cell], ordered: _InOrder, bar, left: set) -> tuple[list[Cell], list[Cell]]:
        """Run `cells`, at most `jobs` at a time. When a worker dies: (the cells not started, the cells
        that were running); else two empty lists."""
        queue, in_flight = list(reversed(cells)), {}
        pool, self._warm = self._warm or self._pool(min(self.jobs, len(cells))), None  # the warm workers, once
        wait(self._warming)  # a cell submitted while they import would start a worker of its own
        self._warming = []
        with pool:
            while queue or in_flight:
                while queue and len(in_flight) < self.jobs:
                    index = next_ready(queue, in_flight.values())
                    if index is None:  # every cell left waits for a running one that keeps its corpus
                        break
                    cell = queue.pop(index)
                    try:
                        in_flight[self._submit(pool, cell, left, len(in_flight) + 1 + len(queue))] = cell
                    except BrokenProcessPool:  # a worker died since the last results came in
                        return list(reversed([*queue, cell])), self._settle_broken(in_flight, ordered, bar, left)
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    return list(reversed(queue)), self._settle_broken(in_flight, ordered, bar, left)
                for future in done:
                    self._finish(in_flight.pop(future), *future.result(), ordered, bar, left)
        return [], []

    def _settle_broken(self, in_flight: dict[Future, Cell], ordered: _InOrder, bar, left: set) -> list[Cell]:
        """After a worker died: keep what finished before it, and return the cells to run again."""
        suspects = []
        for future, cell in in_flight.items():
            if future.done() and future.exception() is None:
                self._finish(cell, *future.result(), ordered, bar, left)
            else:
                suspects.append(cell)
        log.warning("a worker process died; running its possible cells again one at a time: %s",
                    ", ".join(f"{c.spec.name} / {c.task.spec.name}" for c in suspects))
        return suspects

    def _run_alone(self, cell: Cell, ordered: _InOrder, bar, left: set) -> None:
        with self._pool(1) as pool:
            future = self._submit(pool, cell, left)
            try:
                meta, outcome = future.result()
            except BrokenProcessPool:
                meta, outcome = None, CellOutcome(
                    "failed", error="its worker process died (a crash, or killed for memory) each time it ran")
        self._finish(cell, meta, outcome, ordered, bar, left)

    def _finish(self, cell: Cell, meta: dict | None, outcome: CellOutcome, ordered: _InOrder, bar, left: set) -> None:
        spec = cell.spec
        if meta is not None:
            self.save_meta(spec, meta)
        left.discard(cell.key)
        bar.update(1)
        ordered.add(cell, self.save(cell, outcome))
