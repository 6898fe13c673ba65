"""`harness plot`: throughput versus score, one labelled circle per model, circle area ∝ parameters.

Three panels, never mixed on one axis:

- **the published figure**: its eight models at the figure's own values (`harness/reference/figure.csv`:
  speeds read off the published PNG, Avg (MTEB) and parameters as its plotting script typed them in);
- **the same figure here**: the same models (and any other model with a measured speed and all 56
  MTEB scores); x = the speed `harness speed` measured here, else the published figure's (the circle
  drawn hollow, its label saying so); y = Avg (MTEB) recomputed by the protocol from the 56 dataset
  scores (computed here when the run has them all, else the published per-task results), else the
  published table's value (the label says so), else the figure's;
- **the MTEB datasets computed here**: the mean over the MTEB datasets that every model with a speed
  and computed MTEB scores shares (the axis says how many); not Avg (MTEB).

The x axis is linear, as the published figure's (`--x-scale log` for a log view). The caption says,
point by point, where x and y come from; a model with scores but no speed is named as left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.results import write_text_atomic
from harness.summary import FIGURE, SOURCES, aggregate, partial_table, read_figure
from harness.tables import Context

AREA_PER_MILLION = 30.0
"""Circle area in points² per million parameters."""
POINT_COLUMNS = ["model", "speed", "score", "params_m", "source", "x_source", "label", "hollow"]
"""`source`: where y comes from (a `SOURCES` key, or `figure`); `x_source`: `measured` or `figure`; `hollow`:
drawn as an outline (a point of the figure here whose speed is the published one)."""
X_SOURCES = {"measured": "measured here by `harness speed`", "figure": "the published figure's speed"}
Y_SOURCES = {**SOURCES, "figure": "the published figure's value"}
PUBLISHED_PANEL = "The published figure"
HERE_PANEL = "The same figure here"


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
    x_scale: str = "linear"
    figure_source: str = ""


def plot_data(ctx: Context, figure: str | Path = FIGURE, x_scale: str = "linear") -> PlotData:
    """The panels of the figure from the report's context and the published figure's points."""
    if x_scale not in ("linear", "log"):
        raise HarnessError(f"x scale {x_scale!r}: expected linear or log")
    published_points = read_figure(figure)
    speeds = ctx.throughputs
    params = {s.name: s.params_m for s in ctx.registry}
    names = {s.name for s in ctx.registry}
    mteb = [d for d in ctx.datasets if d.benchmark == "MTEB"]

    def measured(model: str, score: float, source: str, size: float | None = None, label: str = "") -> dict:
        t = speeds[model]
        size = size or params.get(model) or (t.model.n_parameters or 0) / 1e6
        return _point(model, t.sentences_per_second, score, size, source, "measured", label or model)

    def avg_mteb(model: str) -> tuple[float, str] | None:
        """Avg (MTEB) ×100 by the protocol from the 56 dataset scores: computed here first, then published."""
        for origin in ("computed", "published"):
            scores = ctx.scores.get(origin)
            if scores is not None and model in scores.index:
                avg = aggregate(scores.loc[[model]], ctx.datasets).loc[model, "Avg (MTEB)"]
                if not math.isnan(avg):
                    return 100 * avg, origin
        return None

    paper_rows, here, notes = [], [], []
    table = ctx.paper["main"]
    for fp in published_points:
        key = fp.model if fp.model in names else fp.id  # the model's name in the results (an id outside the registry)
        paper_rows.append(_point(key, fp.speed, fp.score, fp.params_m, "figure", "figure", fp.model))
        found = avg_mteb(key)
        if found:
            score, source = found
            notes += _paper_note(ctx, fp.model, score)
        elif fp.model in table.index and not math.isnan(table.loc[fp.model, "Avg (MTEB)"]):
            score, source = float(table.loc[fp.model, "Avg (MTEB)"]), "paper"
        else:
            score, source = fp.score, "figure"
        marks = [] if source in ("computed", "published") else ["table score" if source == "paper" else "figure score"]
        if key in speeds:
            here.append(measured(key, score, source, fp.params_m, " · ".join([fp.model, *marks])))
        else:
            here.append(_point(key, fp.speed, score, fp.params_m, source, "figure",
                               " · ".join([fp.model, "published speed", *marks]), hollow=True))
    shown = {p["model"] for p in here}
    for model in speeds:
        found = avg_mteb(model)
        if model not in shown and found:
            here.append(measured(model, found[0], found[1]))
            notes += _paper_note(ctx, model, found[0])
    panels = [Panel(PUBLISHED_PANEL, "Avg (MTEB)", _frame(paper_rows)),
              Panel(HERE_PANEL, "Avg (MTEB)", _frame(here))]
    computed = ctx.scores.get("computed", pd.DataFrame(columns=[d.name for d in mteb]))
    partial_models = [m for m in speeds if m in computed.index and computed.loc[m, [d.name for d in mteb]].notna().any()]
    shared = 0
    if partial_models:
        means, counts = partial_table(computed.loc[partial_models, [d.name for d in mteb]], mteb)
        shared = counts["Avg (MTEB)"]
        if shared:
            rows = [measured(m, 100 * means.loc[m, "Avg (MTEB)"], "computed") for m in partial_models]
            panels.append(Panel(f"The {shared} MTEB datasets computed here for every model",
                                f"mean over {shared} MTEB datasets (not Avg (MTEB))", _frame(rows)))
    panels = [p for p in panels if len(p.points)]
    if not panels:
        raise HarnessError(f"plot: nothing to draw: {_shown_path(figure)} has no points and no model in "
                           f"{ctx.results_dir} has both a measured speed and MTEB scores (run `harness speed`)")
    plotted = {m for p in panels if p.title != PUBLISHED_PANEL for m in p.points["model"]}
    left_out = {m: "no measured speed (run `harness speed`)" for m in ctx.models
                if m not in speeds and m not in plotted and any(m in s.index for s in ctx.scores.values())}
    left_out.update({m: "no MTEB scores" if not shared else "no score on the shared MTEB datasets"
                     for m in speeds if m not in plotted})
    corpus = hardware = ""
    if speeds:
        first = next(iter(speeds.values()))
        c, h = first.corpus, first.hardware
        corpus = f"{c.get('name')} ({c.get('count')} texts, mean {c.get('mean_words', 0):.0f} words)"
        hardware = f"{h.get('cpu')}, {h.get('cores')} cores, {h.get('torch_threads')} torch threads"
    return PlotData(panels, left_out, list(dict.fromkeys(notes)), corpus, hardware, x_scale, _shown_path(figure))


def _shown_path(path: str | Path) -> str:
    path = Path(path).resolve()
    return "harness/reference/figure.csv" if path == FIGURE else str(path)


def _point(model: str, speed: float, score: float, params_m: float, source: str, x_source: str, label: str,
           hollow: bool = False) -> dict:
    """One row of a panel (`POINT_COLUMNS`)."""
    return {"model": model, "speed": speed, "score": score, "params_m": params_m, "source": source,
            "x_source": x_source, "label": label, "hollow": hollow}


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
        texts.append(ax.annotate(p["label"], (p["speed"], p["score"]), xytext=(r + 3, 0), textcoords="offset points",
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


def _draw_panel(ax, number: int, panel: Panel, colors: dict[str, tuple], xlim: tuple[float, float],
                x_scale: str) -> np.ndarray:
    pts = panel.points.sort_values("params_m", ascending=False)
    area = AREA_PER_MILLION * pts["params_m"].to_numpy()  # points², proportional to parameters
    for (_, p), a in zip(pts.iterrows(), area):
        color = colors[p["model"]]
        ax.scatter([p["speed"]], [p["score"]], s=a, facecolors="none" if p["hollow"] else [color],
                   edgecolors=[color] if p["hollow"] else "black", alpha=1.0 if p["hollow"] else 0.55,
                   linewidths=1.5 if p["hollow"] else 0.6, gid=f"point{number}-{p['model']}")
    ax.set_xscale(x_scale)
    ax.set_xlabel("sentences per second" + (" (log scale)" if x_scale == "log" else ""))
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

    fig, axes = plt.subplots(1, len(data.panels), figsize=(7.5 * len(data.panels), 6.5), dpi=120, squeeze=False)
    models = list(dict.fromkeys(m for p in data.panels for m in p.points["model"]))
    palette = plt.cm.viridis(np.linspace(0.1, 0.9, max(len(models), 1)))
    colors = {m: tuple(palette[i]) for i, m in enumerate(models)}
    speeds = pd.concat([p.points["speed"] for p in data.panels])
    # one x range for all panels (speeds compare across them), with room on the right for the labels
    xlim = (speeds.min() / 2, speeds.max() * 6) if data.x_scale == "log" else (-0.05 * speeds.max(), speeds.max() * 1.45)
    radii = [_draw_panel(ax, i, panel, colors, xlim, data.x_scale)
             for i, (ax, panel) in enumerate(zip(axes[0], data.panels))]
    fig.text(0.01, 0.005, short_caption(data), fontsize=8, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    for ax, panel, r in zip(axes[0], data.panels, radii):
        _place_labels(ax, panel.points.sort_values("params_m", ascending=False), r)
    return fig


def svg_text(fig) -> str:
    """The figure as SVG with its text kept as text (labels a reader and a search can find), the same bytes
    for the same figure."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "harness", "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata=dict.fromkeys(("Date", "Creator", "Format", "Type")))  # no RDF
    return buffer.getvalue()


