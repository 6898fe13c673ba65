"""Errors the harness reports to users as one line each."""


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
