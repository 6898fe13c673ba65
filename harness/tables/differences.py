"""Differences from the published tables: every cell recomputed or computed here next to the
published one, and, for cells off by more than 0.01, what the result files say about it."""

from __future__ import annotations

import pandas as pd

from harness.summary import SOURCES, as_percent, aggregate, column_datasets, dataset_scores, differences, table_rows
from harness.tables import Context, Table, markdown

ORDER = 40
CLOSE = 0.01


def build(ctx: Context) -> Table:
    frames = []
    for name in ("main", "retrieval", "ablation"):
        rows, _ = table_rows(ctx.scores, ctx.datasets, ctx.paper[name], ctx.models)
        frames.append(differences(rows[ctx.paper[name].columns.intersection(rows.columns)]).assign(table=name))
    diffs = pd.concat(frames, ignore_index=True).drop_duplicates(["model", "source", "column", "value", "paper"])
    text = ["Every cell present both in a published table (harness/reference) and in a row recomputed from published "
            "per-task results or computed here; `!` marks |difference| > 0.05. Per row, how many cells are within "
            f"{CLOSE}:", ""]
    for (model, source), group in diffs.groupby(["model", "source"], sort=False):
        close = (group["difference"].abs() <= CLOSE + 1e-9).sum()
        text.append(f"- {model} · {SOURCES[source]}: {close} of {len(group)} cells within {CLOSE}")
    off = diffs[diffs["difference"].abs() > CLOSE + 1e-9].copy()
    off["files (mteb version)"] = [_files(ctx, m, s, c) for m, s, c in zip(off["model"], off["source"], off["column"])]
    text += ["", f"Cells beyond {CLOSE}, with the result files behind them:", "",
             markdown(off.drop(columns="table").set_index("model")) if len(off) else "None.\n"]
    text += _split_variants(ctx, off)
    return Table("Differences from the published tables", "\n".join(text),
                 {"comparison.csv": diffs.to_csv(index=False, float_format="%.2f")})


def _files(ctx: Context, model: str, source: str, column: str) -> str:
    """The revision folders and mteb versions of the files behind one cell."""
    names = column_datasets(ctx.datasets).get(column, [])
    long = ctx.long[(ctx.long["model"] == model) & (ctx.long["origin"] == source) & ctx.long["dataset"].isin(names)
                    & ctx.long["counted"]]
    found: dict[str, set[str]] = {}
    for revision, version in zip(long["revision"], long["mteb_version"]):
        found.setdefault(revision[:12], set()).add(version or "none recorded")
    return "; ".join(f"{rev} ({', '.join(sorted(v))})" for rev, v in found.items())


def _split_variants(ctx: Context, off: pd.DataFrame) -> list[str]:
    """For published rows whose Ret or Avg (MTEB) is off or N/A: the same row with a task read at the
    benchmark's own split instead of the protocol's (MSMARCO dev instead of test), where the files have it."""
    if ctx.variants is None or not len(ctx.variants) or "published" not in ctx.scores:
        return []
    lines = []
    long = ctx.long[ctx.long["origin"] == "published"]
    rows, _ = table_rows(ctx.scores, ctx.datasets, ctx.paper["main"], ctx.models)
    na_ret = [m for (m, s), r in rows.iterrows() if s == "published" and r["Ret"] != r["Ret"]]
    wrong = off[(off["source"] == "published") & off["column"].isin(["Ret", "Avg (MTEB)"])]["model"]
    for model in dict.fromkeys([*wrong, *na_ret]):
        variant = ctx.variants[ctx.variants["model"] == model]
        if not len(variant):
            continue
        swapped = pd.concat([long[(long["model"] == model) & ~long["task"].isin(variant["task"])], variant])
        row = as_percent(aggregate(dataset_scores(swapped, ctx.datasets), ctx.datasets)).iloc[0]
        paper = ctx.paper["main"].loc[model] if model in ctx.paper["main"].index else None
        tasks = ", ".join(f"{t} {s}" for t, s in zip(variant["task"], variant["split"]))
        cells = [f"{c} {row[c]:.2f}" + (f" ({row[c] - paper[c]:+.2f})" if paper is not None else "")
                 for c in ("Ret", "Avg (MTEB)") if row[c] == row[c]]
        lines.append(f"- {model} · published per-task, with {tasks} instead of the protocol's split: "
                     + (", ".join(cells) if cells else "still N/A"))
    return ["With the benchmark's own split where the protocol takes another:", "", *lines, ""] if lines else []