def render(data: PlotData, out_dir: str | Path) -> list[Path]:
    """Write throughput_vs_score.{png,svg} and its caption; returns the files written."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw(data)
    png, svg = out / "throughput_vs_score.png", out / "throughput_vs_score.svg"
    fig.savefig(png)
    write_text_atomic(svg, svg_text(fig))
    plt.close(fig)
    write_text_atomic(out / "throughput_vs_score.md", caption_text(data) + "\n")
    return [png, svg, out / "throughput_vs_score.md"]


def short_caption(data: PlotData) -> str:
    """The caption drawn under the panels; every point's sources are in the caption file."""
    measured = f"`harness speed` on {data.corpus} ({data.hardware})" if data.corpus else "`harness speed`"
    parts = ["Circle area ∝ parameters."]
    titles = [p.title for p in data.panels]
    if PUBLISHED_PANEL in titles:
        parts.append(f"{PUBLISHED_PANEL}: its own values ({data.figure_source}).")
    if HERE_PANEL in titles:
        parts.append(f"{HERE_PANEL}: x measured here by {measured}, else the published speed (hollow circle); "
                     "y = Avg (MTEB) recomputed by the protocol from the 56 per-task scores (computed here, else "
                     "published), else the published table's or the figure's value (the label says which).")
    parts += [f"{p.title}: {p.y_label}, computed here; x measured here." for p in data.panels
              if p.title not in (PUBLISHED_PANEL, HERE_PANEL)]
    parts.append("Every point's sources: throughput_vs_score.md.")
    if data.left_out:
        parts.append("Left out (see the caption file): " + ", ".join(data.left_out) + ".")
    return " ".join(parts)


def caption_text(data: PlotData) -> str:
    """Where every point's x and y come from, panel by panel, then the notes and the models left out."""
    first = f"Circle area ∝ parameters; x axis {data.x_scale}."
    first += (f" Measured speeds: `harness speed` on {data.corpus} ({data.hardware})." if data.corpus else
              " No speed measured here yet (`harness speed`).")
    parts = [first]
    for panel in data.panels:
        if panel.title == PUBLISHED_PANEL:
            parts.append(f"{panel.title}: x and y as published ({data.figure_source}: speeds read off the published "
                         f"PNG, Avg (MTEB) as its plotting script gives it): {', '.join(panel.points['label'])}.")
            continue
        points = "; ".join(f"{p.model}: x {X_SOURCES[p.x_source]}, y {Y_SOURCES[p.source]}"
                           for p in panel.points.itertuples(index=False))
        hollow = "; hollow: the published speed" if panel.points["hollow"].any() else ""
        parts.append(f"{panel.title} (y = {panel.y_label}{hollow}): {points}.")
    parts += data.notes
    if data.left_out:
        parts.append("Left out: " + "; ".join(f"{m} ({why})" for m, why in data.left_out.items()) + ".")
    return " ".join(parts)
