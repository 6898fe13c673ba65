"""The harness from Python (a notebook): evaluate a registry entry or a model held in memory, and get the tables
back as pandas DataFrames. The command line runs on these same functions.

    import harness
    scores = harness.evaluate(model, ["WordSim", "bird"], name="my-model")  # one row per task
    tables = harness.report()                                             # {"main": DataFrame, ...}
    harness.compare("potion-base-8M", "all-MiniLM-L6-v2")                 # paired statistics

Errors raise the harness's own exceptions (`harness.HarnessError` and its kinds) with the command line's one-line
messages; nothing here calls `sys.exit`. Environment switches a call sets (offline, probe seeds) are restored
when it returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.environ import environment, run_switches
from harness.mirror import Mirrors

PROBE_TEXTS = ("a static embedding", "the quick brown fox", "")
"""What an in-memory model is asked to embed before anything runs (shape and finite values checked); a duck-typed
model without weights is also named by the hash of these embeddings."""

ROW_COLUMNS = ["model", "task", "group", "metric", "score", "seconds", "data_source", "data_fingerprint", "status",
               "error", "path"]


# ---- models held in memory -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    """A model to evaluate: its registry entry, and the encoder when it is held in memory (None: load it)."""

    spec: Any
    encoder: Any = None


class ObjectEncoder:
    """Any object with `encode(list[str]) -> array` as a harness encoder: the output checked per call (one row per
    text, finite values) and returned as float32."""

    def __init__(self, model, info):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return checked_output(self.info.name, self.model.encode(list(texts)), len(texts))


def checked_output(name: str, out, n: int) -> np.ndarray:
    """`out` as a float32 (n, dim) array, or a HarnessError naming the model and what is wrong."""
    if hasattr(out, "detach"):  # a torch tensor
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"model '{name}': encode() returned {type(out).__name__}, not an array of numbers "
                           f"({exc}); return one row of floats per text") from None
    if arr.ndim != 2 or arr.shape[0] != n:
        raise HarnessError(f"model '{name}': encode() of {n} texts returned shape {tuple(arr.shape)}; expected "
                           f"({n}, dim), one row per text")
    if not np.isfinite(arr).all():
        raise HarnessError(f"model '{name}': encode() returned non-finite values (NaN or inf) for "
                           f"{int((~np.isfinite(arr)).any(axis=1).sum())} of {n} texts")
    return arr


def _kind(model) -> str:
    """'model2vec', 'sentence-transformers' or 'object' (anything else with `encode`)."""
    module = type(model).__module__
    if module.startswith("model2vec") and hasattr(model, "embedding"):
        return "model2vec"
    if module.startswith("sentence_transformers"):
        return "sentence-transformers"
    return "object"


def weights_digest(model, probe: np.ndarray | None = None) -> tuple[str, str]:
    """(sha256, what was hashed) of an in-memory model: its weights (model2vec: embedding matrix and tokenizer;
    sentence-transformers: every tensor of the state dict), else its embeddings of PROBE_TEXTS (`probe`, when the
    caller has them already)."""
    digest = hashlib.sha256()
    kind = _kind(model)
    if kind == "model2vec":
        digest.update(np.ascontiguousarray(model.embedding).tobytes())
        digest.update(model.tokenizer.to_str().encode())
        if getattr(model, "weights", None) is not None:
            digest.update(np.ascontiguousarray(model.weights).tobytes())
        return digest.hexdigest(), "weights"
    if kind == "sentence-transformers":
        for key, tensor in sorted(model.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest(), "weights"
    if probe is None:
        probe = checked_output(_name_of(model), model.encode(list(PROBE_TEXTS)), len(PROBE_TEXTS))
    digest.update(probe.tobytes())
    return digest.hexdigest(), "encode() outputs"


def _name_of(model) -> str:
    return type(model).__name__


def in_memory(model, name: str | None) -> Resolved:
    """The registry entry and encoder of a model held in memory (model2vec `StaticModel`, `SentenceTransformer`,
    or any object with `encode`); its revision is derived from its weights' hash, recorded as such."""
    from harness.encoders import EncoderInfo, ModelSource
    from harness.spec import ModelSpec

    if not callable(getattr(model, "encode", None)):
        raise HarnessError(f"model {type(model).__name__!r} has no encode() method: give a registry name, a "
                           "ModelSpec, a model2vec StaticModel, a SentenceTransformer, or an object with "
                           "encode(list[str]) -> array")
    kind = _kind(model)
    label = name or _name_of(model)
    probe = checked_output(label, model.encode(list(PROBE_TEXTS)), len(PROBE_TEXTS))  # before anything is written
    sha, hashed = weights_digest(model, probe)
    if kind == "model2vec":
        n_params, family, loader = int(np.asarray(model.embedding).size), "static", "model2vec"
    elif kind == "sentence-transformers":
        n_params, family, loader = sum(p.numel() for p in model.parameters()), "transformer", "sentence-transformers"
    else:
        n_params, family, loader = None, getattr(model, "family", "transformer"), "object"
    revision = f"sha256-{sha[:16]}"
    spec = ModelSpec.model_construct(
        name=label, id=f"in-memory/{label}", revision=revision, loader=loader, params_m=(n_params or 0) / 1e6 or 1e-6,
        family=family, task_specific=False, link="https://github.com/", tables=(), package=None, package_path=None,
        loader_kwargs={}, teacher=None, teacher_package=None, teacher_package_path=None, recipe=None,
        description=f"held in memory ({type(model).__module__}.{type(model).__qualname__}); revision: sha256 of its "
                    f"{hashed}")
    source = ModelSource("memory", f"{type(model).__module__}.{type(model).__qualname__}", f"sha256 of {hashed}",
                         commit=sha)
    if kind in ("model2vec", "sentence-transformers"):  # the loader kind's own adapter, framework and settings
        from harness.loaders import make_info
        from harness.loaders.model2vec_models import Model2VecEncoder
        from harness.loaders.sentence_transformer_models import SentenceTransformerEncoder

        adapter = Model2VecEncoder if kind == "model2vec" else SentenceTransformerEncoder
        return Resolved(spec, adapter(model, make_info(spec, source, probe.shape[1], n_params)))
    info = EncoderInfo(label, spec.id, revision, loader, source, probe.shape[1], n_params, "NumPy",
                       type(model).__qualname__, "encode(list[str]) of the object")
    return Resolved(spec, ObjectEncoder(model, info))


