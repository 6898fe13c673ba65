"""Ablation table and findings: what PCA, Zipf weighting and output embeddings each bring."""

from __future__ import annotations

import math

import pandas as pd

from harness.stats import RESAMPLES, SEED, fmt_interval, fmt_p
from harness.summary import SOURCES, ablation_findings, table_rows
from harness.tables import NA, Context, Table, csv, markdown, na_reasons, with_differences

ORDER = 25
FAMILIES = ("M2V_base", "M2V_MiniLM")


def build(ctx: Context) -> Table:
    paper = ctx.paper["ablation"]
    listed = [s.name for s in ctx.registry if "ablation" in s.tables or s.id.startswith("distilled/")]
    rows, na = table_rows(ctx.scores, ctx.datasets, paper, [m for m in ctx.models if m in listed])
    findings = findings_table(ctx)
    text = [markdown(with_differences(rows)) if len(rows) else "No ablation model has results yet.\n"]
    reasons = na_reasons(na, rows, ctx.unavailable, ctx.totals)
    if reasons:
        text += ["N/A cells:", "", *reasons, ""]
    text += ["Findings, as differences ×100 between the variant with and without the ingredient: ours is the mean "
             "over the datasets both variants have in one source (named; computed preferred), with their count, the mean's "
             f"95% CI (percentile bootstrap over those datasets, {RESAMPLES:,} resamples, seed {SEED}) and the two-sided "
             "Wilcoxon signed-rank p-value (N/A with fewer than two datasets, or when every difference is zero); "
             "published is the difference of the published Avg (All).", "",
             markdown(findings_for_display(findings).set_index("finding"))]
    return Table("Ablations", "\n".join(text), {"ablation_table.csv": csv(rows),
                                                "ablation_findings.csv": findings_csv(findings)})


def findings_for_display(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings with the interval as one `[low, high]` cell and the p-value to two significant digits."""
    shown = findings.drop(columns=["95% CI low", "95% CI high", "p (Wilcoxon)"])
    at = list(shown.columns).index("datasets") + 1
    shown.insert(at, "95% CI", [fmt_interval(lo, hi) for lo, hi in zip(findings["95% CI low"], findings["95% CI high"])])
    shown.insert(at + 1, "p (Wilcoxon)", findings["p (Wilcoxon)"].map(fmt_p))
    return shown


def findings_csv(findings: pd.DataFrame) -> str:
    """ablation_findings.csv: differences and interval to 2 decimals, the p-value to 4 significant digits, N/A for
    what is not defined."""
    out = findings.copy()
    out["p (Wilcoxon)"] = out["p (Wilcoxon)"].map(lambda p: NA if math.isnan(p) else f"{p:.4g}")
    return out.to_csv(index=False, float_format="%.2f", na_rep=NA)


def findings_table(ctx: Context) -> pd.DataFrame:
    """The findings from computed scores where both variants were computed here, else from published
    per-task scores: a pair is always compared within one source."""
    paper = ctx.paper["ablation"]
    by_source = {origin: ablation_findings(scores, FAMILIES, paper) for origin, scores in ctx.scores.items()}
    if not by_source:
        return ablation_findings(pd.DataFrame(columns=[d.name for d in ctx.datasets]), FAMILIES, paper).assign(source="")
    rows = []
    for i in range(len(next(iter(by_source.values())))):
        options = [(o, f.iloc[i]) for o, f in sorted(by_source.items()) if f.iloc[i]["datasets"] > 0]
        origin, row = options[0] if options else ("", next(iter(by_source.values())).iloc[i])
        rows.append({**row.to_dict(), "source": SOURCES.get(origin, "")})
    return pd.DataFrame(rows)
