"""The leaderboard page: one self-contained HTML file (`index.html`) built from the report's `Context`.

Everything is inline (CSS, plain JavaScript, the figure as SVG, the data as JSON), so the page works
opened from `file://` on a machine without network. The template (`harness/templates/`) is rendered
with Jinja2 from plain values computed here:

- the main, retrieval and ablation tables, every row marked by its source, every cell with its
  difference to the published table's cell (coloured by size) and every N/A cell with its reason;
- the ablation findings with their paired statistics (`harness.stats`), and the same statistics for
  every pair of models within each source, for the page's "compare two models" section;
- every score record with its provenance (`Context.long`), shown per model on a click;
- the throughput-versus-score figure exactly as `harness plot` draws it (inline SVG), its points
  clickable;
- a heat map of the per-dataset scores.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

from harness import __version__
from harness.errors import HarnessError
from harness.results import write_text_atomic
from harness.stats import METHOD, Paired, fmt, fmt_interval, fmt_p, paired
from harness.summary import SOURCES, table_rows
from harness.tables import Context, cell, na_cell_reason, paper_differences

PAGE = "index.html"
TEMPLATE = "leaderboard.html.j2"
NOT_RECORDED = "not recorded"
MAX_PAIRED_MODELS = 60
"""Above this many models in one source, the page leaves pairwise statistics to `harness compare`."""
AGREE, NEAR, OFF = 0.01, 0.05, 1.0
"""Difference classes (×100): within AGREE, within the flag tolerance NEAR, within OFF, beyond."""
DETAIL_FIELDS = ("dataset", "task", "group", "origin", "score", "metric", "counted", "source", "mteb_version", "date",
                 "data_source", "data_fingerprint", "harness_version", "revision", "note", "imported_from")


def write_page(ctx: Context, out_dir: str | Path) -> Path:
    """Render the page for `ctx` into `out_dir/index.html`; returns its path."""
    path = Path(out_dir) / PAGE
    write_text_atomic(path, render_page(ctx))
    return path


def render_page(ctx: Context) -> str:
    return _environment().get_template(TEMPLATE).render(**page_values(ctx))


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("harness", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def page_values(ctx: Context) -> dict:
    """Every value the template shows, from `ctx` (plain Python values: the page's whole content)."""
    from harness.tables import ablation

    listed = lambda table: [s.name for s in ctx.registry if table in s.tables]  # noqa: E731
    ablation_models = [s.name for s in ctx.registry if "ablation" in s.tables or s.id.startswith("distilled/")]
    tables = [
        _table(ctx, "main", "Main table", "main", ctx.models),
        _table(ctx, "retrieval", "Retrieval (nDCG@10 over the 15 retrieval datasets)", "retrieval",
               [m for m in ctx.models if m in listed("retrieval")], columns=["Ret"]),
        _table(ctx, "ablation", "Ablations", "ablation", [m for m in ctx.models if m in ablation_models]),
    ]
    findings = ablation.findings_table(ctx)
    return {
        "title": "Embedding model leaderboard",
        "version": __version__,
        "inputs": _inputs(ctx),
        "sources": SOURCES,
        "tables": tables,
        "findings": _findings(findings),
        "stats_method": METHOD,
        "figure": _figure(ctx),
        "heatmap": _heatmap(ctx),
        "data": {"models": _models(ctx), "fields": list(DETAIL_FIELDS), "records": _records(ctx),
                 "pairs": _pairs(ctx), "sources": {k: v for k, v in SOURCES.items() if k != "paper"},
                 "not_recorded": NOT_RECORDED},
        "thresholds": {"agree": AGREE, "near": NEAR, "off": OFF},
    }


# ---- what was read ------------------------------------------------------------------------------

def _inputs(ctx: Context) -> dict:
    computed = ctx.long[ctx.long["origin"] == "computed"]
    unprovenanced = int((computed["harness_version"] == "").sum())
    notes = []
    if not any(r.origin == "published" for r in ctx.readings):
        notes.append("No published per-task results were read (none given, or --published none): "
                     "rows come from the published tables and from this harness only.")
    if not len(computed):
        notes.append("No computed results: the results folder holds no readable task score.")
    if unprovenanced:
        notes.append(f"{unprovenanced} of {len(computed)} computed scores come from files without provenance "
                     "(written by another tool or an older harness): their details say \"not recorded\".")
    return {
        "readings": [{"description": r.description or str(r.root), "origin": r.origin, "scores": len(r.records),
                      "models": len(r.models), "problems": list(r.problems), "notes": list(r.notes)}
                     for r in ctx.readings],
        "notes": notes,
        "unavailable": len(ctx.unavailable),
    }


# ---- tables -------------------------------------------------------------------------------------

def _table(ctx: Context, key: str, title: str, paper_name: str, models: Sequence[str],
           columns: list[str] | None = None) -> dict:
    paper = ctx.paper[paper_name]
    rows, na = table_rows(ctx.scores, ctx.datasets, paper, models)
    if columns is not None:
        rows = rows[columns]
    diffs = paper_differences(rows)
    specs = {s.name: s for s in ctx.registry}
    body = []
    for i, ((model, source), row) in enumerate(rows.iterrows()):
        spec = specs.get(model)
        cells = []
        for column, value in row.items():
            if math.isnan(value):
                missing = (na.get((model, source)) or {}).get(column, [])
                cells.append({"text": "N/A", "value": "", "cls": "na", "diff": "",
                              "title": na_cell_reason(column, missing, source, ctx.unavailable, ctx.totals)})
                continue
            difference = diffs.loc[(model, source), column]
            entry = {"text": cell(float(value)), "value": f"{value:.4f}", "cls": "", "title": "", "diff": ""}
            if not math.isnan(difference):
                published = rows.loc[(model, "paper"), column]
                entry.update(diff=f"{difference:+.2f}", cls=_difference_class(difference),
                             title=f"{column}: {value:.2f} here ({SOURCES[source]}), {published:.2f} in the published "
                                   f"table, difference {difference:+.2f}")
            cells.append(entry)
        body.append({"i": i, "model": model, "source": source, "source_label": SOURCES[source],
                     "family": spec.family if spec else "", "task_specific": bool(spec and spec.task_specific),
                     "cells": cells})
    return {"key": key, "title": title, "columns": list(rows.columns), "rows": body}


def _difference_class(difference: float) -> str:
    size = abs(round(difference, 2))
    if size <= AGREE + 1e-9:
        return "d0"
    if size <= NEAR + 1e-9:
        return "d1"
    return "d2" if size <= OFF + 1e-9 else "d3"


def _findings(findings: pd.DataFrame) -> list[dict]:
    out = []
    for row in findings.to_dict("records"):
        out.append({"finding": row["finding"], "family": row["family"], "with": row["with"], "without": row["without"],
                    "ours": fmt(row["ours"]), "n": int(row["datasets"]),
                    "ci": fmt_interval(row["95% CI low"], row["95% CI high"]), "p": fmt_p(row["p (Wilcoxon)"]),
                    "published": fmt(row["published"]), "holds_ours": row["holds (ours)"] or "–",
                    "holds_published": row["holds (published)"] or "–", "source": row.get("source") or "–"})
    return out


# ---- models, records, pairs (the page's JSON) ----------------------------------------------------

def _models(ctx: Context) -> dict:
    """Name -> what the registry and the speed measurement say about the model."""
    out = {}
    names = list(dict.fromkeys([*ctx.models, *ctx.outside, *ctx.long["model"]]))
    specs = {s.name: s for s in ctx.registry}
    for name in names:
        spec = specs.get(name)
        speed = ctx.throughputs.get(name)
        out[name] = {
            "family": spec.family if spec else "",
            "task_specific": bool(spec and spec.task_specific),
            "params_m": spec.params_m if spec else None,
            "id": spec.id if spec else name,
            "revision": spec.revision if spec else "",
            "link": spec.link if spec else "",
            "registry": spec is not None,
            "speed": round(speed.sentences_per_second, 1) if speed else None,
            "datasets": _side_by_side(ctx, name),
        }
    return out


def _side_by_side(ctx: Context, model: str) -> list[list]:
    """Per dataset (protocol order) with a score of either origin: [dataset, computed, published, computed −
    published, the difference's colour class] ×100, None where missing."""
    scores = {origin: table.loc[model] for origin, table in ctx.scores.items() if model in table.index}
    value = lambda v: None if math.isnan(v) else round(100 * float(v), 4)  # noqa: E731
    rows = []
    for d in ctx.datasets:
        here, there = (scores[o][d.name] if o in scores else math.nan for o in ("computed", "published"))
        if math.isnan(here) and math.isnan(there):
            continue
        difference = None if math.isnan(here) or math.isnan(there) else round(100 * (float(here) - float(there)), 4)
        rows.append([d.name, value(here), value(there), difference,
                     "" if difference is None else _difference_class(difference)])
    return rows


def _records(ctx: Context) -> dict[str, list[list]]:
    """Model -> its score records (`DETAIL_FIELDS`, score ×100), dataset order, computed first."""
    long = ctx.long
    if not len(long):
        return {}
    order = {d.name: i for i, d in enumerate(ctx.datasets)}
    frame = long.assign(_o=long["dataset"].map(order), _s=long["origin"].map({"computed": 0, "published": 1}))
    frame = frame.sort_values(["_s", "_o", "task"], kind="stable")
    out: dict[str, list[list]] = {}
    for row in frame[["model", *DETAIL_FIELDS]].itertuples(index=False):
        values = row._asdict()
        model = values.pop("model")
        values["origin"] = SOURCES.get(values["origin"], values["origin"])
        values["score"] = round(100 * float(values["score"]), 4)
        values["counted"] = bool(values["counted"])
        out.setdefault(model, []).append([_plain(values[f]) for f in DETAIL_FIELDS])
    return out


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _pairs(ctx: Context) -> dict:
    """Origin -> {"A\\tB": statistics of A − B} for every pair of models with scores in that origin (A
    before B in table order); the page reverses a pair for B − A."""
    order = {m: i for i, m in enumerate([*ctx.models, *ctx.outside])}
    groups = {d.name: d.group for d in ctx.datasets}
    out: dict[str, dict] = {}
    for origin, table in ctx.scores.items():
        models = sorted((m for m in table.index if table.loc[m].notna().any()), key=lambda m: (order.get(m, 1e9), m))
        if len(models) > MAX_PAIRED_MODELS:
            out[origin] = {"skipped": f"{len(models)} models: use `harness compare A B`"}
            continue
        pairs = {}
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                pairs[f"{a}\t{b}"] = _pair_values(paired(table.loc[a], table.loc[b]), groups)
        out[origin] = {"models": models, "pairs": pairs}
    return out


def _pair_values(result: Paired, groups: dict[str, str]) -> dict:
    counts = dict(Counter(groups.get(name, "?") for name in result.datasets))
    finite = lambda v: None if math.isnan(v) else round(v, 4)  # noqa: E731
    return {"n": result.n, "mean": finite(result.mean), "low": finite(result.low), "high": finite(result.high),
            "p": None if math.isnan(result.p_value) else float(f"{result.p_value:.4g}"), "note": result.note,
            "groups": counts}


# ---- figure -------------------------------------------------------------------------------------

def _figure(ctx: Context) -> dict:
    """The throughput-versus-score figure as `harness plot` draws it (the same panels, points and labels as
    the PNG), inline SVG; its points carry ids `point<panel>-<model>` that the page makes clickable."""
    import matplotlib.pyplot as plt

    from harness.plot import caption_text, draw, plot_data, svg_text

    try:
        data = plot_data(ctx)
    except HarnessError as exc:
        return {"error": str(exc), "svg": "", "caption": ""}
    fig = draw(data)
    try:
        svg = svg_text(fig)
    finally:
        plt.close(fig)
    svg = svg[svg.index("<svg"):]  # inline: without the XML declaration and doctype
    return {"error": "", "svg": svg, "caption": caption_text(data)}


# ---- heat map -----------------------------------------------------------------------------------

def _heatmap(ctx: Context) -> dict:
    """Rows (model, source) × the datasets any row has, each cell coloured by its score."""
    order = [*ctx.models, *ctx.outside]
    specs = {s.name: s for s in ctx.registry}
    rows = []
    for origin in ("computed", "published"):
        table = ctx.scores.get(origin)
        if table is None:
            continue
        for model in sorted(table.index, key=lambda m: (order.index(m) if m in order else len(order), m)):
            rows.append((model, origin, table.loc[model]))
    columns = [d for d in ctx.datasets if any(not math.isnan(r[2][d.name]) for r in rows)]
    groups: list[dict] = []
    for d in columns:
        label = f"{d.benchmark} · {d.group}" if d.group != d.benchmark else d.benchmark
        if groups and groups[-1]["label"] == label:
            groups[-1]["span"] += 1
        else:
            groups.append({"label": label, "span": 1})
    body = []
    for model, origin, scores in rows:
        spec = specs.get(model)
        cells = []
        for d in columns:
            value = scores[d.name]
            if math.isnan(value):
                why = ctx.unavailable.get(d.name, "not run, or failed") if origin == "computed" else "no published file"
                cells.append({"text": "", "style": "", "title": f"{model} · {d.name}: no score ({why})", "cls": "na"})
            else:
                cells.append({"text": f"{100 * value:.1f}", "style": _heat_colour(value), "cls": "",
                              "title": f"{model} · {d.name} ({SOURCES[origin]}): {100 * value:.2f} ({d.main_score})"})
        body.append({"model": model, "source_label": SOURCES[origin], "family": spec.family if spec else "",
                     "task_specific": bool(spec and spec.task_specific), "cells": cells})
    return {"columns": [d.name for d in columns], "groups": groups, "rows": body,
            "left_out": len(ctx.datasets) - len(columns)}


def _heat_colour(score: float) -> str:
    """White (0) to deep blue (1): one scale for every dataset, as the scores are."""
    s = min(max(float(score), 0.0), 1.0)
    lightness = 97 - 62 * s
    text = "#fff" if lightness < 58 else "#111"
    return f"background:hsl(212,65%,{lightness:.0f}%);color:{text}"
