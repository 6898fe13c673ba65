"""What was read: each results folder, its models, how many datasets each has, and every file left out."""

from __future__ import annotations

from harness.tables import Context, Table

ORDER = 90


def build(ctx: Context) -> Table:
    text = []
    mteb = {d.name for d in ctx.datasets if d.benchmark == "MTEB"}
    for reading in ctx.readings:
        text += [f"**{reading.description or reading.root}** ({reading.origin}): {len(reading.records)} task scores, "
                 f"{len(reading.models)} models.", ""]
        long = ctx.long[ctx.long["source"].isin({str(r.path) for r in reading.records})]
        for model, group in long.groupby("model", sort=False):
            have = set(group.loc[group["counted"], "dataset"])
            text.append(f"- {model}: {len(have & mteb)} of {len(mteb)} MTEB datasets, {len(have - mteb)} others")
        if reading.problems:
            text += ["", "Files that could not be read (left out):", ""] + [f"- {p}" for p in reading.problems]
        if reading.notes:
            text += ["", "Files not used:", ""] + [f"- {n}" for n in reading.notes]
        text.append("")
    return Table("What was read", "\n".join(text))
