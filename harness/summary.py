"""Tables from result files: pure functions, aggregation exactly as the protocol says.

- Every dataset score is read from its result file (`main_score` of the protocol's split and subset;
  any mteb version, through mteb's own `TaskResult.from_disk`). Files older than mteb 1.11 have no
  `main_score`; for them the metric that was the main score then is used (Reranking: `map`).
- CQADupstack: the mean of its 12 subset tasks is ONE dataset score; an aggregate
  `CQADupstackRetrieval.json` is used only when the subsets are not all there, never on top of them.
- A group column is the unweighted mean of its datasets; Avg (MTEB) the mean of the 56 MTEB dataset
  scores; Avg (All) the mean of all 72. Anything with a dataset missing is N/A (NaN here).
- A model with several revision folders is merged per task: the registry's revision first, then
  the others by name; the first file holding the needed split and subset wins, and the long table
  says which file each score came from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import ResultsError
from harness.registry import Registry

log = logging.getLogger(__name__)

GROUP_COLUMNS = {
    "Classification": "Class", "Clustering": "Clust", "PairClassification": "PairClass", "Reranking": "Rank",
    "Retrieval": "Ret", "STS": "STS", "Summarization": "Sum", "PEARL": "Pearl", "WordSim": "WordSim",
}
MTEB_GROUPS = ("Classification", "Clustering", "PairClassification", "Reranking", "Retrieval", "STS", "Summarization")
TABLE_COLUMNS = ["Model", "Avg (All)", "Avg (MTEB)", *GROUP_COLUMNS.values()]
CQADUPSTACK = "CQADupstack"
CQADUPSTACK_AGGREGATE = "CQADupstackRetrieval"
LEGACY_MAIN_SCORES = {"map_at_1000": ("map",), "max_over_subqueries_map_at_1000": ("map",)}
NOT_RESULTS = {"model_meta.json", "throughput.json"}


@dataclass(frozen=True)
class Dataset:
    """One dataset of the protocol (CQADupstack stands for its 12 subset tasks)."""

    name: str
    benchmark: str
    group: str
    tasks: tuple[str, ...]
    split: str
    subset: str
    main_score: str


def protocol_datasets(catalogue) -> list[Dataset]:
    """The 72 datasets (56 MTEB, 9 PEARL, 7 WordSim) from the task catalogue."""
    cqa = tuple(n for n, t in catalogue.tasks.items() if getattr(t, "aggregate", None) == CQADUPSTACK_AGGREGATE)
    datasets: list[Dataset] = []
    for name, task in catalogue.tasks.items():
        spec = task.spec
        if spec.benchmark not in ("MTEB", "PEARL", "WordSim") or (name in cqa and name != cqa[0]):
            continue
        # the first CQADupstack subset stands, in task order, for the one CQADupstack dataset
        label, parts = (CQADUPSTACK, cqa) if name in cqa else (name, (name,))
        datasets.append(Dataset(label, spec.benchmark, spec.group, parts, spec.split, spec.subset, spec.main_score))
    return datasets


def read_score(path: Path, split: str, subset: str, main_score: str) -> float | None:
    """The protocol score in a result file of any mteb version, or None when the file lacks it."""
    from mteb.results import TaskResult

    try:
        result = TaskResult.from_disk(path)
    except Exception as exc:  # any parse failure of a foreign file is the file's fault
        raise ResultsError(f"{path}: not a readable mteb result ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    for entry in result.scores.get(split, []):
        if entry.get("hf_subset") != subset:
            continue
        for key in ("main_score", *LEGACY_MAIN_SCORES.get(main_score, ())):
            value = entry.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                return float(value)
    return None


def _imported_from(path: Path) -> str:
    import json

    try:
        return (json.loads(path.read_text(encoding="utf-8")).get("harness") or {}).get("imported_from") or ""
    except (OSError, ValueError):
        return ""


def _model_folders(results_dir: Path) -> Iterable[tuple[str, Path]]:
    for model_dir in sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield model_dir.name.replace("__", "/", 1), model_dir


def collect(results_dir: str | Path, datasets: Sequence[Dataset], registry: Registry | None = None,
            errors: list[str] | None = None) -> pd.DataFrame:
    """The long table: one row per (model, task) with its score and the file it came from.

    Unreadable files are skipped and described in `errors` (when given), else raised.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ResultsError(f"results directory '{results_dir}' does not exist; run `harness run` or give --results-dir")
    by_id = {spec.id: spec for spec in registry} if registry else {}
    wanted: dict[str, tuple[Dataset, str]] = {}
    for ds in datasets:
        for task in ds.tasks:
            wanted[task] = (ds, task)
        if ds.name == CQADUPSTACK:
            wanted[CQADUPSTACK_AGGREGATE] = (ds, CQADUPSTACK_AGGREGATE)
    rows = []
    for model_id, model_dir in _model_folders(results_dir):
        spec = by_id.get(model_id)
        revisions = sorted((p for p in model_dir.iterdir() if p.is_dir()),
                           key=lambda p: (spec is None or p.name != spec.revision, p.name))
        found: dict[str, dict] = {}
        for rev_dir in revisions:
            for path in sorted(rev_dir.glob("*.json")):
                if path.name in NOT_RESULTS or path.stem not in wanted or path.stem in found:
                    continue
                ds, task = wanted[path.stem]
                try:
                    score = read_score(path, ds.split, ds.subset, ds.main_score)
                except ResultsError as exc:
                    if errors is None:
                        raise
                    errors.append(str(exc))
                    continue
                if score is None:
                    continue
                found[task] = {"model_id": model_id, "model": spec.name if spec else model_id,
                               "revision": rev_dir.name, "benchmark": ds.benchmark, "group": ds.group,
                               "dataset": ds.name, "task": task, "split": ds.split, "subset": ds.subset,
                               "score": score, "counted": True, "source": str(path),
                               "imported_from": _imported_from(path)}
        if CQADUPSTACK_AGGREGATE in found:
            subsets = wanted[CQADUPSTACK_AGGREGATE][0].tasks
            found[CQADUPSTACK_AGGREGATE]["counted"] = not all(t in found for t in subsets)
        rows.extend(found.values())
    columns = ["model_id", "model", "revision", "benchmark", "group", "dataset", "task", "split", "subset",
               "score", "counted", "source", "imported_from"]
    return pd.DataFrame(rows, columns=columns)


