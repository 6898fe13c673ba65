"""Retrieval table: nDCG@10 over the 15 retrieval datasets, by source."""

from __future__ import annotations

from harness.summary import table_rows
from harness.tables import Context, Table, csv, markdown, na_reasons, with_differences

ORDER = 20


def build(ctx: Context) -> Table:
    paper = ctx.paper["retrieval"]
    listed = [s.name for s in ctx.registry if "retrieval" in s.tables]
    rows, na = table_rows(ctx.scores, ctx.datasets, paper, [m for m in ctx.models if m in listed])
    rows = rows[["Ret"]]
    text = [markdown(with_differences(rows))]
    reasons = na_reasons({k: {c: n for c, n in v.items() if c == "Ret"} for k, v in na.items()}, rows, ctx.unavailable, ctx.totals)
    if reasons:
        text += ["N/A cells:", "", *reasons, ""]
    return Table("Retrieval", "\n".join(text), {"retrieval_table.csv": csv(rows.rename(columns={"Ret": "Retrieval"}))})