def resolve_model(model, name: str | None = None, registry: Sequence[str | os.PathLike] = ()) -> Resolved:
    """A registry name, a `ModelSpec`, or a model held in memory, as what `evaluate` runs."""
    from harness.registry import load_registry
    from harness.spec import ModelSpec

    if isinstance(model, str):
        return Resolved(load_registry(registry).get(model))
    if isinstance(model, ModelSpec):
        return Resolved(model)
    return in_memory(model, name)


# ---- evaluate --------------------------------------------------------------------------------------------------

def evaluate(model, tasks: str | Sequence[str], *, name: str | None = None, results_dir: str | os.PathLike | None = None,
             jobs: int = 1, data_dir: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None,
             offline: bool | None = None, probe_seeds: int = 0, progress: bool = True, overwrite: bool = False,
             registry: Sequence[str | os.PathLike] = ()) -> pd.DataFrame:
    """Evaluate one model on tasks; one row per task: model, task, group, metric, score (the protocol's main score,
    0-1), seconds, data_source, data_fingerprint, status (done, skipped, unavailable, failed), error, path.

    model: a registry name ("potion-base-8M"), a `harness.spec.ModelSpec`, a model2vec `StaticModel`, a
        `SentenceTransformer`, or any object with `encode(list[str]) -> array` (duck-typed, as mteb does).
    tasks: task or group names, as `harness run -t` takes them ("STSBenchmark", "WordSim", "MTEB", ...).
    name: the name of an in-memory model in the results (default: its class name).
    results_dir: where result files go, in the command line's layout; finished tasks there are skipped (resume).
        None: a temporary folder, removed afterwards. An in-memory model's revision is the sha256 of its weights
        (of its embeddings of a few fixed texts for an object without weights), so a changed model is a new one.
    jobs: worker processes (registry models only; an in-memory model runs in this process).
    data_dir, model_dir: the local mirrors (default: HARNESS_DATA_DIR / HARNESS_MODEL_DIR, else ../shared/...).
    offline: True: never reach the hub (only local data and models).
    probe_seeds: further seeds of PEARL's ppdb probe for the seed spread (0: the protocol's seed only).
    progress: a progress bar (tqdm.auto: a widget in a notebook).
    overwrite: recompute tasks that results_dir already holds.
    registry: extra registry YAML files (as `--registry`).
    """
    from harness.results import ResultStore
    from harness.tasks import Catalogue

    names = [tasks] if isinstance(tasks, str) else list(tasks)
    if jobs < 1:
        raise HarnessError(f"jobs={jobs}: must be 1 or more")
    with environment(**run_switches(offline, probe_seeds)):
        catalogue = Catalogue()
        selected = catalogue.select(names)
        resolved = resolve_model(model, name, registry)
        if resolved.encoder is not None and jobs > 1:
            raise HarnessError(f"model '{resolved.spec.name}' is held in memory: it runs in this process (jobs=1); "
                               "save it and give a registry entry to run it on workers")
        mirrors = Mirrors.from_options(data_dir, model_dir)
        with contextlib.ExitStack() as stack:
            folder = Path(results_dir) if results_dir is not None else Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-evaluate-")))
            store = ResultStore(folder)
            store.check_writable()
            loader = (lambda spec, mirrors: resolved.encoder) if resolved.encoder is not None else None
            runner = local_runner(store, mirrors, jobs, overwrite=overwrite, progress=progress, loader=loader)
            report = runner.run([resolved.spec], selected)
            frame = result_rows(report, catalogue, keep_paths=results_dir is not None)
    frame.attrs["results_dir"] = str(results_dir) if results_dir is not None else None
    return frame


