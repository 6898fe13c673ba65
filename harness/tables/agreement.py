"""Per-task agreement: every (model, task) scored both here and in the published per-task results."""

from __future__ import annotations

from harness.summary import agreement
from harness.tables import Context, Table, markdown

ORDER = 30
CLOSE = 0.01


def build(ctx: Context) -> Table | None:
    table = agreement(ctx.long)
    if not len(table):
        return Table("Per-task agreement with published results",
                     "No task has both a computed and a published score.\n", {"agreement.csv": table.to_csv(index=False)})
    text = ["Each task a model was evaluated on here that also has a published per-task score (×100); `!` marks "
            "|difference| > 0.05. This is the check that the harness, its data and the model reproduce the "
            "published numbers.", ""]
    for model, group in table.groupby("model", sort=False):
        close = (group["difference"].abs() <= CLOSE).sum()
        text.append(f"- **{model}: {close} of {len(group)} within {CLOSE}** "
                    f"(largest |difference| {group['difference'].abs().max():.4f}, on "
                    f"{group.loc[group['difference'].abs().idxmax(), 'task']})")
    shown = table[["model", "task", "group", "computed", "published", "difference", "flag"]].copy()
    shown["difference"] = shown["difference"].map(lambda d: f"{d:+.4f}")
    for column in ("computed", "published"):
        shown[column] = shown[column].map(lambda v: f"{v:.4f}")
    text += ["", markdown(shown.set_index("model"))]
    return Table("Per-task agreement with published results", "\n".join(text),
                 {"agreement.csv": table.to_csv(index=False, float_format="%.6f")})
