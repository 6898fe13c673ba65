"""Environment variables set for the duration of a call, then put back as they were: the switches of a
command or an API call (offline, probe seeds) and the cores of a runner's cell."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import HarnessError
from harness.mirror import OFFLINE_VARIABLES


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (a value) or leave (None) environment variables inside the block, then restore them."""
    before = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is not None:
                os.environ[key] = value
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_switches(offline: bool | None, probe_seeds: int | None) -> dict[str, str | None]:
    """The environment a run's options set (as `harness run --offline --probe-seeds K` does)."""
    if probe_seeds is not None and probe_seeds < 0:
        raise HarnessError(f"--probe-seeds {probe_seeds}: must be 0 or more")
    switches: dict[str, str | None] = dict.fromkeys(OFFLINE_VARIABLES, "1") if offline else {}
    if probe_seeds is not None:
        switches["HARNESS_PROBE_SEEDS"] = str(probe_seeds)
    return switches
