"""The report's tables: one module each, found here by `harness report`.

A table module defines `ORDER` (its place in the report) and `build(ctx: Context) -> Table | None`;
adding a table is adding a module to this package (or naming one in HARNESS_PLUGINS). `Context` holds everything read from the result
folders once, so that tables are pure functions of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pandas as pd

from harness.plugins import package_modules
from harness.registry import Registry
from harness.results import FolderReading, Throughput
from harness.summary import SOURCES, Dataset, column_datasets

NA = "N/A"


@dataclass
class Context:
    """What the tables are built from: records of both origins, kept apart, and the published tables."""

    registry: Registry
    datasets: list[Dataset]
    readings: list[FolderReading]
    long: pd.DataFrame
    """Every score record (`harness.summary.LONG_COLUMNS`), computed and published."""
    scores: dict[str, pd.DataFrame]
    """origin -> model × dataset scores (0–1, NaN where missing)."""
    models: list[str]
    """Registry models to show, in registry order."""
    outside: list[str]
    """Models with published results that the registry does not have."""
    paper: dict[str, pd.DataFrame]
    """The published tables (×100): main, retrieval, ablation."""
    throughputs: dict[str, Throughput]
    """Measured speeds by model name."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Dataset -> why the data mirror cannot serve it (for the reasons of N/A cells)."""
    variants: pd.DataFrame | None = None
    """Published records read at a benchmark's own split where the protocol uses another (MSMARCO dev)."""
    results_dir: Path = Path("results")

    @property
    def totals(self) -> dict[str, int]:
        """Datasets per table column."""
        return {column: len(names) for column, names in column_datasets(self.datasets).items()}


@dataclass
class Table:
    """One section of the report: Markdown for README.md and the files written beside it."""

    title: str
    markdown: str
    files: dict[str, str] = field(default_factory=dict)
    """File name -> content (CSV tables)."""


def table_modules() -> list[ModuleType]:
    """Every table module of this package (and of HARNESS_PLUGINS), in report order."""
    import harness.tables as package

    modules = package_modules(package)
    return sorted((m for m in modules if hasattr(m, "build") and hasattr(m, "ORDER")), key=lambda m: (m.ORDER, m.__name__))


def cell(value) -> str:
    if isinstance(value, float):
        return NA if math.isnan(value) else f"{value:.2f}"
    return str(value)


def markdown(table: pd.DataFrame, headers: list[str] | None = None) -> str:
    """A Markdown table of `table` (index as the first columns), N/A for NaN, 2 decimals."""
    df = table.reset_index() if table.index.name or any(table.index.names) else table
    headers = headers or [str(c) for c in df.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def csv(table: pd.DataFrame) -> str:
    return table.reset_index().to_csv(index=False, float_format="%.2f", na_rep=NA)


def paper_differences(rows: pd.DataFrame) -> pd.DataFrame:
    """For rows of `harness.summary.table_rows`: each non-paper cell minus the paper's cell of the same
    model (×100), NaN where either is missing and on the paper rows themselves."""
    out = pd.DataFrame(math.nan, index=rows.index, columns=rows.columns)
    for (model, source), row in rows.iterrows():
        if source != "paper" and (model, "paper") in rows.index:
            out.loc[(model, source)] = row - rows.loc[(model, "paper")]
    return out


def with_differences(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows for Markdown: sources spelled out, and each non-paper cell followed by its difference to
    the paper's cell of the same model, e.g. `50.03 (+0.00)`."""
    out = rows.astype(object)
    diffs = paper_differences(rows)
    for key, row in rows.iterrows():
        for column, value in row.items():
            difference = diffs.loc[key, column]
            out.loc[key, column] = cell(value) + ("" if math.isnan(difference) else f" ({difference:+.2f})")
    out.index = pd.MultiIndex.from_tuples([(m, SOURCES[s]) for m, s in rows.index], names=rows.index.names)
    return out


def na_reasons(na: dict[tuple[str, str], dict[str, list[str]]], rows: pd.DataFrame,
               unavailable: dict[str, str], totals: dict[str, int]) -> list[str]:
    """Why the N/A cells of `rows` are N/A: one line per distinct reason, naming its rows; each line
    counts the missing datasets per column (`totals`: datasets per column) and says why where known."""
    lines: dict[str, list[str]] = {}
    for model, source in rows.index:
        missing = {c: n for c, n in (na.get((model, source)) or {}).items() if c in rows.columns}
        if not missing:
            continue
        text = _missing_text(missing, totals)
        why = _why(sorted({n for names in missing.values() for n in names}), unavailable, source)
        lines.setdefault(f"{SOURCES[source]}: {text}{f'. {why}' if why else ''}", []).append(model)
    return [f"- {', '.join(models)} · {text}" for text, models in lines.items()]


def na_cell_reason(column: str, missing: list[str], source: str, unavailable: dict[str, str],
                   totals: dict[str, int]) -> str:
    """Why one N/A cell is N/A, in the words of `na_reasons`: the missing datasets of its column
    (`missing`, from the `na` of `table_rows`) and why they are missing where known."""
    if source == "paper":
        return f"{column}: not in the published table"
    if not missing:
        return f"{column}: no score"
    text = f"{column}: {len(missing)} of {totals.get(column, len(missing))} datasets missing{_few(missing)}"
    why = _why(sorted(missing), unavailable, source)
    return f"{text}. {why}" if why else text


def _missing_text(missing: dict[str, list[str]], totals: dict[str, int]) -> str:
    parts = [f"{column} {len(names)} of {totals[column]}{_few(names)}" for column, names in missing.items()
             if not column.startswith("Avg")]
    averages = [f"{len(names)} of {totals[column]} {column[5:-1]} datasets missing" for column, names in missing.items()
                if column.startswith("Avg (") and column != "Avg (All)"]
    if not averages:
        return f"{'; '.join(parts)} missing"
    return "; ".join(averages) + ": " + "; ".join(parts)


def _few(names: list[str], limit: int = 3) -> str:
    return f" ({', '.join(names)})" if len(names) <= limit else ""


def _why(names: list[str], unavailable: dict[str, str], source: str) -> str:
    if source == "published":
        return "No published file holds their protocol score"
    reasons: dict[str, list[str]] = {}
    for name in names:
        reasons.setdefault(unavailable.get(name, "not run, or failed (see the run's summary)"), []).append(name)
    if len(reasons) == 1:
        return f"Why: {next(iter(reasons))}"
    return "Why: " + "; ".join(f"{', '.join(ns) if len(ns) <= 3 else f'{len(ns)} datasets'}: {r}"
                               for r, ns in reasons.items())
