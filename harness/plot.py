"""`harness plot`: throughput versus score, one labelled circle per model, from result files only.

x = sentences per second measured by `harness speed` (log axis), circle area ∝ parameter count.
Two panels, never mixed on one axis:

- **Avg (MTEB)** over all 56 datasets, the paper's figure: models with a measured speed and all 56
  dataset scores — computed here when the run has them all, else recomputed from the published
  per-task results (the caption says which, model by model);
- **the MTEB datasets computed here**: the mean over the MTEB datasets that every model with a
  speed and computed MTEB scores shares (the axis says how many); not Avg (MTEB).

A model in neither panel is named in the caption with the reason. Where a plotted Avg (MTEB) differs
from the published table's cell, the caption says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.results import write_text_atomic
from harness.summary import SOURCES, aggregate, partial_table
from harness.tables import Context

AREA_PER_MILLION = 30.0
"""Circle area in points² per million parameters."""
POINT_COLUMNS = ["model", "speed", "speed_min", "speed_max", "score", "params_m", "source"]


@dataclass
class Panel:
    title: str
    y_label: str
    points: pd.DataFrame
    """One row per model: `POINT_COLUMNS`."""


@dataclass
class PlotData:
    panels: list[Panel]
    left_out: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    corpus: str = ""
    hardware: str = ""


def plot_data(ctx: Context) -> PlotData:
    """The panels of the figure from the report's context; a one-line error when nothing can be plotted."""
    speeds = ctx.throughputs
    params = {s.name: s.params_m for s in ctx.registry}
    mteb = [d for d in ctx.datasets if d.benchmark == "MTEB"]

    def point(model: str, score: float, source: str) -> dict:
        t = speeds[model]
        size = params.get(model) or (t.model.n_parameters or 0) / 1e6
        return {"model": model, "speed": t.sentences_per_second, "speed_min": t.min, "speed_max": t.max,
                "score": 100 * score, "params_m": size, "source": source}

    full, notes = [], []
    for model in speeds:
        for origin in ("computed", "published"):
            scores = ctx.scores.get(origin)
            if scores is not None and model in scores.index:
                avg = aggregate(scores.loc[[model]], ctx.datasets).loc[model, "Avg (MTEB)"]
                if not math.isnan(avg):
                    full.append(point(model, avg, origin))
                    notes += _paper_note(ctx, model, 100 * avg)
                    break
    computed = ctx.scores.get("computed", pd.DataFrame(columns=[d.name for d in mteb]))
    partial_models = [m for m in speeds if m in computed.index and computed.loc[m, [d.name for d in mteb]].notna().any()]
    panels = [Panel("Avg (MTEB), all 56 datasets", "Avg (MTEB)", _frame(full))]
    shared = 0
    if partial_models:
        means, counts = partial_table(computed.loc[partial_models, [d.name for d in mteb]], mteb)
        shared = counts["Avg (MTEB)"]
        if shared:
            rows = [point(m, means.loc[m, "Avg (MTEB)"], "computed") for m in partial_models]
            panels.append(Panel(f"The {shared} MTEB datasets computed here for every model",
                                f"mean over {shared} MTEB datasets (not Avg (MTEB))", _frame(rows)))
    panels = [p for p in panels if len(p.points)]
    if not panels:
        raise HarnessError(f"plot: no model in {ctx.results_dir} has both a measured speed and MTEB scores "
                           "(run `harness run -t MTEB` and `harness speed` first)")
    plotted = {m for p in panels for m in p.points["model"]}
    left_out = {m: "no measured speed (run `harness speed`)" for m in ctx.models
                if m not in speeds and any(m in s.index for s in ctx.scores.values())}
    left_out.update({m: "no MTEB scores" if not shared else "no score on the shared MTEB datasets"
                     for m in speeds if m not in plotted})
    first = next(iter(speeds.values()))
    c, h = first.corpus, first.hardware
    return PlotData(panels, left_out, notes,
                    f"{c.get('name')} ({c.get('count')} texts, mean {c.get('mean_words', 0):.0f} words)",
                    f"{h.get('cpu')}, {h.get('cores')} cores, {h.get('torch_threads')} torch threads")


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def _paper_note(ctx: Context, model: str, score: float) -> list[str]:
    paper = ctx.paper["main"]
    if model in paper.index and abs(round(score, 2) - paper.loc[model, "Avg (MTEB)"]) > 0.01 + 1e-9:
        return [f"{model}'s Avg (MTEB) here is {score:.2f} by the protocol; the published table says "
                f"{paper.loc[model, 'Avg (MTEB)']:.2f} (see the report's differences section)."]
    return []


