"""Main table: every model's row from the published table, recomputed from published per-task results,
and computed here, side by side, with the difference to the published cell."""

from __future__ import annotations

import math

import pandas as pd

from harness.summary import SOURCES, table_rows
from harness.tables import Context, Table, csv, markdown, na_reasons, with_differences

ORDER = 10
REFERENCE_MODEL = "all-MiniLM-L6-v2"


def build(ctx: Context) -> Table:
    rows, na = table_rows(ctx.scores, ctx.datasets, ctx.paper["main"], ctx.models)
    text = ["Rows by source: *published table* = the paper's row; *published per-task* = recomputed here by the "
            "protocol from the published per-task result files; *computed here* = evaluated by this harness. "
            "In the last two, (±x.xx) is the difference to the published table's cell.", "",
            markdown(with_differences(rows))]
    reasons = na_reasons(na, rows, ctx.unavailable, ctx.totals)
    if reasons:
        text += ["N/A cells (a column is N/A when any of its datasets is missing):", "", *reasons, ""]
    reach = reaches_table(rows)
    if len(reach):
        text += [f"Avg (MTEB) and Ret as % of {REFERENCE_MODEL}'s, within the same source "
                 "(100 × model / reference):", "", markdown(reach)]
    return Table("Main table", "\n".join(text), {"main_table.csv": csv(rows)})


def reaches_table(rows: pd.DataFrame) -> pd.DataFrame:
    """100 × model / reference for Avg (MTEB) and Ret, per source, where both are known."""
    out = []
    for (model, source), row in rows.iterrows():
        if model == REFERENCE_MODEL or (REFERENCE_MODEL, source) not in rows.index:
            continue
        ref = rows.loc[(REFERENCE_MODEL, source)]
        entry = {"Model": model, "Source": SOURCES[source]}
        for column in ("Avg (MTEB)", "Ret"):
            ok = not (math.isnan(row[column]) or math.isnan(ref[column]))
            entry[f"{column} %"] = 100 * row[column] / ref[column] if ok else math.nan
        if not all(math.isnan(v) for k, v in entry.items() if k.endswith("%")):
            out.append(entry)
    return pd.DataFrame(out).set_index(["Model", "Source"]) if out else pd.DataFrame()
