"""`harness report`: the computed results and the published per-task results, read once and kept
apart, turned into every table of `harness.tables` (Markdown README.md and CSV files in a folder)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.mirror import Mirrors, shown_path
from harness.page import write_page
from harness.registry import Registry
from harness.results import FolderReading, TaskKey, read_folder, read_throughputs, write_text_atomic
from harness.summary import LONG_COLUMNS, dataset_scores, long_table, order_models, protocol_datasets, published_table, task_keys
from harness.tables import Context, table_modules


@dataclass
class Report:
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def read_results(results_dir: str | Path, published: Sequence[tuple[Path, str]], registry: Registry,
                 keys: dict[str, TaskKey]) -> list[FolderReading]:
    """The computed results folder, then each published folder (root, description), read once each."""
    revisions = {spec.id: spec.revision for spec in registry}
    readings = [read_folder(results_dir, keys, "computed", revisions.get)]
    readings[0].description = f"computed results in {Path(results_dir).as_posix()}"
    for root, description in published:
        reading = read_folder(root, keys, "published", revisions.get)
        reading.description = f"published per-task results in {description}"
        readings.append(reading)
    return readings


def build_context(readings: list[FolderReading], registry: Registry, catalogue, mirrors: Mirrors | None = None,
                  results_dir: str | Path = "results") -> Context:
    """Everything the tables need, from what was read."""
    datasets = protocol_datasets(catalogue)
    names = {spec.id: spec.name for spec in registry}
    names.update(outside_names(results_dir, names))
    name_of = lambda model_id: names.get(model_id, model_id)  # noqa: E731
    frames = [long_table(r.records, datasets, name_of) for r in readings]
    long = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else \
        pd.DataFrame(columns=LONG_COLUMNS)
    long = _first_folder_wins(long, readings)
    scores = {origin: dataset_scores(long[long["origin"] == origin], datasets)
              for origin in ("published", "computed") if (long["origin"] == origin).any()}
    paper = {name: published_table(name) for name in ("main", "retrieval", "ablation")}
    known = [spec.name for spec in registry]
    shown = set(long["model"]) | {m for table in paper.values() for m in table.index}
    revisions = {spec.id: spec.revision for spec in registry}
    throughputs = {name_of(mid): t for mid, t in read_throughputs(results_dir, revisions.get, readings[0].problems).items()}
    return Context(
        registry=registry, datasets=datasets, readings=readings, long=long, scores=scores,
        models=[m for m in known if m in shown], paper=paper, throughputs=throughputs,
        outside=order_models([m for m in long["model"] if m not in known], []),
        unavailable=unavailable_data(catalogue, mirrors, datasets) if mirrors else {},
        variants=_split_variants(readings, catalogue, datasets, name_of, revisions.get), results_dir=Path(results_dir))


def outside_names(results_dir: str | Path, names: dict[str, str]) -> dict[str, str]:
    """Models computed here that the registry lacks (held in memory, run through `harness.evaluate`): the name
    their model_meta.json gives them, where no registry model has it."""
    found = {}
    for path in sorted(Path(results_dir).glob("*/*/model_meta.json")):
        try:
            meta = json.loads(path.read_text())
            model_id, display = meta["name"], (meta.get("harness") or {}).get("display_name")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # the results reader names unreadable files
        if model_id not in names and display and display not in names.values() and display not in found.values():
            found[model_id] = display
    return found


def _first_folder_wins(long: pd.DataFrame, readings: list[FolderReading]) -> pd.DataFrame:
    """One score per (origin, model, task, split, subset): where two published folders hold the same
    one, the folder named first is used and the other file is noted as not used."""
    repeated = long.duplicated(["origin", "model", "task", "split", "subset"], keep="first")
    if repeated.any():
        owner = {str(record.path): reading for reading in readings for record in reading.records}
        for row in long[repeated].drop_duplicates("source").itertuples():
            owner[row.source].notes.append(f"{row.source}: {row.model} {row.task} also read from a folder "
                                           "named before this one, which is used")
    return long[~repeated].reset_index(drop=True)


def unavailable_data(catalogue, mirrors: Mirrors, datasets) -> dict[str, str]:
    """Dataset -> why the local data mirror cannot serve it."""
    out = {}
    mirror = shown_path(mirrors.data_dir) if mirrors.data_dir else "(none given)"
    for ds in datasets:
        for task in ds.tasks:
            missing = catalogue.tasks[task].missing_data(mirrors)
            if missing:
                out[ds.name] = (f"no data in the local mirror {mirror}"
                                if missing.startswith(("no folder", "no file")) else missing)
                break
    return out


def _split_variants(readings: list[FolderReading], catalogue, datasets, name_of, preferred) -> pd.DataFrame:
    """Published records of tasks read at the benchmark's own split where the protocol takes another
    (revision folders in the same order of preference as the main reading)."""
    keys = {name: TaskKey.model_validate(task.spec).model_copy(update={"split": task.spec.benchmark_split})
            for name, task in catalogue.tasks.items() if getattr(task.spec, "benchmark_split", None)}
    frames = []
    for reading in readings:
        if reading.origin == "published" and keys:
            records = read_folder(reading.root, keys, "published", preferred).records
            frame = long_table(records, datasets, name_of)
            frame["split"] = frame["task"].map(lambda t: keys[t].split)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG_COLUMNS)


def write_report(ctx: Context, out_dir: str | Path) -> Report:
    """Write every table of `harness.tables` for `ctx` into `out_dir` (CSV files and README.md), and the
    leaderboard page (index.html, `harness.page`)."""
    report = Report(problems=[p for r in ctx.readings for p in r.problems], models=ctx.models + ctx.outside)
    out = Path(out_dir)
    sections = []
    for module in table_modules():
        table = module.build(ctx)
        if table is None:
            continue
        for name, content in table.files.items():
            write_text_atomic(out / name, content)
            report.files.append(out / name)
        if table.title:
            sections += [f"## {table.title}", "", table.markdown]
    report.files.append(write_page(ctx, out))  # the leaderboard page, listed in README.md with the tables
    counts = ctx.long["origin"].value_counts()
    head = ["# Results", "",
            "Generated by `harness report` from " + "; ".join(
                f"{r.description} ({len(r.records)} task scores)" for r in ctx.readings)
            + f"; and the published tables in harness/reference. {int(counts.get('computed', 0))} computed and "
              f"{int(counts.get('published', 0))} published task scores. Scores ×100; a column is N/A where any "
              "of its datasets is missing (never an average over what happens to be present).", ""]
    files = ["Files: " + ", ".join(f"[{p.name}]({p.name})" for p in report.files), ""]
    write_text_atomic(out / "README.md", "\n".join(head + sections + files))
    report.files.append(out / "README.md")
    return report


def build_report(results_dir: str | Path, out_dir: str | Path, registry: Registry, catalogue,
                 published: Sequence[tuple[Path, str]] = (), mirrors: Mirrors | None = None) -> Report:
    """Read the results, build the context and write the report (the library entry point)."""
    readings = read_results(results_dir, published, registry, task_keys(catalogue))
    return write_report(build_context(readings, registry, catalogue, mirrors, results_dir), out_dir)
