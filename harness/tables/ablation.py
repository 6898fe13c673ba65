"""Ablation table and findings: what PCA, Zipf weighting and output embeddings each bring."""

from __future__ import annotations

import pandas as pd

from harness.summary import SOURCES, ablation_findings, table_rows
from harness.tables import Context, Table, csv, markdown, na_reasons, with_differences

ORDER = 25
FAMILIES = ("M2V_base", "M2V_MiniLM")


def build(ctx: Context) -> Table:
    paper = ctx.paper["ablation"]
    listed = [s.name for s in ctx.registry if "ablation" in s.tables or s.id.startswith("distilled/")]
    rows, na = table_rows(ctx.scores, ctx.datasets, paper, [m for m in ctx.models if m in listed])
    findings = _findings(ctx, paper)
    text = [markdown(with_differences(rows)) if len(rows) else "No ablation model has results yet.\n"]
    reasons = na_reasons(na, rows, ctx.unavailable, ctx.totals)
    if reasons:
        text += ["N/A cells:", "", *reasons, ""]
    text += ["Findings, as differences ×100 between the variant with and without the ingredient: ours is the mean "
             "over the datasets both variants have in one source (named; computed preferred), with their count, published is the "
             "difference of the published Avg (All).", "", markdown(findings.set_index("finding"))]
    return Table("Ablations", "\n".join(text), {"ablation_table.csv": csv(rows),
                                                "ablation_findings.csv": findings.to_csv(index=False,
                                                                                         float_format="%.2f")})


def _findings(ctx: Context, paper: pd.DataFrame) -> pd.DataFrame:
    """The findings from computed scores where both variants were computed here, else from published
    per-task scores: a pair is always compared within one source."""
    by_source = {origin: ablation_findings(scores, FAMILIES, paper) for origin, scores in ctx.scores.items()}
    if not by_source:
        return ablation_findings(pd.DataFrame(columns=[d.name for d in ctx.datasets]), FAMILIES, paper)
    rows = []
    for i in range(len(next(iter(by_source.values())))):
        options = [(o, f.iloc[i]) for o, f in sorted(by_source.items()) if f.iloc[i]["datasets"] > 0]
        origin, row = options[0] if options else ("", next(iter(by_source.values())).iloc[i])
        rows.append({**row.to_dict(), "source": SOURCES.get(origin, "")})
    return pd.DataFrame(rows)
