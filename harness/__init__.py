"""Benchmark harness for text-embedding models (MTEB task groups, PEARL, WordSim).

From Python (the command line runs on the same functions; `harness.api` documents them):

    import harness
    harness.evaluate(model, ["WordSim", "bird"], name="mine")  # a DataFrame, one row per task
    harness.report()                                          # the report's tables, as DataFrames
    harness.compare("potion-base-8M", "all-MiniLM-L6-v2")     # paired statistics
    harness.tasks(), harness.models()                         # the catalogue and the registry
"""

__version__ = "0.1.0"

__all__ = ["evaluate", "report", "compare", "tasks", "models", "HarnessError", "ModelSpec", "__version__"]


def __getattr__(name: str):
    """The API, imported when first used (the command line's start-up does not pay for pandas)."""
    if name in ("evaluate", "report", "compare", "models"):
        from harness import api

        return getattr(api, name)
    if name == "tasks":  # the package harness.tasks, which called gives the catalogue (harness.api.tasks)
        import harness.tasks

        return harness.tasks
    if name == "HarnessError":
        from harness.errors import HarnessError

        return HarnessError
    if name == "ModelSpec":
        from harness.spec import ModelSpec

        return ModelSpec
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
