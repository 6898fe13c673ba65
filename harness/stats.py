"""Paired statistics of two models over the datasets both have, within ONE source.

For scores on the 0–1 scale (reported ×100): the number of shared datasets, the mean difference
A − B, a 95 % percentile-bootstrap confidence interval of that mean (10,000 resamples of the
datasets, `numpy.random.default_rng(0)`, so the same scores give the same interval) and the
two-sided Wilcoxon signed-rank p-value (`scipy.stats.wilcoxon` with its defaults). Where a statistic
is not defined — fewer than two datasets, or every difference zero — it is NaN and `note` says why;
tables print it as N/A.

Computed and published scores are never paired with each other: `compare_models` pairs the two
models inside each source separately.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

RESAMPLES = 10_000
SEED = 0
CONFIDENCE = 0.95
METHOD = (f"95% CI: percentile bootstrap over the shared datasets ({RESAMPLES:,} resamples, seed {SEED}); "
          "p: two-sided Wilcoxon signed-rank test; N/A with fewer than two shared datasets or when every "
          "difference is zero")


@dataclass(frozen=True)
class Paired:
    """Model A against model B over the datasets both have in one source (differences ×100)."""

    n: int
    mean: float
    """Mean of A − B over the shared datasets, ×100 (NaN when none is shared)."""
    low: float
    high: float
    """95 % bootstrap confidence interval of the mean (NaN when n < 2)."""
    p_value: float
    """Wilcoxon signed-rank p-value (NaN when n < 2 or every difference is zero)."""
    datasets: tuple[str, ...] = ()
    note: str = ""
    """Why a statistic is N/A, "" when all are defined."""


def paired(a: pd.Series, b: pd.Series, resamples: int = RESAMPLES, seed: int = SEED) -> Paired:
    """Paired statistics of two score series (dataset -> 0–1 score, NaN = missing) over the datasets
    both have. Both series must come from the same source."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    differences = (both["a"] - both["b"]).to_numpy(dtype=float)
    n = len(differences)
    datasets = tuple(str(d) for d in both.index)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, datasets, "no dataset scored for both")
    mean = 100 * float(differences.mean())
    if n < 2:
        return Paired(n, mean, math.nan, math.nan, math.nan, datasets, "one shared dataset: no interval or test")
    low, high = bootstrap_interval(differences, resamples, seed)
    p_value, note = wilcoxon_p(differences)
    return Paired(n, mean, 100 * low, 100 * high, p_value, datasets, note)


def bootstrap_interval(differences: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `differences` (resampled with replacement)."""
    values = np.asarray(differences, dtype=float)
    means = values[_resample_indices(len(values), resamples, seed)].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@lru_cache(maxsize=128)
def _resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The resampled positions: a fresh `default_rng(seed)` for each n, so every pair of models with n
    shared datasets gets the same draws (and one call costs a gather instead of a draw)."""
    indices = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    indices.setflags(write=False)
    return indices


def wilcoxon_p(differences: np.ndarray) -> tuple[float, str]:
    """The two-sided Wilcoxon signed-rank p-value of `differences`, or NaN and why it is not defined."""
    from scipy.stats import wilcoxon

    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return math.nan, "fewer than two shared datasets: no test"
    if not np.any(values != 0):
        return math.nan, "every difference is zero: no test"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p_value = float(wilcoxon(values).pvalue)
    return p_value, "" if math.isfinite(p_value) else "the test is not defined for these differences"


def compare_models(scores: dict[str, pd.DataFrame], a: str, b: str) -> dict[str, Paired]:
    """Origin -> A against B within that origin's model × dataset scores (`Context.scores`), for every
    origin; n = 0 (with a note) where either model has no scores there."""
    out = {}
    for origin, table in scores.items():
        missing = [m for m in (a, b) if m not in table.index]
        if missing:
            out[origin] = Paired(0, math.nan, math.nan, math.nan, math.nan, (),
                                 f"no scores for {' and '.join(dict.fromkeys(missing))}")
        else:
            out[origin] = paired(table.loc[a], table.loc[b])
    return out


def fmt(value: float, digits: int = 2) -> str:
    """A statistic for a table: N/A for NaN."""
    return "N/A" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_interval(low: float, high: float) -> str:
    """A confidence interval as `[low, high]`, N/A for NaN."""
    return "N/A" if math.isnan(low) or math.isnan(high) else f"[{low:.2f}, {high:.2f}]"


def fmt_p(value: float) -> str:
    """A p-value to 2 significant digits (scientific below 0.001), N/A for NaN."""
    if value is None or math.isnan(value):
        return "N/A"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"