def _place_labels(ax, points: pd.DataFrame, radii_pt: np.ndarray) -> None:
    """Labels beside their circles, nudged vertically until no two label boxes overlap."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []
    for (_, p), r in zip(points.iterrows(), radii_pt):
        texts.append(ax.annotate(p["model"], (p["speed"], p["score"]), xytext=(r + 3, 0), textcoords="offset points",
                                 va="center", fontsize=8))
    for _ in range(200):
        moved = False
        boxes = [t.get_window_extent(renderer) for t in texts]
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                if boxes[i].overlaps(boxes[j]):
                    lower, upper = (i, j) if boxes[i].y0 <= boxes[j].y0 else (j, i)
                    for k, step in ((lower, -3), (upper, 3)):
                        x, y = texts[k].get_position()
                        texts[k].set_position((x, y + step))
                    moved = True
        if not moved:
            break
        fig.canvas.draw()


def _draw_panel(ax, panel: Panel, colors: dict[str, tuple], xlim: tuple[float, float]) -> np.ndarray:
    pts = panel.points.sort_values("params_m", ascending=False)
    area = AREA_PER_MILLION * pts["params_m"].to_numpy()  # points², proportional to parameters
    for (_, p), a in zip(pts.iterrows(), area):
        ax.scatter([p["speed"]], [p["score"]], s=a, color=colors[p["model"]], alpha=0.55, edgecolors="black",
                   linewidths=0.6, gid=f"point-{p['model']}")
    ax.set_xscale("log")
    ax.set_xlabel("sentences per second (log scale, median of timed passes)")
    ax.set_ylabel(panel.y_label)
    ax.set_title(panel.title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.set_xlim(*xlim)
    pad = max(1.0, (pts["score"].max() - pts["score"].min()) * 0.25)
    ax.set_ylim(pts["score"].min() - pad, pts["score"].max() + pad)
    return np.sqrt(area) / 2


def draw(data: PlotData):
    """The figure: one axis per panel, circles, labels placed without overlap, and the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data.panels), figsize=(8.5 * len(data.panels), 6.5), dpi=120, squeeze=False)
    models = list(dict.fromkeys(m for p in data.panels for m in p.points["model"]))
    palette = plt.cm.viridis(np.linspace(0.1, 0.9, max(len(models), 1)))
    colors = {m: tuple(palette[i]) for i, m in enumerate(models)}
    speeds = pd.concat([p.points["speed"] for p in data.panels])
    xlim = (speeds.min() / 2, speeds.max() * 6)  # one x range for all panels: speeds compare across them
    radii = [_draw_panel(ax, panel, colors, xlim) for ax, panel in zip(axes[0], data.panels)]
    fig.text(0.01, 0.005, caption_text(data), fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    for ax, panel, r in zip(axes[0], data.panels, radii):
        _place_labels(ax, panel.points.sort_values("params_m", ascending=False), r)
    return fig


def render(data: PlotData, out_dir: str | Path) -> list[Path]:
    """Write throughput_vs_score.{png,svg} and its caption; returns the files written."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw(data)
    files = [out / "throughput_vs_score.png", out / "throughput_vs_score.svg"]
    with plt.rc_context({"svg.hashsalt": "harness"}):  # same inputs, same bytes
        for path in files:
            fig.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    write_text_atomic(out / "throughput_vs_score.md", caption_text(data) + "\n")
    return files + [out / "throughput_vs_score.md"]


def caption_text(data: PlotData) -> str:
    parts = [f"x: sentences per second measured by `harness speed` on {data.corpus or 'no corpus'} "
             f"({data.hardware or 'unknown hardware'}); circle area ∝ parameters."]
    for panel in data.panels:
        by_source: dict[str, list[str]] = {}
        for model, source in zip(panel.points["model"], panel.points["source"]):
            by_source.setdefault(SOURCES[source], []).append(model)
        sources = "; ".join(f"{s}: {', '.join(ms)}" for s, ms in by_source.items())
        parts.append(f"{panel.title}: y = {panel.y_label} ({sources}).")
    parts += data.notes
    if data.left_out:
        parts.append("Left out: " + "; ".join(f"{m} ({why})" for m, why in data.left_out.items()) + ".")
    return " ".join(parts)
