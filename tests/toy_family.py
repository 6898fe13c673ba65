"""A task family that lives outside the package: one file, found through HARNESS_PLUGINS.

Toy: four word pairs with known similarity, scored like WordSim (Spearman of cosine vs gold)."""

from __future__ import annotations

from scipy.stats import spearmanr

from harness.data import DataSource
from harness.tasks import TaskFamily, TaskOutcome, TaskSpec
from harness.tasks.wordsim import cosine_rows

PAIRS = [("cat", "dog", 7.0), ("cat", "car", 2.0), ("king", "queen", 8.0), ("king", "carrot", 0.5),
         ("sun", "moon", 6.0)]


class ToyTask:
    spec = TaskSpec(name="ToyPairs", benchmark="Toy", group="Toy", main_score="cosine_spearman",
                    description="five word pairs shipped in tests/toy_family.py")

    def missing_data(self, mirrors) -> str | None:
        return None

    def evaluate(self, encoder, mirrors) -> TaskOutcome:
        a = encoder.encode([p[0] for p in PAIRS])
        b = encoder.encode([p[1] for p in PAIRS])
        rho = float(spearmanr(cosine_rows(a, b), [p[2] for p in PAIRS]).statistic)
        entry = {"hf_subset": "default", "languages": ["eng-Latn"], "main_score": rho, "cosine_spearman": rho}
        return TaskOutcome({"test": [entry]}, "inline", DataSource("inline", __name__))


FAMILY = TaskFamily(name="Toy", tasks=lambda: [ToyTask()], order=90)
