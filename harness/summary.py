"""Tables from score records: pure functions, aggregation exactly as the protocol says.

- Every dataset score is the protocol's metric of the protocol's split and subset, read from a
  result file of any mteb version (`harness.results.protocol_score`).
- CQADupstack: the mean of its 12 subset tasks is ONE dataset score; an aggregate
  `CQADupstackRetrieval.json` is used only when the subsets are not all there, never on top of them.
- A group column is the unweighted mean of its datasets; Avg (MTEB) the mean of the 56 MTEB dataset
  scores; Avg (All) the mean of all 72. Anything with a dataset missing is N/A (NaN here). Which
  column a dataset counts towards is its task family's business (`harness.tasks.TaskFamily`).
- Computed and published scores are never mixed: every table is built from the records of one
  origin, and rows say which.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.results import ScoreRecord, TaskKey

SOURCES = {"paper": "published table", "published": "published per-task", "computed": "computed here"}
"""Row labels by where a row's numbers come from."""


@dataclass(frozen=True)
class Dataset:
    """One dataset of the tables: a task, or the tasks that make one dataset (CQADupstack's 12 subsets)."""

    name: str
    benchmark: str
    group: str
    tasks: tuple[str, ...]
    split: str
    subset: str
    main_score: str
    columns: tuple[str, ...] = ()
    """The table columns it counts towards (from its task family)."""
    aggregate_file: str | None = None
    """A result file of the whole dataset, used only when its parts are not all there."""


def protocol_datasets(catalogue) -> list[Dataset]:
    """Every dataset of the catalogue (72 for the protocol's families: 56 MTEB, 9 PEARL, 7 WordSim)."""
    parts: dict[str, list] = {}
    for task in catalogue.tasks.values():
        parts.setdefault(task.spec.dataset or task.spec.name, []).append(task.spec)
    return [Dataset(name, first.benchmark, first.group, tuple(s.name for s in specs), first.split, first.subset,
                    first.main_score, catalogue.table_columns(first), first.aggregate_file)
            for name, specs in parts.items() for first in specs[:1]]


def task_keys(catalogue) -> dict[str, TaskKey]:
    """What to read from result files: every catalogue task, and each aggregate file (CQADupstackRetrieval)."""
    keys = {name: TaskKey.model_validate(task.spec) for name, task in catalogue.tasks.items()}
    for task in catalogue.tasks.values():
        aggregate = task.spec.aggregate_file
        if aggregate and aggregate not in keys:
            keys[aggregate] = TaskKey.model_validate(task.spec).model_copy(update={"name": aggregate})
    return keys


def long_table(records: Iterable[ScoreRecord], datasets: Sequence[Dataset],
               name_of: Callable[[str], str]) -> pd.DataFrame:
    """One row per record: model, origin, dataset, task, score, the file and how it was read."""
    by_task = {t: ds for ds in datasets for t in ds.tasks}
    by_task.update({ds.aggregate_file: ds for ds in datasets if ds.aggregate_file})
    records = [r for r in records if r.task in by_task]
    have = {(r.model_id, r.origin, r.task) for r in records}
    rows = []
    for r in records:
        ds = by_task[r.task]
        counted = r.task != ds.aggregate_file or not all((r.model_id, r.origin, t) in have for t in ds.tasks)
        rows.append({"model": name_of(r.model_id), "model_id": r.model_id, "origin": r.origin, "revision": r.revision,
                     "benchmark": ds.benchmark, "group": ds.group, "dataset": ds.name, "task": r.task,
                     "split": ds.split, "subset": ds.subset, "metric": r.metric, "score": r.value,
                     "counted": counted, "source": str(r.path), "mteb_version": r.mteb_version or "",
                     "note": r.note, "imported_from": r.imported_from, **_provenance_columns(r)})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


LONG_COLUMNS = ["model", "model_id", "origin", "revision", "benchmark", "group", "dataset", "task", "split", "subset",
                "metric", "score", "counted", "source", "mteb_version", "note", "imported_from", "date",
                "harness_version", "data_source", "data_fingerprint", "data_checksums", "seed_runs", "seed_std"]


def _provenance_columns(record: ScoreRecord) -> dict[str, str]:
    """When, by which harness, and from which data a score was computed ("" where a file does not say)."""
    block = record.provenance
    data = block.data if block else {}
    fingerprint = data.get("fingerprint") or {}
    return {"date": record.date or "", "harness_version": block.version if block else "",
            "data_source": str(data.get("source", "")), "data_fingerprint": str(fingerprint.get("sha256", "")),
            "data_checksums": str(fingerprint.get("checksums", "")),
            "seed_runs": len(record.seed_spread["accuracies"]) if record.seed_spread else 0,
            "seed_std": record.seed_spread["std"] if record.seed_spread else math.nan}