def local_runner(store, mirrors: Mirrors, jobs: int, *, overwrite: bool = False, progress: bool = True, echo=None,
                 loader=None, default_jobs: bool = False):
    """The runner of a run on this machine: one cell after another here (jobs 1), else a pool of `jobs` workers
    (`default_jobs`: `jobs` was not asked for, and the run may stay here when that is faster); `loader` (a model
    already loaded) runs here."""
    from harness.runner import Runner

    common = dict(overwrite=overwrite, progress=progress, echo=echo)
    if loader is not None:
        return Runner(store, mirrors, loader=loader, **common)
    if jobs > 1:
        from harness.pool import PoolRunner

        return PoolRunner(store, mirrors, jobs=jobs, default_jobs=default_jobs, **common)
    return Runner(store, mirrors, **common)


def result_rows(report, catalogue, keep_paths: bool = True) -> pd.DataFrame:
    """A run's cells as rows (the data source and fingerprint read from each cell's result file)."""
    rows = []
    for cell in report.cells:
        spec = catalogue.tasks[cell.task].spec
        data: dict[str, Any] = {}
        if cell.path is not None and Path(cell.path).is_file():
            data = json.loads(Path(cell.path).read_text()).get("harness", {}).get("data", {})
        fingerprint = data.get("fingerprint") or {}
        rows.append({"model": cell.model, "task": cell.task, "group": spec.group, "metric": spec.main_score,
                     "score": cell.score if cell.score is not None else math.nan, "seconds": cell.seconds,
                     "data_source": data.get("kind", ""), "data_fingerprint": fingerprint.get("sha256", ""),
                     "status": cell.status, "error": cell.error or "",
                     "path": str(cell.path) if keep_paths and cell.path else ""})
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


# ---- tables ----------------------------------------------------------------------------------------------------

def context(results_dir: str | os.PathLike = "results", published: Sequence[str] | str | None = None,
            data_dir: str | os.PathLike | None = None, registry: Sequence[str | os.PathLike] = ()):
    """The report's context (computed and published results read once), as `report`, `plot` and `compare` use it.
    published: None for the default (HARNESS_PUBLISHED, else <data-dir>/mteb-results), "none" for none, or
    folders / git addresses of mteb results repositories."""
    from harness.registry import load_registry
    from harness.reporting import build_context, read_results
    from harness.summary import task_keys
    from harness.tasks import Catalogue

    registry_, catalogue = load_registry(registry), Catalogue()
    mirrors = Mirrors.from_options(data_dir=data_dir)
    sources = [published] if isinstance(published, str) else list(published or [])
    readings = read_results(results_dir, published_sources(sources, mirrors), registry_, task_keys(catalogue))
    return build_context(readings, registry_, catalogue, mirrors, results_dir)


def published_sources(values: Sequence[str], mirrors: Mirrors) -> list:
    """The published results to read: none given, the default (HARNESS_PUBLISHED, else <data-dir>/mteb-results);
    "none" among them, none; else each folder or git address."""
    from harness.results import default_published, published_source

    if not values:
        return default_published(mirrors.data_dir)
    return [] if "none" in values else [published_source(v) for v in values]


