"""`harness plot`: throughput versus score, one labelled circle per model, from result files only.

x = sentences per second (log axis, from `throughput.json`), y = Avg (MTEB) ×100, circle area ∝
parameter count. A model without a measured speed or without a complete Avg (MTEB) is left out and
named in the caption (never given another model's numbers). When no plotted model has a complete
Avg (MTEB) — as offline, where only part of MTEB is available — y falls back to the mean over the
MTEB datasets that every plotted model has, and the axis label says how many.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.registry import Registry
from harness.results import write_text_atomic
from harness.speed import THROUGHPUT_FILE
from harness.summary import aggregate, collect, dataset_scores, order_models, partial_table, protocol_datasets


AREA_PER_MILLION = 30.0
"""Circle area in points² per million parameters."""


@dataclass
class PlotData:
    points: pd.DataFrame  # model, speed, score, params_m
    y_label: str
    left_out: dict[str, str] = field(default_factory=dict)
    corpus: str = ""
    hardware: str = ""


def _throughputs(results_dir: Path, registry: Registry) -> dict[str, dict]:
    """Measured speeds by model; where a model has several revision folders, the registry's wins."""
    by_id = {s.id: s for s in registry}

    def spec_of(path: Path):
        return by_id.get(path.parent.parent.name.replace("__", "/", 1))

    def order(path: Path):  # the registry revision last, so that it overwrites the others
        spec = spec_of(path)
        return (path.parent.parent.name, spec is not None and path.parent.name == spec.revision, path.parent.name)

    found = {}
    for path in sorted(results_dir.glob(f"*/*/{THROUGHPUT_FILE}"), key=order):
        spec = spec_of(path)
        found[spec.name if spec else path.parent.parent.name.replace("__", "/", 1)] = json.loads(
            path.read_text(encoding="utf-8"))
    return found


def plot_data(results_dir: str | Path, registry: Registry, catalogue) -> PlotData:
    """Speeds, scores and sizes of the plottable models, and why the others are left out."""
    results_dir = Path(results_dir)
    datasets = protocol_datasets(catalogue)
    scores = dataset_scores(collect(results_dir, datasets, registry, errors=[]), datasets)
    speeds = _throughputs(results_dir, registry)
    models = order_models(set(scores.index) | set(speeds), registry)
    specs = {s.name: s for s in registry}
    left_out = {}
    for m in models:
        if m not in speeds:
            left_out[m] = "no measured speed (run `harness speed`)"
        elif m not in scores.index:
            left_out[m] = "no MTEB results"
    candidates = [m for m in models if m not in left_out]
    mteb = [d for d in datasets if d.benchmark == "MTEB"]
    full = aggregate(scores.loc[candidates], datasets)["Avg (MTEB)"] if candidates else pd.Series(dtype=float)
    if full.notna().any():
        for m in candidates:
            if math.isnan(full[m]):
                left_out[m] = "Avg (MTEB) is N/A (some MTEB dataset missing)"
        y, label = full.dropna(), "Avg (MTEB)"
    elif candidates:
        partial, counts = partial_table(scores.loc[candidates, [d.name for d in mteb]], mteb)
        n = counts["Avg (MTEB)"]
        y = partial["Avg (MTEB)"].dropna()
        for m in candidates:
            if m not in y.index:
                left_out[m] = "no MTEB dataset shared with the other models"
        label = f"mean over the {n} MTEB datasets all plotted models share (not Avg (MTEB))"
    else:
        y, label = pd.Series(dtype=float), "Avg (MTEB)"
    rows = []
    for m in y.index:
        record = speeds[m]
        params = specs[m].params_m if m in specs else (record["model"].get("n_parameters") or 0) / 1e6
        rows.append({"model": m, "speed": record["sentences_per_second"], "speed_min": record["min"],
                     "speed_max": record["max"], "score": 100 * y[m], "params_m": params})
    corpus = hardware = ""
    if rows:
        first = speeds[rows[0]["model"]]
        c, h = first["corpus"], first["hardware"]
        corpus = f"{c['name']} ({c['count']} texts, mean {c['mean_words']:.0f} words)"
        hardware = f"{h['cpu']}, {h['cores']} cores, {h['torch_threads']} torch threads"
    return PlotData(pd.DataFrame(rows, columns=["model", "speed", "speed_min", "speed_max", "score", "params_m"]),
                    label, left_out, corpus, hardware)


def _place_labels(ax, points: pd.DataFrame, radii_pt: np.ndarray) -> None:
    """Labels beside their circles, nudged vertically until no two label boxes overlap."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = []
    for (_, p), r in zip(points.iterrows(), radii_pt):
        texts.append(ax.annotate(p["model"], (p["speed"], p["score"]), xytext=(r + 3, 0), textcoords="offset points",
                                 va="center", fontsize=9))
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


def draw(data: PlotData):
    """The figure: circles, labels placed without overlap, axes and caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = data.points.sort_values("params_m", ascending=False)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=150)
    area = AREA_PER_MILLION * pts["params_m"].to_numpy()  # points², proportional to parameters
    colors = plt.cm.viridis(np.linspace(0.15, 0.85, max(len(pts), 1)))
    ax.scatter(pts["speed"], pts["score"], s=area, c=colors[: len(pts)], alpha=0.55, edgecolors="black", linewidths=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("sentences per second (log scale, median of timed passes)")
    ax.set_ylabel(data.y_label if len(data.y_label) < 40 else data.y_label.replace(" (", "\n(", 1))
    ax.grid(True, which="both", alpha=0.25)
    if len(pts):
        lo, hi = pts["speed"].min(), pts["speed"].max()
        ax.set_xlim(lo / 2, hi * 4)
        pad = max(1.0, (pts["score"].max() - pts["score"].min()) * 0.25)
        ax.set_ylim(pts["score"].min() - pad, pts["score"].max() + pad)
        best_speed, best_score = pts.loc[pts["speed"].idxmax(), "model"], pts.loc[pts["score"].idxmax(), "model"]
        ax.set_title(f"Fastest: {best_speed}   ·   highest score: {best_score}", fontsize=11)
    caption = caption_text(data)
    fig.text(0.01, 0.005, caption, fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    if len(pts):
        _place_labels(ax, pts, np.sqrt(area) / 2)
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
    parts = [f"Throughput on {data.corpus or 'no corpus'} ({data.hardware or 'unknown hardware'}); "
             f"y: {data.y_label}; circle area ∝ parameters."]
    if data.left_out:
        parts.append("Left out: " + "; ".join(f"{m} ({why})" for m, why in data.left_out.items()) + ".")
    return " ".join(parts)