def dataset_scores(long: pd.DataFrame, datasets: Sequence[Dataset]) -> pd.DataFrame:
    """Model × dataset scores of ONE origin (NaN where missing), CQADupstack averaged once over its subsets."""
    if long["origin"].nunique() > 1:
        raise ValueError("dataset_scores takes the records of one origin; computed and published are never mixed")
    models = list(dict.fromkeys(long["model"]))
    table = pd.DataFrame(np.nan, index=pd.Index(models, name="model"), columns=[d.name for d in datasets])
    for model, rows in long.groupby("model", sort=False):
        scores = dict(zip(rows["task"], rows["score"]))
        for ds in datasets:
            parts = [scores.get(t) for t in ds.tasks]
            if all(p is not None for p in parts):
                table.loc[model, ds.name] = float(np.mean(parts))
            elif ds.aggregate_file in scores:
                table.loc[model, ds.name] = scores[ds.aggregate_file]
    return table


def _mean_or_nan(values: pd.Series) -> float:
    return float(values.mean()) if len(values) and not values.isna().any() else math.nan


def column_datasets(datasets: Sequence[Dataset]) -> dict[str, list[str]]:
    """Each table column (in table order) and the datasets it averages."""
    out: dict[str, list[str]] = {}
    for ds in datasets:
        for column in ds.columns:
            out.setdefault(column, []).append(ds.name)
    return out


def table_columns(datasets: Sequence[Dataset]) -> list[str]:
    """The table's columns: Avg (All), each family's average, then each group's column."""
    return list(column_datasets(datasets))


def benchmark_columns(datasets: Sequence[Dataset], benchmark: str) -> list[str]:
    """The columns made of one family's datasets only (e.g. MTEB's average and its seven groups)."""
    of = {d.name for d in datasets if d.benchmark == benchmark}
    return [c for c, names in column_datasets(datasets).items() if set(names) <= of]


def aggregate(scores: pd.DataFrame, datasets: Sequence[Dataset]) -> pd.DataFrame:
    """The table columns (0–1 scale, NaN = N/A) for every model of `scores`."""
    out = pd.DataFrame(index=scores.index)
    for column, names in column_datasets(datasets).items():
        out[column] = scores[names].apply(_mean_or_nan, axis=1)
    return out


def missing_datasets(scores: pd.DataFrame, datasets: Sequence[Dataset]) -> dict[str, dict[str, list[str]]]:
    """For each model: the N/A columns and the datasets each one misses."""
    out: dict[str, dict[str, list[str]]] = {}
    for model in scores.index:
        row = scores.loc[model]
        out[model] = {column: [n for n in names if math.isnan(row[n])]
                      for column, names in column_datasets(datasets).items()
                      if names and row[names].isna().any()}
    return out


