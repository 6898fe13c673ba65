"""Seed spread of the PEARL probe: how much of each model's Pearl column the probe's seed alone moves."""

from __future__ import annotations

import math

import pandas as pd

from harness.tables import Context, Table, markdown

ORDER = 55


def build(ctx: Context) -> Table | None:
    long = ctx.long[(ctx.long["origin"] == "computed") & (ctx.long["seed_runs"] > 1)]
    if not len(long):
        return None
    pearl = [d.name for d in ctx.datasets if "Pearl" in d.columns]
    rows = []
    order = {m: i for i, m in enumerate(ctx.models)}
    for model, group in sorted(long.groupby("model", sort=False), key=lambda mg: (order.get(mg[0], len(order)), mg[0])):
        stds = dict(zip(group["dataset"], 100 * group["seed_std"]))
        combined = math.sqrt(sum(v ** 2 for v in stds.values()))
        rows.append({"Model": model, **{f"{d} sd": v for d, v in stds.items()},
                     "runs": int(group["seed_runs"].max()), f"Pearl ± (over {len(pearl)})": combined / len(pearl)})
    table = pd.DataFrame(rows).set_index("Model")
    text = ["The probe of ppdb and ppdb_filtered is trained with the protocol's seed (its score is the one in the "
            "tables) and again with further seeds on the same split; `sd` is the standard deviation over those runs "
            f"(×100). The Pearl column averages {len(pearl)} datasets, so the seed alone moves it by about "
            "sqrt(sd_ppdb² + sd_ppdb_filtered²) / " + f"{len(pearl)} (one standard deviation): differences in Pearl "
            "smaller than that are probe noise.", "", markdown(table)]
    return Table("Probe seed spread", "\n".join(text), {"probe_spread.csv": table.reset_index().to_csv(
        index=False, float_format="%.4f")})