def dataset_scores(long: pd.DataFrame, datasets: Sequence[Dataset]) -> pd.DataFrame:
    """Model × dataset scores (NaN where missing), CQADupstack averaged once over its 12 subsets."""
    models = list(dict.fromkeys(long["model"]))
    table = pd.DataFrame(np.nan, index=pd.Index(models, name="model"), columns=[d.name for d in datasets])
    for model, rows in long.groupby("model", sort=False):
        scores = dict(zip(rows["task"], rows["score"]))
        for ds in datasets:
            parts = [scores.get(t) for t in ds.tasks]
            if all(p is not None for p in parts):
                table.loc[model, ds.name] = float(np.mean(parts))
            elif ds.name == CQADUPSTACK and CQADUPSTACK_AGGREGATE in scores:
                table.loc[model, ds.name] = scores[CQADUPSTACK_AGGREGATE]
    return table


def _mean_or_nan(values: pd.Series) -> float:
    return float(values.mean()) if len(values) and not values.isna().any() else math.nan


def aggregate(scores: pd.DataFrame, datasets: Sequence[Dataset]) -> pd.DataFrame:
    """The main-table columns (0–1 scale, NaN = N/A) for every model of `scores`."""
    by_group = {g: [d.name for d in datasets if d.group == g] for g in GROUP_COLUMNS}
    mteb = [d.name for d in datasets if d.benchmark == "MTEB"]
    out = pd.DataFrame(index=scores.index)
    out["Avg (All)"] = scores[[d.name for d in datasets]].apply(_mean_or_nan, axis=1)
    out["Avg (MTEB)"] = scores[mteb].apply(_mean_or_nan, axis=1)
    for group, column in GROUP_COLUMNS.items():
        out[column] = scores[by_group[group]].apply(_mean_or_nan, axis=1) if by_group[group] else math.nan
    return out