def partial_table(scores: pd.DataFrame, datasets: Sequence[Dataset]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Means over the datasets every listed model has, and the count of such datasets per column
    (every column of `datasets`, NaN where no dataset is shared)."""
    shared = [d for d in datasets if d.name in scores.columns and scores[d.name].notna().all()]
    counts = {column: len(names) for column, names in column_datasets(shared).items()}
    columns = table_columns(datasets)
    table = aggregate(scores[[d.name for d in shared]], shared).reindex(columns=columns)
    return table, {c: counts.get(c, 0) for c in columns}


def order_models(models: Iterable[str], known: Sequence[str]) -> list[str]:
    """The `known` (registry) order first, then any other model alphabetically."""
    models = list(dict.fromkeys(models))
    return [m for m in known if m in models] + sorted(m for m in models if m not in known)


def agreement(long: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Every (model, task) with both a computed and a published score: both (×100), their difference,
    flagged beyond `tolerance` (×100)."""
    counted = long[long["counted"].astype(bool)]  # an empty frame has an object column
    computed = counted[counted["origin"] == "computed"].set_index(["model", "task"])
    published = counted[counted["origin"] == "published"].set_index(["model", "task"])
    both = computed.index.intersection(published.index)
    rows = []
    for model, task in both:
        ours, theirs = 100 * computed.loc[(model, task), "score"], 100 * published.loc[(model, task), "score"]
        diff = ours - theirs
        rows.append({"model": model, "task": task, "group": computed.loc[(model, task), "group"], "computed": ours,
                     "published": theirs, "difference": diff, "flag": "!" if abs(diff) > tolerance else "",
                     "computed_file": computed.loc[(model, task), "source"],
                     "published_file": published.loc[(model, task), "source"]})
    return pd.DataFrame(rows, columns=["model", "task", "group", "computed", "published", "difference", "flag",
                                       "computed_file", "published_file"])


def published_table(name: str) -> pd.DataFrame:
    """A published table (×100) from harness/reference, in the report's column names."""
    path = Path(__file__).parent / "reference" / f"{name}.csv"
    df = pd.read_csv(path).set_index("model")
    rename = {"avg_all": "Avg (All)", "avg_mteb": "Avg (MTEB)", "classification": "Class", "clustering": "Clust",
              "pair_classification": "PairClass", "reranking": "Rank", "retrieval": "Ret", "sts": "STS",
              "summarization": "Sum", "pearl": "Pearl", "wordsim": "WordSim"}
    return df.rename(columns=rename).astype(float)


FIGURE = Path(__file__).resolve().parent / "reference" / "figure.csv"
"""The published figure's points (model, hub id, sentences/s, Avg (MTEB), parameters in millions, speed source)."""
FIGURE_COLUMNS = ("model", "id", "sentences_per_second", "avg_mteb", "params_m", "speed_source")


@dataclass(frozen=True)
class FigurePoint:
    """One circle of the published figure."""

    model: str
    id: str
    speed: float
    score: float
    params_m: float
    speed_source: str


def read_figure(path: str | Path = FIGURE) -> list[FigurePoint]:
    """The published figure's points; a malformed row is a one-line error naming the file and the row."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise HarnessError(f"figure points {path}: cannot read ({exc.strerror or exc})") from None
    if not rows or tuple(h.strip() for h in rows[0]) != FIGURE_COLUMNS:
        raise HarnessError(f"figure points {path}: the header must be {','.join(FIGURE_COLUMNS)}")
    points = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(FIGURE_COLUMNS):
            raise HarnessError(f"figure points {path}, row {line}: {len(row)} fields, expected "
                               f"{len(FIGURE_COLUMNS)} ({','.join(FIGURE_COLUMNS)})")
        values = dict(zip(FIGURE_COLUMNS, (cell.strip() for cell in row)))
        numbers = {}
        for name in ("sentences_per_second", "avg_mteb", "params_m"):
            try:
                numbers[name] = float(values[name])
            except ValueError:
                numbers[name] = math.nan
            if not math.isfinite(numbers[name]) or numbers[name] <= 0 or (name == "avg_mteb" and numbers[name] > 100):
                raise HarnessError(f"figure points {path}, row {line}: {name} {values[name]!r} is not a positive "
                                   "number" + (" up to 100" if name == "avg_mteb" else ""))
        if not values["model"]:
            raise HarnessError(f"figure points {path}, row {line}: no model name")
        points.append(FigurePoint(values["model"], values["id"], numbers["sentences_per_second"],
                                  numbers["avg_mteb"], numbers["params_m"], values["speed_source"]))
    return points


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

    Ours: the mean over the datasets both variants have of (with − without), with its 95 % bootstrap
    interval and Wilcoxon p-value (`harness.stats.paired`; NaN where not defined); `scores` holds
    one origin only. Published: the difference of the two published Avg (All) values (both have all
    72 datasets; the published table has no per-dataset scores to test).
    """
    from harness.stats import paired

    rows = []
    for family in families:
        for finding, better, worse in ABLATION_PAIRS:
            a, b = f"{family}_{better}", f"{family}_{worse}"
            ours = low = high = p_value = math.nan
            n = 0
            if a in scores.index and b in scores.index:
                result = paired(scores.loc[a], scores.loc[b])
                n, ours, low, high, p_value = result.n, result.mean, result.low, result.high, result.p_value
            theirs = (published.loc[a, "Avg (All)"] - published.loc[b, "Avg (All)"]
                      if a in published.index and b in published.index else math.nan)
            rows.append({"finding": finding, "family": family, "with": a, "without": b, "ours": ours,
                         "datasets": n, "95% CI low": low, "95% CI high": high, "p (Wilcoxon)": p_value,
                         "published": theirs,
                         "holds (ours)": "" if math.isnan(ours) else ("yes" if ours > 0 else "no"),
                         "holds (published)": "" if math.isnan(theirs) else ("yes" if theirs > 0 else "no")})
    return pd.DataFrame(rows)


def table_rows(scores: dict[str, pd.DataFrame], datasets: Sequence[Dataset], paper: pd.DataFrame,
               models: Sequence[str]) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, list[str]]]]:
    """Rows of a table (×100), each marked by its source: for every model, the paper's row when it has
    one, then one row per origin with results. Also the missing datasets behind each N/A cell."""
    rows, index, na = [], [], {}
    columns = table_columns(datasets)
    for model in models:
        if model in paper.index:
            rows.append(paper.loc[model].reindex(columns))
            index.append((model, "paper"))
        for origin in ("published", "computed"):
            table = scores.get(origin)
            if table is not None and model in table.index:
                one = table.loc[[model]]
                rows.append(as_percent(aggregate(one, datasets)).iloc[0])
                index.append((model, origin))
                na[(model, origin)] = missing_datasets(one, datasets)[model]
    frame = pd.DataFrame(rows, columns=columns)
    frame.index = pd.MultiIndex.from_tuples(index, names=["Model", "Source"])
    return frame, na


def differences(rows: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Every cell of a non-paper row that the paper row of the same model also has: both values and
    the difference (×100), flagged beyond `tolerance`."""
    out = []
    for (model, source), row in rows.iterrows():
        if source == "paper" or (model, "paper") not in rows.index:
            continue
        paper = rows.loc[(model, "paper")]
        for column, value in row.items():
            if not (math.isnan(value) or math.isnan(paper[column])):
                diff = round(float(value) - float(paper[column]), 2)
                out.append({"model": model, "source": source, "column": column, "value": float(value),
                            "paper": float(paper[column]), "difference": diff,
                            "flag": "!" if abs(diff) > tolerance + 1e-9 else ""})
    return pd.DataFrame(out, columns=["model", "source", "column", "value", "paper", "difference", "flag"])
