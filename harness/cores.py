"""How many cores a cell may use for work whose result does not depend on how it is split.

Encoding is per text, so a large input can be encoded in parallel batches (model2vec's own threaded
`encode`, with the batches of a sequential call: identical embeddings). What does depend on threads
(torch and the BLAS pools behind classifiers and k-means) keeps the one-thread rule of a static model's
cell (`harness.runner.limited_threads`). (mteb's `num_proc`, data prepared in processes, was measured and
left out: no gain on a million passages next to the threaded encode, and a process pool per step costs
small cells more than it saves.) The runner gives each cell its share of the machine: every usable core
for a run one cell after another, the cores divided among the cells running at once in a pool.
"""

from __future__ import annotations

import os

from harness.environ import environment

VARIABLE = "HARNESS_CELL_CORES"
_JOBLIB = "LOKY_MAX_CPU_COUNT"
"""joblib's own cap on the cores it counts (model2vec's threaded encode asks joblib for all of them)."""


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cell_cores() -> int:
    """The cores the running cell may use (1 outside a runner's cell: e.g. speeds are measured on one)."""
    try:
        return max(1, int(os.environ.get(VARIABLE, "1")))
    except ValueError:
        return 1


def given_cores(cores: int):
    """Inside the block (a context manager), the running cell may use `cores` cores."""
    return environment(**dict.fromkeys((VARIABLE, _JOBLIB), str(max(1, cores))))