def partial_table(scores: pd.DataFrame, datasets: Sequence[Dataset]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Means over the datasets every listed model has, and the count of such datasets per group."""
    shared = [d for d in datasets if d.name in scores.columns and scores[d.name].notna().all()]
    counts = {GROUP_COLUMNS[g]: sum(d.group == g for d in shared) for g in GROUP_COLUMNS}
    counts["Avg (All)"] = len(shared)
    counts["Avg (MTEB)"] = sum(d.benchmark == "MTEB" for d in shared)
    return aggregate(scores[[d.name for d in shared]], shared), counts


def order_models(models: Iterable[str], registry: Registry | None) -> list[str]:
    """Registry order first, then any other model alphabetically."""
    models = list(models)
    known = [spec.name for spec in registry] if registry else []
    return [m for m in known if m in models] + sorted(m for m in models if m not in known)


def reaches(table: pd.DataFrame, reference: str, column: str = "Avg (MTEB)") -> dict[str, float]:
    """100 × column(model) / column(reference) for every model where both are known."""
    if reference not in table.index or math.isnan(table.loc[reference, column]):
        return {}
    ref = table.loc[reference, column]
    return {m: 100 * v / ref for m, v in table[column].items() if m != reference and not math.isnan(v)}


def compare(ours: pd.DataFrame, published: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Every cell present in both (×100 scale): ours, published, difference, flagged beyond tolerance."""
    rows = []
    for model in ours.index.intersection(published.index):
        for column in published.columns.intersection(ours.columns):
            mine, theirs = ours.loc[model, column], published.loc[model, column]
            if isinstance(mine, float) and isinstance(theirs, float) and not (math.isnan(mine) or math.isnan(theirs)):
                diff = round(mine - theirs, 2)
                rows.append({"model": model, "column": column, "ours": mine, "published": theirs,
                             "difference": diff, "flag": "!" if abs(diff) > tolerance + 1e-9 else ""})
    return pd.DataFrame(rows, columns=["model", "column", "ours", "published", "difference", "flag"])


def published_table(name: str) -> pd.DataFrame:
    """A published table (×100) from harness/reference, in the report's column names."""
    path = Path(__file__).parent / "reference" / f"{name}.csv"
    df = pd.read_csv(path).set_index("model")
    rename = {"avg_all": "Avg (All)", "avg_mteb": "Avg (MTEB)", "classification": "Class", "clustering": "Clust",
              "pair_classification": "PairClass", "reranking": "Rank", "retrieval": "Ret", "sts": "STS",
              "summarization": "Sum", "pearl": "Pearl", "wordsim": "WordSim"}
    return df.rename(columns=rename).astype(float)


def as_percent(table: pd.DataFrame) -> pd.DataFrame:
    """×100, rounded to 2 decimals (NaN kept)."""
    return (table * 100).round(2)


ABLATION_PAIRS = (
    ("PCA helps", "output", "output_nopca"),
    ("PCA helps", "output_nozipf", "output_nozipf_nopca"),
    ("Zipf weighting helps", "output", "output_nozipf"),
    ("Zipf weighting helps", "output_nopca", "output_nozipf_nopca"),
    ("output beats input embeddings", "output", "input"),
    ("output beats input embeddings", "output_nozipf_nopca", "input_nozipf_nopca"),
)


def ablation_findings(scores: pd.DataFrame, families: Sequence[str], published: pd.DataFrame) -> pd.DataFrame:
    """Each published ablation finding as a difference (×100) between two variants of a family.

    Ours: the mean over the datasets both variants have of (with − without); published: the
    difference of the two published Avg (All) values (both have all 72 datasets).
    """
    rows = []
    for family in families:
        for finding, better, worse in ABLATION_PAIRS:
            a, b = f"{family}_{better}", f"{family}_{worse}"
            ours, n = math.nan, 0
            if a in scores.index and b in scores.index:
                both = scores.loc[[a, b]].dropna(axis=1)
                n = both.shape[1]
                if n:
                    ours = 100 * float((both.loc[a] - both.loc[b]).mean())
            theirs = (published.loc[a, "Avg (All)"] - published.loc[b, "Avg (All)"]
                      if a in published.index and b in published.index else math.nan)
            rows.append({"finding": finding, "family": family, "with": a, "without": b, "ours": ours,
                         "datasets": n, "published": theirs,
                         "holds (ours)": "" if math.isnan(ours) else ("yes" if ours > 0 else "no"),
                         "holds (published)": "" if math.isnan(theirs) else ("yes" if theirs > 0 else "no")})
    return pd.DataFrame(rows)