TABLE_FILES = {"main": "main_table.csv", "retrieval": "retrieval_table.csv", "ablation": "ablation_table.csv",
               "ablation_findings": "ablation_findings.csv", "agreement": "agreement.csv", "comparison":
               "comparison.csv", "partial": "partial_table.csv", "throughput": "throughput.csv",
               "per_task": "per_task.csv", "probe_spread": "probe_spread.csv", "outside_registry":
               "outside_registry.csv"}
"""The report's tables by name, and the file `harness report` writes each to."""


def report(results_dir: str | os.PathLike = "results", published: Sequence[str] | str | None = None, *,
           data_dir: str | os.PathLike | None = None, registry: Sequence[str | os.PathLike] = ()) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames, by name (main, retrieval, ablation, ablation_findings, agreement,
    comparison, partial, throughput, per_task, probe_spread, outside_registry; a table with nothing to show is
    absent): the same tables, cell for cell, as the CSV files `harness report` writes. N/A cells are NaN."""
    import io

    from harness.tables import table_modules

    ctx = context(results_dir, published, data_dir, registry)
    files: dict[str, str] = {}
    for module in table_modules():
        table = module.build(ctx)
        if table is not None:
            files.update(table.files)
    by_file = {file: name for name, file in TABLE_FILES.items()}
    return {by_file.get(file, file.removesuffix(".csv")): pd.read_csv(io.StringIO(text), na_values="N/A",
                                                                       keep_default_na=False)
            for file, text in files.items() if file.endswith(".csv")}


def compare(a: str, b: str, results_dir: str | os.PathLike = "results", published: Sequence[str] | str | None = None,
            *, data_dir: str | os.PathLike | None = None, registry: Sequence[str | os.PathLike] = (),
            ctx=None) -> pd.DataFrame:
    """Paired statistics of model `a` against model `b` over the datasets both have, per source (computed here,
    published per-task): whether the source was read, n, mean of A - B (x100), its 95% bootstrap interval (low,
    high), the Wilcoxon p-value, the datasets, their count per group, and a note."""
    from harness.stats import compare_models
    from harness.summary import SOURCES

    ctx = ctx if ctx is not None else context(results_dir, published, data_dir, registry)
    have = set(ctx.long["model"])
    for model in (a, b):
        if model not in have and model not in ctx.registry:
            ctx.registry.get(model)  # raises: unknown model, with a "did you mean"
    results = compare_models(ctx.scores, a, b)
    groups = {d.name: d.group for d in ctx.datasets}
    rows = []
    for origin in ("computed", "published"):
        result = results.get(origin)
        if result is None:
            rows.append({"source": SOURCES[origin], "read": False, "n": 0, "mean": math.nan, "low": math.nan,
                         "high": math.nan, "p_value": math.nan, "datasets": [], "groups": {},
                         "note": "no results of this source were read"})
            continue
        counts: dict[str, int] = {}
        for dataset in result.datasets:
            counts[groups[dataset]] = counts.get(groups[dataset], 0) + 1
        rows.append({"source": SOURCES[origin], "read": True, "n": result.n, "mean": result.mean, "low": result.low,
                     "high": result.high, "p_value": result.p_value, "datasets": list(result.datasets),
                     "groups": counts, "note": result.note})
    frame = pd.DataFrame(rows)
    frame.attrs.update(a=a, b=b)
    return frame


def tasks(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The task catalogue: one row per task (name, benchmark, group, main score, split, subset, whether its data is
    in the local mirror, description)."""
    from harness.tasks import Catalogue

    catalogue = Catalogue()
    mirrors = Mirrors.from_options(data_dir=data_dir)
    return pd.DataFrame([{"task": name, "benchmark": task.spec.benchmark, "group": task.spec.group,
                          "metric": task.spec.main_score, "split": task.spec.split, "subset": task.spec.subset,
                          "local": task.missing_data(mirrors) is None, "description": task.spec.description}
                         for name, task in catalogue.tasks.items()])


def models(registry: Sequence[str | os.PathLike] = (), model_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The registry: one row per entry (name, id, revision, loader, family, parameters in millions, where it loads
    from without the hub, the published tables it is in)."""
    from harness.loaders import available_offline
    from harness.registry import load_registry

    mirrors = Mirrors.from_options(model_dir=model_dir)
    return pd.DataFrame([{"name": spec.name, "id": spec.id, "revision": spec.revision, "loader": spec.loader,
                          "family": spec.family, "params_m": spec.params_m,
                          "offline": available_offline(spec, mirrors) or "", "tables": ",".join(spec.tables)}
                         for spec in load_registry(registry)])
