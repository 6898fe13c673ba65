"""Throughput: measured sentences per second, and each model's speed relative to the reference model,
next to the published figure's speeds."""

from __future__ import annotations

import math

import pandas as pd

from harness.summary import read_figure
from harness.tables import Context, Table, markdown
from harness.tables.main import REFERENCE_MODEL

ORDER = 50


def published_speeds() -> pd.Series:
    """Sentences per second of the published figure (harness/reference/figure.csv), by model."""
    return pd.Series({p.model: p.speed for p in read_figure()}, dtype=float)


def build(ctx: Context) -> Table | None:
    if not ctx.throughputs:
        return Table("Throughput", "No speed measured yet (`harness speed`).\n")
    published = published_speeds()
    ref = ctx.throughputs.get(REFERENCE_MODEL)
    rows = []
    for model in [m for m in ctx.models if m in ctx.throughputs] + sorted(set(ctx.throughputs) - set(ctx.models)):
        t = ctx.throughputs[model]
        theirs = published.get(model, math.nan)
        rows.append({"Model": model, "sentences/s": t.sentences_per_second, "min": t.min, "max": t.max,
                     f"× {REFERENCE_MODEL}": t.sentences_per_second / ref.sentences_per_second if ref else math.nan,
                     "published sentences/s": theirs,
                     f"published × {REFERENCE_MODEL}": theirs / published.get(REFERENCE_MODEL, math.nan)})
    table = pd.DataFrame(rows).set_index("Model")
    first = next(iter(ctx.throughputs.values()))
    corpus, hw = first.corpus, first.hardware
    text = [f"Measured here on {corpus.get('name')} ({corpus.get('count')} texts, mean {corpus.get('mean_words', 0):.0f} "
            f"words) on {hw.get('cpu')} ({hw.get('cores')} cores): median of {len(first.repetitions)} timed passes "
            "after a warm-up, min and max beside it. Published speeds are the published figure's (read off its "
            "PNG, ±1.5 sentences/s; harness/reference/figure.csv), measured by the paper's authors on their CPU "
            "and Wikipedia texts, so compare the ratios, not the absolute numbers.", "",
            markdown(table)]
    return Table("Throughput", "\n".join(text), {"throughput.csv": table.reset_index().to_csv(index=False,
                                                                                              float_format="%.2f")})
