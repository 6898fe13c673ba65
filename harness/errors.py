"""Errors the harness reports to users as one line each."""

from __future__ import annotations

from collections.abc import Iterator


class HarnessError(Exception):
    """A user-facing error: one line that names the culprit and what to do about it."""


class RegistryError(HarnessError):
    """The model registry (a YAML file, an entry or a field) is malformed or a name is unknown."""


class UnknownTaskError(HarnessError):
    """A task or group name that the catalogue does not know."""


class DataUnavailableError(HarnessError):
    """A dataset cannot be found locally and cannot be fetched (e.g. offline)."""


class CorruptDataError(HarnessError):
    """A data file that is there but cannot be read (truncated, not gzip, not JSON)."""


class ModelUnavailableError(HarnessError):
    """A model cannot be found locally and cannot be fetched (e.g. offline)."""


class ResultsError(HarnessError):
    """A results file cannot be read or written."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions behind it, nearest first: each one's `__cause__` (raise ... from), else its
    `__context__` (raised while handling)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
