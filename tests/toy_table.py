"""A report table that lives outside the package: one file, found through HARNESS_PLUGINS."""

from __future__ import annotations

ORDER = 95


def build(ctx):
    from harness.tables import Table

    counts = ctx.long.groupby("model").size()
    lines = [f"- {model}: {n} task scores" for model, n in counts.items()]
    return Table("Scores per model", "\n".join(lines) + "\n", {"scores_per_model.csv": counts.to_csv()})
