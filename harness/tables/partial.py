"""Partial table: computed rows averaged over only the datasets every computed model has."""

from __future__ import annotations

from harness.summary import as_percent, partial_table
from harness.tables import Context, Table, csv, markdown

ORDER = 70


def build(ctx: Context) -> Table | None:
    scores = ctx.scores.get("computed")
    if scores is None or not len(scores):
        return None
    scores = scores.loc[[m for m in ctx.models if m in scores.index] + [m for m in scores.index if m not in ctx.models]]
    partial, counts = partial_table(scores, ctx.datasets)
    table = as_percent(partial)
    table.index.name = "Model"
    headers = ["Model"] + [f"{c} ({counts[c]})" for c in table.columns]
    text = ["Means over only the datasets that every model computed here has; the header gives the number of such "
            "datasets per column. Not comparable with the published tables.", "", markdown(table, headers)]
    return Table("Partial table (computed here, not comparable with the published table)", "\n".join(text),
                 {"partial_table.csv": csv(table.set_axis(headers[1:], axis=1))})
