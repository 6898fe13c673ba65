"""Models of the published folders that the registry does not have: listed, never dropped."""

from __future__ import annotations

from harness.summary import as_percent, aggregate, benchmark_columns
from harness.tables import Context, Table, csv, markdown

ORDER = 80


def build(ctx: Context) -> Table | None:
    published = ctx.scores.get("published")
    if not ctx.outside or published is None:
        return None
    table = as_percent(aggregate(published.loc[ctx.outside], ctx.datasets))[benchmark_columns(ctx.datasets, "MTEB")]
    counts = published.loc[ctx.outside, [d.name for d in ctx.datasets if d.benchmark == "MTEB"]].notna().sum(axis=1)
    table.insert(0, "MTEB datasets", counts.astype(int))
    table.index.name = "Model"
    text = ["Recomputed by the protocol from their published per-task results; add a registry entry to give them "
            "a row of the main table.", "", markdown(table)]
    return Table("Published models not in the registry", "\n".join(text), {"outside_registry.csv": csv(table)})
